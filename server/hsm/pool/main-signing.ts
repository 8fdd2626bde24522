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
import type { HsmTarget } from "../pkcs11/pkcs11";
import { AsyncSigner } from "./async-signer";
import type { HsmOperation } from "./operations";

type SignRequest = Extract<HsmOperation, { op: "sign" }>;
type Pending = { abandon: (why: string) => void };

/** Lost sessions are reopened at most this often: a lost login is healed by a thread, never from here. */
const REFILL_EVERY_MS = 100;

export class MainThreadSigning {
  private readonly signer: AsyncSigner;
  /** Calls accepted and not answered yet. */
  private readonly pending = new Set<Pending>();
  private idle: (() => void)[] = [];
  private lastRefill = 0;

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
   * Signs, or resolves "elsewhere" when these sessions hold no checked handle for the key (nothing reached
   * C_Sign). Rejects with the HSM's error; with `busy` when no session was free within `timeoutMs` (nothing
   * reached the HSM); with `timeout` (maybe-done) when C_Sign had started and not answered in time.
   */
  sign(request: SignRequest, timeoutMs: number): Promise<Buffer | "elsewhere"> {
    this.refillNow();
    const { tokenLabel } = this;
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (finish: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.pending.delete(call);
        finish();
        if (this.pending.size === 0) for (const wake of this.idle.splice(0)) wake();
      };
      const unstarted = (why: string) =>
        new HsmError(
          "busy",
          `HSM token '${tokenLabel}' ${why} for sign; nothing reached the HSM. Retry a moment later or on another HSM.`,
          {
            operation: "sign",
          },
        );
      const call: Pending = {
        abandon: (why) => {
          if (withdraw()) settle(() => reject(unstarted("was closed before a session was free")));
          else
            settle(() =>
              reject(
                new HsmError(
                  "outcome-unknown",
                  `The signature on token '${tokenLabel}' had not answered when ${why}; treat it as maybe-done.`,
                  { operation: "sign" },
                ),
              ),
            );
        },
      };
      const timer = setTimeout(() => {
        if (withdraw()) settle(() => reject(unstarted(`had no free session within ${timeoutMs} ms`)));
        else settle(() => reject(hsmError("timeout", { operation: "sign", tokenLabel, timeoutMs })));
      }, timeoutMs);
      this.pending.add(call);
      const withdraw = this.signer.sign(request, (outcome) => {
        if (outcome.ok === true) settle(() => resolve(outcome.value));
        else if (outcome.ok === "elsewhere") settle(() => resolve("elsewhere"));
        else settle(() => reject(outcome.error));
      });
    });
  }

  /** Reopens lost sessions (public ones, kept only if the token's user login covers them: no PIN). */
  private refillNow(): void {
    if (this.signer.missing === 0) return;
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
    for (const call of [...this.pending]) call.abandon(why);
    this.signer.close();
    const until = performance.now() + graceMs;
    while (this.signer.running > 0 && performance.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}
