// One token of a token set: its executor, made on demand by the factory and replaced after the token fails,
// and its health, updated from the outcome of every call. It must never let a call run past its deadline
// unanswered, nor let a retired executor's late answers change the token's health.
import "server-only";
import type { Clock } from "../../clock";
import { HsmError, hsmError, toHsmError } from "../pkcs11/errors";
import type { HsmExecutor, HsmOperation, HsmResultOf } from "../pool/operations";
import type { HsmConfig } from "../pkcs11/pkcs11";
import {
  afterFailure,
  afterSuccess,
  classify,
  type HealthPolicy,
  INITIAL_HEALTH,
  isDue,
  isTokenFault,
  type TokenHealth,
} from "./token-health";

/**
 * Makes the executor for one token: `new DirectExecutor(config)` in tests, the worker pool in the server.
 * Called again, for a fresh executor, when a failed token is probed.
 */
export type ExecutorFactory = (token: HsmConfig) => HsmExecutor | Promise<HsmExecutor>;
export type TokenRole = "primary" | "replica";
export type MemberDeps = { makeExecutor: ExecutorFactory; clock: Clock; policy: HealthPolicy };

/** Settles with `work`, or rejects with a "timeout" once `timeoutMs` has passed without an answer. */
function withDeadline<T>(
  work: Promise<T>,
  timeoutMs: number | undefined,
  timedOut: () => HsmError,
): Promise<T> {
  if (timeoutMs === undefined) return work;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timedOut()), timeoutMs);
  });
  // race() subscribes to `work`, so an answer arriving after the deadline is dropped, never unhandled.
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

export class TokenMember {
  health: TokenHealth = INITIAL_HEALTH;
  /**
   * Counts recorded faults. A call remembers it when it starts, and its success counts only if no fault
   * was recorded meanwhile: with calls in flight together, a success that began before a fault is old news
   * and must not wipe that fault out.
   */
  private faults = 0;
  private executor: Promise<HsmExecutor> | undefined;
  private probing: Promise<void> | undefined;
  private closed = false;

  constructor(
    readonly config: HsmConfig,
    readonly role: TokenRole,
    private readonly deps: MemberDeps,
  ) {}

  get label(): string {
    return this.config.tokenLabel;
  }

  /**
   * Runs one operation on this token and records what the outcome says about the token. Every error comes
   * back as an HsmError. `timeoutMs` goes to the executor and also bounds the wait here, so an executor
   * that never answers still cannot hold a request.
   */
  async call<O extends HsmOperation>(request: O, timeoutMs?: number): Promise<HsmResultOf<O>> {
    if (this.closed) {
      // After shutdown began: making a new executor here would start threads nobody will close.
      throw new HsmError(
        "busy",
        `Token '${this.label}' is closed (the server is shutting down); ${request.op} did not reach the HSM. Retry after the restart.`,
        { operation: request.op },
      );
    }
    this.executor ??= Promise.resolve().then(() => this.deps.makeExecutor(this.config));
    const current = this.executor;
    const faultsBefore = this.faults;
    try {
      const executor = await current.catch((e: unknown) => {
        this.failed(current, this.asError(e, "open"), faultsBefore);
        // An executor that could not be made (a pool that could not log in, say) is not kept: the next
        // call or probe asks the factory again. Concurrent calls share the one failure recorded above.
        if (this.executor === current) this.executor = undefined;
        throw e;
      });
      const work = executor.execute(request, timeoutMs === undefined ? undefined : { timeoutMs });
      const result = await withDeadline(work, timeoutMs, () =>
        hsmError("timeout", { operation: request.op, tokenLabel: this.label, timeoutMs }),
      );
      this.answered(current, faultsBefore);
      return result;
    } catch (e) {
      const error = this.asError(e, request.op);
      this.failed(current, error, faultsBefore);
      throw error;
    }
  }

  /**
   * Probes a failed token whose back-off has run out, on a fresh executor: opening it logs in, which is
   * what a changed PIN, a lost token or a missing library break. Resolves when the probe is over; the
   * outcome is in `health`. Concurrent callers share one probe.
   */
  probe(): Promise<void> {
    if (this.probing !== undefined) return this.probing;
    if (!isDue(this.health, this.deps.clock())) return Promise.resolve();
    this.probing = this.call({ op: "mechanisms" })
      .then(
        () => undefined,
        () => undefined, // recorded in health by call()
      )
      .finally(() => {
        this.probing = undefined;
      });
    return this.probing;
  }

  /** Closes the executor for good (the token set is shutting down). */
  async close(): Promise<void> {
    this.closed = true;
    const current = this.executor;
    this.executor = undefined;
    await current?.then((executor) => executor.close()).catch(() => undefined);
  }

  private asError(e: unknown, operation: string): HsmError {
    return toHsmError(e, { operation, tokenLabel: this.label, library: this.config.library });
  }

  private answered(from: Promise<HsmExecutor>, faultsBefore: number): void {
    if (from === this.executor && faultsBefore === this.faults) {
      this.health = afterSuccess(this.health, this.deps.clock());
    }
  }

  private failed(from: Promise<HsmExecutor>, error: HsmError, faultsBefore: number): void {
    const cls = classify(error);
    // "No such key" and a refused request are answers: the token itself is fine.
    if (cls === "not-here" || cls === "request") {
      this.answered(from, faultsBefore);
      return;
    }
    // "busy" says nothing about the token; a retired executor's late failure is about the past.
    if (!isTokenFault(cls) || from !== this.executor) return;
    this.record(error, cls);
  }

  private record(error: Pick<HsmError, "reason" | "kind" | "message">, cls: "token-down" | "token-flaky"): void {
    const now = this.deps.clock();
    const failure = { reason: error.reason, kind: error.kind, message: error.message, at: now };
    this.faults += 1;
    this.health = afterFailure(this.health, failure, cls, now, this.deps.policy);
    if (this.health.state === "failed") this.retire();
  }

  /**
   * Drops the executor of a failed token: its sessions may be dead, and a pool would keep its threads
   * busy with a sick token. Calls still in flight on it settle on their own; the probe makes a new one.
   */
  private retire(): void {
    const old = this.executor;
    this.executor = undefined;
    void old?.then((executor) => executor.close()).catch(() => undefined);
  }
}
