// Signing started from the main thread (HsmPool option `signFrom: "main"`): the pool keeps `inFlight` sessions
// on the calling thread and signs on them with pkcs11js's asynchronous C_Sign, which runs the call on libuv's
// thread pool, so the event loop is not blocked by the signature itself. Only C_SignInit, the check of the
// index's handle for a key this session has not used (one C_GetAttributeValue) and low-S run on the main
// thread: microseconds on SoftHSM. Compared with signing inside worker threads, a signature costs no
// postMessage round trip and no structured clone (measured: bench/README.md "Calls in flight"). The sessions
// never search (a search among 10,000 keys takes ~350 ms): a key they have no checked handle for goes to the
// pool's threads. Every call is answered exactly once: a signature, an HsmError, or "elsewhere".
import "server-only";
import { HsmError, hsmError } from "../pkcs11/errors";
import type { CachedKey, HsmTarget } from "../pkcs11/pkcs11";
import { AsyncSigner, type SignJob, type SignOutcome } from "./async-signer";

/** Lost sessions are reopened at most this often: a lost login is healed by a thread, never from here. */
const REFILL_EVERY_MS = 100;
/**
 * Deadlines are checked this often while calls are pending, by one timer for all of them, instead of a
 * timer per signature: a call is answered at most this much after its deadline.
 */
const SWEEP_EVERY_MS = 5;

type Settle = { resolve: (value: Buffer | Promise<Buffer>) => void; reject: (error: unknown) => void };

/** What the pool does for a call these sessions cannot sign, and when the token says a key is gone. */
export type MainSigningHooks = {
  /** Signs on a thread (which may search); `leftMs`: what remains of the call's deadline. */
  elsewhere: (ref: string, data: Uint8Array, hint: CachedKey | undefined, leftMs: number) => Promise<Buffer>;
  keyMissing: (ref: string) => void;
};

/**
 * One accepted signature: the job the signer runs and the caller's promise. A class with methods, and its
 * deadline checked by the shared sweep: no closure or timer per signature, whose cost here is the event
 * loop's (on P-256 this thread is the bottleneck, bench/README.md).
 */
class SignCall implements SignJob {
  settled = false;
  readonly startedAt = performance.now();
  readonly deadline: number;

  constructor(
    readonly owner: MainThreadSigning,
    readonly ref: string,
    readonly data: Uint8Array,
    readonly hint: CachedKey | undefined,
    readonly timeoutMs: number,
    readonly settle: Settle,
  ) {
    this.deadline = this.startedAt + timeoutMs;
  }

  answered(outcome: SignOutcome): void {
    if (outcome.ok === true) this.owner.finish(this, outcome.value);
    else if (outcome.ok === "elsewhere") this.owner.elsewhere(this);
    else this.owner.fail(this, outcome.error);
  }
}

export class MainThreadSigning {
  private readonly signer: AsyncSigner;
  /** Calls accepted and not answered yet. */
  private readonly pending = new Set<SignCall>();
  private idle: (() => void)[] = [];
  private lastRefill = 0;
  private sweeper: NodeJS.Timeout | undefined;

  /**
   * Opens `sessions` user sessions on this thread. Call it only after the pool's threads have logged in
   * (C_Initialize and C_Login in several threads at once gave CKR_GENERAL_ERROR here): the login is per
   * token, so these sessions find it done, and no PIN is tried here again after the start.
   */
  constructor(
    target: HsmTarget,
    pin: string,
    sessions: number,
    private readonly tokenLabel: string,
    private readonly hooks: MainSigningHooks,
  ) {
    this.signer = new AsyncSigner({ target, pin }, sessions, { searches: false });
  }

  /** Sessions to sign on; 0 once every one was lost (the pool's threads then sign). */
  get capacity(): number {
    return this.signer.capacity;
  }

  /** Calls waiting for a free session. */
  get queued(): number {
    return this.signer.queued;
  }

  /** Calls whose C_Sign is running. */
  get running(): number {
    return this.signer.running;
  }

  /**
   * Signs; a key these sessions hold no checked handle for (nothing reached C_Sign) is signed through
   * `hooks.elsewhere` instead. Rejects with the HSM's error; with `busy` when no session was free within
   * `timeoutMs` (nothing reached the HSM); with `timeout` (maybe-done) when C_Sign had started and not
   * answered in time. `hint`: the pool's handle index entry for the key, checked once per session before use.
   */
  sign(ref: string, data: Uint8Array, hint: CachedKey | undefined, timeoutMs: number): Promise<Buffer> {
    if (this.signer.missing > 0) this.refill();
    return new Promise((resolve, reject) => {
      const call = new SignCall(this, ref, data, hint, timeoutMs, { resolve, reject });
      this.pending.add(call);
      if (this.sweeper === undefined) {
        this.sweeper = setInterval(() => this.sweep(), SWEEP_EVERY_MS);
        this.sweeper.unref();
      }
      this.signer.sign(call);
    });
  }

  finish(call: SignCall, value: Buffer): void {
    if (this.settled(call)) call.settle.resolve(value);
  }

  fail(call: SignCall, error: HsmError): void {
    if (!this.settled(call)) return;
    // The key is gone from the token (destroyed through another process): so is its index entry.
    if (error.reason === "key-missing") this.hooks.keyMissing(call.ref);
    call.settle.reject(error);
  }

  /** No checked handle here: a thread signs it, within what is left of the deadline. */
  elsewhere(call: SignCall): void {
    if (!this.settled(call)) return;
    const left = Math.max(1, call.timeoutMs - (performance.now() - call.startedAt));
    call.settle.resolve(this.hooks.elsewhere(call.ref, call.data, call.hint, left));
  }

  /** Answers every call whose deadline has passed; stops once nothing is pending. */
  private sweep(): void {
    const now = performance.now();
    for (const call of this.pending) if (call.deadline <= now) this.expire(call);
    if (this.pending.size === 0) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  /** The deadline passed: still waiting, nothing reached the HSM (busy); started, maybe-done (timeout). */
  private expire(call: SignCall): void {
    const { tokenLabel } = this;
    const { timeoutMs } = call;
    if (this.signer.withdraw(call))
      this.fail(call, this.unstarted(`had no free session within ${timeoutMs} ms`));
    else this.fail(call, hsmError("timeout", { operation: "sign", tokenLabel, timeoutMs }));
  }

  /** True the first time only: every call is answered exactly once. */
  private settled(call: SignCall): boolean {
    if (call.settled) return false;
    call.settled = true;
    this.pending.delete(call);
    if (this.pending.size === 0 && this.idle.length > 0) for (const wake of this.idle.splice(0)) wake();
    return true;
  }

  private unstarted(why: string): HsmError {
    return new HsmError(
      "busy",
      `HSM token '${this.tokenLabel}' ${why} for sign; nothing reached the HSM. Retry a moment later or on another HSM.`,
      { operation: "sign" },
    );
  }

  /** Reopens lost sessions (public ones, kept only if the token's user login covers them: no PIN). */
  private refill(): void {
    const now = performance.now();
    if (now - this.lastRefill < REFILL_EVERY_MS) return;
    this.lastRefill = now;
    this.signer.refill();
  }

  /** A destroyed or forgotten key: no session here uses its handle again. */
  forget(ref: string): void {
    this.signer.forget(ref);
  }

  /** Resolves once no call is waiting or running. */
  drained(): Promise<void> {
    if (this.pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /**
   * Answers what is left (waiting: busy; running: outcome-unknown) and closes the sessions; one still inside
   * C_Sign is closed when the call returns, which this waits for up to `graceMs` (so that closeHsm, after
   * the pools, does not finalise the library under a running call unless the HSM hangs).
   */
  async close(why: string, graceMs: number): Promise<void> {
    for (const call of [...this.pending]) {
      if (this.signer.withdraw(call)) this.fail(call, this.unstarted("was closed before a session was free"));
      else
        this.fail(
          call,
          new HsmError(
            "outcome-unknown",
            `The signature on token '${this.tokenLabel}' had not answered when ${why}; treat it as maybe-done.`,
            { operation: "sign" },
          ),
        );
    }
    this.signer.close();
    const until = performance.now() + graceMs;
    while (this.signer.running > 0 && performance.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}
