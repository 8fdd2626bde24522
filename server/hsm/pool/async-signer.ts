// Signatures in flight without a thread each: a pool thread keeps several sessions for signing and runs
// C_Sign in pkcs11js's asynchronous (callback) form, which runs the call on libuv's thread pool while the
// thread takes the next job. So the calls in flight are set apart from the number of threads: what a
// network HSM (25–30 ms a call) needs for throughput. C_SignInit, the checks and low-S stay synchronous
// (microseconds). It must answer every job exactly once, and never use one session for two calls at once.
import "server-only";
import { beginSign } from "../keys/keys";
import { HsmError, toHsmError } from "../pkcs11/errors";
import {
  type CachedKey,
  type OpenSession,
  openPublicSession,
  openSession,
  openToken,
  type Session,
} from "../pkcs11/pkcs11";
import type { HsmOperation } from "./operations";
import type { PoolWorkerData } from "./pool-protocol";

type SignRequest = Extract<HsmOperation, { op: "sign" }>;
/** `learned`: a handle this call found by a search (no usable hint), for the pool's index. */
export type SignOutcome =
  | { ok: true; value: Buffer; learned?: { ref: string; key: CachedKey } }
  | { ok: false; error: HsmError };
type Waiting = { request: SignRequest; answer: (outcome: SignOutcome) => void };

export class AsyncSigner {
  private readonly open: OpenSession[] = [];
  private readonly free: Session[] = [];
  private readonly waiting: Waiting[] = [];

  /** Opens `count` extra user sessions on the thread's token (the login is the thread's, shared per token). */
  constructor(
    private readonly data: PoolWorkerData,
    private readonly count: number,
  ) {
    for (let i = 0; i < count; i++) this.add();
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
    if (login) {
      const opened = openSession(token, { write: false, pin: this.data.pin });
      this.open.push(opened);
      this.free.push(opened.session);
      return;
    }
    const opened = openPublicSession(token);
    // CKS_RO_USER_FUNCTIONS (1): the token's user login covers it. Anything else: no PIN is tried here.
    if (opened.session.run("C_GetSessionInfo", (m, h) => m.C_GetSessionInfo(h)).state !== 1) {
      opened.close();
      throw new HsmError("session-lost", "The user is not logged in on this token.", { operation: "C_OpenSession" });
    }
    this.open.push(opened);
    this.free.push(opened.session);
  }

  /** Sessions this signer can sign on at once; 0 after all of them were lost (the thread then signs itself). */
  get capacity(): number {
    return this.open.length;
  }

  /** Starts a signature now if a session is free, else when one is; `answer` is called exactly once. */
  sign(request: SignRequest, answer: Waiting["answer"]): void {
    const session = this.free.pop();
    if (session === undefined) {
      this.waiting.push({ request, answer });
      return;
    }
    this.run(session, { request, answer });
  }

  private run(session: Session, job: Waiting): void {
    const { ref, data, hint } = job.request;
    const before = session.keys.get(ref);
    let begun: ReturnType<typeof beginSign>;
    try {
      begun = beginSign(session, ref, data, hint);
    } catch (e) {
      this.release(session, e);
      job.answer({ ok: false, error: toHsmError(e, { operation: "sign" }) });
      return;
    }
    try {
      session.token.module.C_Sign(session.handle, begun.input, begun.output, (error, signature) => {
        if (error) {
          const e = toHsmError(error, { operation: "C_Sign", tokenLabel: this.data.target.tokenLabel, key: ref });
          this.release(session, e);
          job.answer({ ok: false, error: e });
          return;
        }
        this.release(session);
        const searched = begun.key !== before && (hint === undefined || !begun.key.handle.equals(hint.handle));
        try {
          const value = begun.finish(signature);
          job.answer(searched ? { ok: true, value, learned: { ref, key: begun.key } } : { ok: true, value });
        } catch (e) {
          job.answer({ ok: false, error: toHsmError(e, { operation: "sign" }) });
        }
      });
    } catch (e) {
      // Refused before it was queued (bad arguments): the operation begun by C_SignInit is still active.
      const error = toHsmError(e, { operation: "C_Sign", tokenLabel: this.data.target.tokenLabel, key: ref });
      this.drop(session);
      job.answer({ ok: false, error });
      this.next();
    }
  }

  /** A session back in use; a stale one (lost login, closed by the token) is dropped (see refill). */
  private release(session: Session, error?: unknown): void {
    if (error instanceof HsmError && error.kind === "stale-session") {
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
        job.answer({
          ok: false,
          error: new HsmError("session-lost", "Every signing session of this HSM worker was lost.", { operation: "sign" }),
        });
      }
    }
  }

  /** Another thread destroyed the key: no session here may use its cached handle again. */
  forget(ref: string): void {
    for (const { session } of this.open) session.keys.delete(ref);
  }

  close(): void {
    for (const o of this.open.splice(0)) o.close();
    this.free.length = 0;
  }
}
