// Signatures in flight without a thread each: a pool thread keeps several sessions for signing and runs
// C_Sign in pkcs11js's asynchronous (callback) form, which runs the call on libuv's thread pool while the
// thread takes the next job. So the calls in flight are set apart from the number of threads: what a
// network HSM (25–30 ms a call) needs for throughput. C_SignInit, the checks and low-S stay synchronous
// (microseconds). It must answer every job exactly once, and never use one session for two calls at once.
// The pool's main-thread signing (pool/main-signing.ts) runs the same signer on the main thread, with
// sessions that refuse to search (a search among 10,000 keys takes ~350 ms and would block the event loop).
import "server-only";
import { beginSign } from "../keys/keys";
import { HsmError, toHsmError } from "../pkcs11/errors";
import {
  type CachedKey,
  type Handle,
  type OpenSession,
  openPublicSession,
  openSession,
  openToken,
  Session,
  type Template,
} from "../pkcs11/pkcs11";
import type { HsmOperation } from "./operations";
import type { PoolWorkerData } from "./pool-protocol";

type SignRequest = Extract<HsmOperation, { op: "sign" }>;
/**
 * `learned`: a handle this call found by a search (no usable hint), for the pool's index. `elsewhere`: a
 * signer that may not search (`searches: false`) has no checked handle for the key; nothing reached C_Sign,
 * and the call is for a thread that may search.
 */
export type SignOutcome =
  | { ok: true; value: Buffer; learned?: { ref: string; key: CachedKey } }
  | { ok: false; error: HsmError }
  | { ok: "elsewhere" };
/**
 * One signature for the signer: the key, the data, the pool's handle index entry for the key (checked before
 * use), and where its outcome goes, exactly once. An object rather than callbacks: on the main thread a
 * signature's bookkeeping is a share of the event loop's time (pool/main-signing.ts).
 */
export interface SignJob {
  readonly ref: string;
  readonly data: Uint8Array;
  readonly hint: CachedKey | undefined;
  answered(outcome: SignOutcome): void;
}

/** A job from a thread's sign request, answered to `answer`. */
export function signJob(request: SignRequest, answer: (outcome: SignOutcome) => void): SignJob {
  return { ref: request.ref, data: request.data, hint: request.hint, answered: answer };
}

export type AsyncSignerOptions = {
  /** false: never search the token for a key (see NoSearchSession); such a call answers `elsewhere`. */
  searches?: boolean;
};

/** Thrown by a NoSearchSession where a search would start; never leaves this file. */
class SearchRefused extends Error {}

/**
 * A session that refuses every search: a key it has no checked handle for (neither cached nor adopted from
 * the index's hint, nor found again after a stale handle) makes the call answer `elsewhere` instead of
 * scanning the token on this thread.
 */
class NoSearchSession extends Session {
  override find(_template: Template): Handle[] {
    throw new SearchRefused();
  }
}

export class AsyncSigner {
  private readonly open: OpenSession[] = [];
  private readonly free: Session[] = [];
  private readonly waiting: SignJob[] = [];
  /** Calls whose C_Sign is running (the callback not back yet). */
  private signing = 0;
  private readonly searches: boolean;
  private closed = false;

  /** Opens `count` extra user sessions on the thread's token (the login is the thread's, shared per token). */
  constructor(
    private readonly data: Pick<PoolWorkerData, "target" | "pin">,
    private readonly count: number,
    options: AsyncSignerOptions = {},
  ) {
    this.searches = options.searches ?? true;
    for (let i = 0; i < count; i++) this.add();
  }

  /** Calls waiting for a free session. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Calls whose C_Sign is running. */
  get running(): number {
    return this.signing;
  }

  /** Sessions lost (stale) and not yet replaced. */
  get missing(): number {
    return this.count - this.open.length;
  }

  /**
   * Replaces lost sessions. Call it only once the thread's own session is logged in again: the user login
   * is per token, so these sessions then need no PIN, and a refused PIN is never tried again from here
   * (the thread's session remembers it; a wrong PIN tried over and over locks a token).
   */
  refill(): void {
    try {
      while (this.open.length < this.count) this.add(false);
    } catch {
      // The token takes no new session now: sign with fewer, try again on a later call.
    }
    this.next();
  }

  /** Opens one more session: logged in at start (the thread's login already holds), else only if already a user session. */
  private add(login = true): void {
    const token = openToken(this.data.target);
    const opened = login
      ? openSession(token, { write: false, pin: this.data.pin })
      : openPublicSession(token);
    // CKS_RO_USER_FUNCTIONS (1): the token's user login covers it. Anything else: no PIN is tried here.
    if (!login && opened.session.run("C_GetSessionInfo", (m, h) => m.C_GetSessionInfo(h)).state !== 1) {
      opened.close();
      throw new HsmError("session-lost", "The user is not logged in on this token.", {
        operation: "C_OpenSession",
      });
    }
    const { session } = opened;
    const usable = this.searches ? session : new NoSearchSession(session.token, session.handle, session.role);
    this.open.push({ session: usable, close: opened.close });
    this.free.push(usable);
  }

  /** Sessions this signer can sign on at once; 0 after all of them were lost (the thread then signs itself). */
  get capacity(): number {
    return this.open.length;
  }

  /**
   * Starts a signature now if a session is free, else when one is; `job.answered` is called exactly once,
   * unless `withdraw` takes the job back before it started.
   */
  sign(job: SignJob): void {
    const session = this.closed ? undefined : this.free.pop();
    if (session === undefined) this.waiting.push(job);
    else this.run(session, job);
  }

  /** Takes back a job still waiting for a session: true if it was (it is then never answered). */
  withdraw(job: SignJob): boolean {
    const at = this.waiting.indexOf(job);
    if (at >= 0) this.waiting.splice(at, 1);
    return at >= 0;
  }

  private run(session: Session, job: SignJob): void {
    const { ref, data, hint } = job;
    const before = this.searches ? session.keys.get(ref) : undefined;
    let begun: ReturnType<typeof beginSign>;
    try {
      begun = beginSign(session, ref, data, hint);
    } catch (e) {
      if (e instanceof SearchRefused) {
        // No checked handle here: a stale one is dropped, so that the next hint is checked afresh.
        session.keys.delete(ref);
        this.release(session);
        job.answered({ ok: "elsewhere" });
        return;
      }
      this.release(session, e);
      job.answered({ ok: false, error: toHsmError(e, { operation: "sign" }) });
      return;
    }
    this.signing += 1;
    try {
      // pkcs11js's native call keeps raw pointers to input and output but no reference: `begun`, held by
      // this callback until it runs, keeps both buffers alive meanwhile.
      session.token.module.C_Sign(session.handle, begun.input, begun.output, (error, signature) => {
        this.signing -= 1;
        if (error) {
          const e = toHsmError(error, {
            operation: "C_Sign",
            tokenLabel: this.data.target.tokenLabel,
            key: ref,
          });
          this.release(session, e);
          job.answered({ ok: false, error: e });
          return;
        }
        this.release(session);
        const searched =
          this.searches &&
          begun.key !== before &&
          (hint === undefined || !begun.key.handle.equals(hint.handle));
        try {
          const value = begun.finish(signature);
          job.answered(
            searched ? { ok: true, value, learned: { ref, key: begun.key } } : { ok: true, value },
          );
        } catch (e) {
          job.answered({ ok: false, error: toHsmError(e, { operation: "sign" }) });
        }
      });
    } catch (e) {
      // Refused before it was queued (bad arguments): the operation begun by C_SignInit is still active.
      this.signing -= 1;
      const error = toHsmError(e, { operation: "C_Sign", tokenLabel: this.data.target.tokenLabel, key: ref });
      this.drop(session);
      job.answered({ ok: false, error });
      this.next();
    }
  }

  /** A session back in use; a stale one (lost login, closed by the token) is dropped (see refill). */
  private release(session: Session, error?: unknown): void {
    if (this.closed || (error instanceof HsmError && error.kind === "stale-session")) {
      this.drop(session);
    } else {
      this.free.push(session);
    }
    this.next();
  }

  private drop(session: Session): void {
    const index = this.open.findIndex((o) => o.session === session);
    const [gone] = index >= 0 ? this.open.splice(index, 1) : [];
    gone?.close();
  }

  private next(): void {
    if (this.closed) return;
    for (;;) {
      const job = this.waiting[0];
      const session = job === undefined ? undefined : this.free.pop();
      if (job === undefined || session === undefined) break;
      this.waiting.shift();
      this.run(session, job);
    }
    if (this.open.length === 0) {
      // Every session lost and none reopened: nobody would ever answer these.
      for (const job of this.waiting.splice(0)) {
        job.answered({
          ok: false,
          error: new HsmError("session-lost", "Every signing session of this HSM worker was lost.", {
            operation: "sign",
          }),
        });
      }
    }
  }

  /** Another thread destroyed the key: no session here may use its cached handle again. */
  forget(ref: string): void {
    for (const { session } of this.open) session.keys.delete(ref);
  }

  /**
   * Closes every session not signing now; one still signing is closed when its C_Sign returns (closing a
   * session under a running call is asking the library for trouble). Calls still waiting are answered by
   * whoever queued them (see withdraw).
   */
  close(): void {
    this.closed = true;
    for (const session of this.free.splice(0)) this.drop(session);
  }
}
