// HsmPool: the HsmExecutor the server uses. pkcs11js is synchronous, so every PKCS#11 call runs in a worker
// thread with its own long-lived session, and the event loop only posts messages; signatures too, unless
// they start on the main thread as asynchronous C_Sign (signFrom "main", or "auto" for SoftHSM). It bounds
// what waits (back-pressure: "busy"), bounds how long a call may take ("timeout", then the thread is replaced), and
// never retries a call itself: a call that may have reached the HSM is reported as maybe-done.
import "server-only";
import { availableParallelism } from "node:os";
import { HsmError, hsmError, toHsmError } from "../pkcs11/errors";
import type { HsmExecutor, HsmOperation, HsmResultOf } from "./operations";
import type { HsmConfig, HsmTarget } from "../pkcs11/pkcs11";
import { JobBoard } from "./pool-jobs";
import { MainThreadSigning } from "./main-signing";
import type { CachedKey } from "../pkcs11/pkcs11";
import { fromWireBytes, type PoolWork, toWireRequest, reviveResult } from "./pool-protocol";
import { PoolThread, type ThreadListener, type ThreadStart } from "./pool-thread";
import { chooseSignFrom, isSignFromSetting, type SignFromChoice, type SignFromSetting } from "./sign-from";
import { builtWorker } from "./worker-file";

export type HsmPoolOptions = {
  /** Worker threads, each with one session. Default: the number of CPUs; at least 1. */
  size?: number;
  /**
   * Signatures in flight at once over the whole pool, apart from the number of threads. With `signFrom`
   * "threads", each thread keeps ceil(inFlight / size) sessions for asynchronous C_Sign (pool/async-signer.ts)
   * when that is more than one; default `size` (one each, signed synchronously on the thread's own session,
   * as every other call). With "main", the main thread keeps `inFlight` sessions (default `size`). For a
   * network HSM (25–30 ms a call) set it to rate × latency, e.g. 30 for 1,000 signatures/s, and
   * UV_THREADPOOL_SIZE (libuv's pool, which runs the asynchronous calls of the whole process; default 4) at
   * least as high, before Node starts.
   */
  inFlight?: number;
  /**
   * Where signatures are started. "threads": in the worker threads, like every other call, so the main
   * thread never calls PKCS#11. "main": on the main thread, asynchronous C_Sign over `inFlight` sessions
   * of its own (pool/main-signing.ts), no message to a thread per signature: the faster path on a local HSM
   * (bench/README.md), but C_SignInit and a first use's handle check run on the event loop, so not for an HSM
   * whose C_SignInit is a network round trip. Everything else (and a key those sessions have no checked
   * handle for) still runs in the threads. "auto" (default): "main" for a library in IN_PROCESS_LIBRARIES
   * (sign-from.ts) by what it reports of itself to the first thread, "threads" for any other; see `signing`.
   */
  signFrom?: SignFromSetting;
  /** Calls that may wait for a free session before `execute` answers "busy" at once. Default 1024. */
  queueLimit?: number;
  /** Default deadline of a call, from `execute` to its answer. Default 5000 ms. */
  timeoutMs?: number;
  /** Most calls posted to one thread, so it has the next call at hand while the main thread is busy. Default 32. */
  perThread?: number;
  /** Most calls in one message to a thread. Default 16. */
  batchSize?: number;
  /**
   * A thread that holds calls and answers none of them for this long is presumed hung in the HSM, ended and
   * replaced. Default: `timeoutMs`.
   */
  stuckAfterMs?: number;
  /** How long `close` lets accepted calls finish. Default 5000 ms. */
  closeTimeoutMs?: number;
  /** How long one thread may take to open its session. Default 30000 ms. */
  startTimeoutMs?: number;
};

/** `queued` and `inFlight` count the main thread's signatures too; `mainSessions`: its sessions (signFrom "main"). */
export type HsmPoolStats = {
  size: number;
  live: number;
  queued: number;
  inFlight: number;
  replaced: number;
  mainSessions: number;
};

/** A start that failed on the device side is tried again after this; a configuration failure never is. */
const RETRY_START_MS = 1000;

function positive(value: number | undefined, fallback: number, name: string): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v <= 0) {
    throw new HsmError("invalid-request", `${name} must be a positive number; got ${String(value)}.`, {
      operation: "pool",
    });
  }
  return v;
}

export class HsmPool implements HsmExecutor {
  readonly tokenLabel: string;
  readonly size: number;
  private readonly queueLimit: number;
  private readonly closeTimeoutMs: number;
  private readonly startTimeoutMs: number;
  /** Protected (not private) only so that server/hsm/testing's TestPool can observe and aim calls. */
  protected readonly timeoutMs: number;
  protected readonly threads: PoolThread[] = [];
  protected readonly jobs: JobBoard;
  private nextThread = 1;
  private readonly signFrom: SignFromSetting;
  /** What signFrom became, decided when the first thread reports the library; fixed from then on. */
  private choice: SignFromChoice | undefined;
  private readonly inFlight: number;
  /** Sessions each thread keeps for asynchronous signing when signatures start there (see HsmPoolOptions.inFlight). */
  private readonly threadSignSessions: number;
  private main: MainThreadSigning | undefined;
  private replaced = 0;
  /** Starts run one after another: concurrent C_Initialize/C_Login in threads gave CKR_GENERAL_ERROR here. */
  protected starting: Promise<void> = Promise.resolve();
  private pendingStarts = 0;
  private startError: HsmError | undefined;
  private closing: Promise<void> | undefined;

  /** `worker`: the absolute path of the checked, built worker file every thread of this pool runs. */
  protected constructor(
    private readonly config: HsmConfig,
    options: HsmPoolOptions,
    private readonly worker: string,
  ) {
    this.tokenLabel = config.tokenLabel;
    this.size = Math.max(1, Math.floor(positive(options.size, availableParallelism(), "size")));
    this.queueLimit = Math.floor(positive(options.queueLimit, 1024, "queueLimit"));
    this.timeoutMs = positive(options.timeoutMs, 5000, "timeoutMs");
    this.closeTimeoutMs = positive(options.closeTimeoutMs, 5000, "closeTimeoutMs");
    this.startTimeoutMs = positive(options.startTimeoutMs, 30_000, "startTimeoutMs");
    // One call in flight per thread is what a thread's own session gives, without libuv's extra hop: then
    // signatures stay synchronous on it (0 signing sessions), the path measured fastest for that case.
    const inFlight = Math.floor(positive(options.inFlight, this.size, "inFlight"));
    const signFrom: unknown = options.signFrom ?? "auto";
    if (!isSignFromSetting(signFrom)) {
      throw new HsmError(
        "invalid-request",
        `signFrom must be "auto", "threads" or "main"; got ${String(signFrom)}.`,
        {
          operation: "pool",
        },
      );
    }
    this.signFrom = signFrom;
    this.inFlight = inFlight;
    const perThreadInFlight = Math.ceil(inFlight / this.size);
    this.threadSignSessions = perThreadInFlight > 1 ? perThreadInFlight : 0;
    const settings = {
      tokenLabel: this.tokenLabel,
      // By default a thread is posted at least twice what it can sign at once, so its sessions never wait.
      perThread: Math.floor(positive(options.perThread, Math.max(32, 2 * this.signSessions), "perThread")),
      batchSize: Math.floor(positive(options.batchSize, 16, "batchSize")),
      stuckAfterMs: positive(options.stuckAfterMs, this.timeoutMs, "stuckAfterMs"),
    };
    this.jobs = new JobBoard(
      settings,
      () => this.threads,
      (key) => this.index.set(key.ref, { handle: fromWireBytes(key.handle), curve: key.curve }),
    );
  }

  /**
   * The handle index: every key's private-key handle by reference, shared by the pool's threads. Built in
   * one pass when the pool starts, kept current from what the threads make, import, find and destroy; a
   * key missing from it is located by one search, whose handle every thread then uses (each checks it once
   * with an attribute read, see keys/key-index.ts). So the first signature with a key costs no search in
   * any thread, and each key is searched at most once per process.
   */
  protected readonly index = new Map<string, CachedKey>();
  /** Searches under way for keys missing from the index, so concurrent first uses share one. */
  private readonly locating = new Map<string, Promise<CachedKey | undefined>>();

  /**
   * Starts every thread, one after another; rejects with the first thread's error (wrong PIN, no token…), or
   * at once when the installation's built worker is missing or older than its sources (`misconfigured`).
   */
  static start(config: HsmConfig, options: HsmPoolOptions = {}): Promise<HsmPool> {
    try {
      return HsmPool.launch(new HsmPool(config, options, builtWorker()));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  protected static async launch<P extends HsmPool>(pool: P): Promise<P> {
    for (let i = 0; i < pool.size; i++) pool.startThread();
    await pool.starting;
    if (pool.startError !== undefined) {
      await pool.close();
      throw pool.startError;
    }
    await pool.buildIndex();
    try {
      pool.startMainSigning();
    } catch (e) {
      await pool.close();
      throw toHsmError(e, { operation: "start", tokenLabel: pool.tokenLabel });
    }
    return pool;
  }

  /**
   * Where this pool starts its signatures, and why: signFrom as set, or what "auto" became for this library.
   * Undefined only before the first thread has started.
   */
  get signing(): SignFromChoice | undefined {
    return this.choice;
  }

  /**
   * Sessions a thread starting now keeps for asynchronous signing. Signing from the main thread leaves the
   * threads one session each: they sign only what it cannot. Until "auto" is decided (the first thread), a
   * thread starts as for "threads": nothing runs on the main thread before the library is known.
   */
  private get signSessions(): number {
    const from = this.choice?.signFrom ?? (this.signFrom === "main" ? "main" : "threads");
    return from === "threads" ? this.threadSignSessions : 0;
  }

  /** After every thread's start (so after the login): the main thread's own signing sessions. */
  private startMainSigning(): void {
    if (this.choice?.signFrom !== "main") return;
    this.main = new MainThreadSigning(this.target(), this.config.pin, this.inFlight, this.tokenLabel, {
      elsewhere: (ref, data, hint, leftMs) => {
        const request: HsmOperation & { op: "sign" } = { op: "sign", ref, data, hint };
        return this.onThread(request, request, leftMs);
      },
      keyMissing: (ref) => this.index.delete(ref),
    });
  }

  /**
   * One pass over the token in one thread (bench/README.md: ~N ms among 10,000 keys). A pass that fails
   * leaves the index to fill by searches, one per key: slower first uses, never a wrong answer.
   */
  private async buildIndex(): Promise<void> {
    try {
      const work: PoolWork = { kind: "operation", request: { op: "index" } };
      const keys = reviveResult({ op: "index" }, await this.jobs.add(work, "index", this.startTimeoutMs));
      for (const { ref, handle, curve } of keys)
        if (!this.index.has(ref)) this.index.set(ref, { handle, curve });
    } catch {
      // See above: the index fills by searches instead.
    }
  }

  /**
   * Reading many keys' flags (status/key-flags.ts): the index's handle for every key it knows, by position, so the
   * thread reads them with no search whichever thread it is (each handle is checked by the same read).
   */
  protected withAttestHints<O extends HsmOperation>(request: O): O {
    if (request.op !== "attest" || request.hints !== undefined) return request;
    return { ...request, hints: request.refs.map((ref) => this.index.get(ref)?.handle ?? null) };
  }

  /**
   * A sign request with the index's handle for its key, looked up by one search (shared by concurrent
   * callers) on a miss. A key the search does not find goes out without a hint: the thread's own lookup
   * then reports what is wrong (key-missing, a lost login) as that signature's error.
   */
  protected async withHint<O extends HsmOperation>(request: O): Promise<O> {
    if (request.op === "attest") return this.withAttestHints(request);
    if (request.op !== "sign" || request.hint !== undefined) return request;
    const { ref } = request;
    let hint = this.index.get(ref);
    if (hint === undefined) {
      let search = this.locating.get(ref);
      if (search === undefined) {
        const work: PoolWork = { kind: "operation", request: { op: "locate", ref } };
        search = this.jobs.add(work, "locate", this.timeoutMs).then(
          (value) => {
            const key = reviveResult({ op: "locate", ref }, value);
            this.index.set(ref, key);
            return key;
          },
          () => undefined,
        );
        const done = search;
        this.locating.set(ref, done);
        void done.then(() => {
          if (this.locating.get(ref) === done) this.locating.delete(ref);
        });
      }
      hint = await search;
    }
    return hint === undefined ? request : { ...request, hint };
  }

  execute<O extends HsmOperation>(request: O, options: { timeoutMs?: number } = {}): Promise<HsmResultOf<O>> {
    // A signature whose key the index knows goes straight to the main thread's sessions (signFrom "main"),
    // without the async function below: on P-256 the event loop is the bottleneck (bench/README.md).
    if (
      request.op === "sign" &&
      this.main !== undefined &&
      this.main.capacity > 0 &&
      options.timeoutMs === undefined
    ) {
      const hint = request.hint ?? this.index.get(request.ref);
      if (hint !== undefined) {
        const refused = this.refusal(request.op);
        if (refused !== undefined) return Promise.reject(refused);
        // The result of sign is a Buffer: HsmResultOf<O> for O's op "sign".
        return this.main.sign(request.ref, request.data, hint, this.timeoutMs) as Promise<HsmResultOf<O>>;
      }
    }
    return this.executeAny(request, options);
  }

  private async executeAny<O extends HsmOperation>(
    request: O,
    options: { timeoutMs?: number },
  ): Promise<HsmResultOf<O>> {
    const refused = this.refusal(request.op);
    if (refused !== undefined) throw refused;
    const timeoutMs = positive(options.timeoutMs, this.timeoutMs, "timeoutMs");
    if (request.op === "forget") {
      // Each thread caches key handles in its own session. A thread handles its messages in order, so
      // nothing posted to it after this uses the forgotten handle.
      this.index.delete(request.ref);
      this.main?.forget(request.ref);
      for (const thread of this.threads) thread.forget(request.ref);
      return reviveResult(request, undefined);
    }
    if (request.op === "destroy") this.index.delete(request.ref);
    // An index hit is taken at once: the call is queued in this tick, behind the refusal check above. A miss
    // is located first by one search in a thread, shared by concurrent callers (withHint).
    let prepared: O = request;
    if (request.op === "sign" && request.hint === undefined) {
      const hint = this.index.get(request.ref);
      if (hint !== undefined) prepared = { ...request, hint };
      else {
        prepared = await this.withHint(request);
        const late = this.refusal(request.op);
        if (late !== undefined) throw late;
      }
    }
    prepared = this.withAttestHints(prepared);
    if (prepared.op === "sign" && this.main !== undefined && this.main.capacity > 0) {
      // The result of sign is a Buffer: HsmResultOf<O> for O's op "sign".
      return this.main.sign(prepared.ref, prepared.data, prepared.hint, timeoutMs) as Promise<HsmResultOf<O>>;
    }
    return this.onThread(request, prepared, timeoutMs);
  }

  /**
   * A call run by a thread. Also where the main thread's signing sends a key its sessions hold no checked
   * handle for (`left`: what remains of the call's deadline): the thread may search, and the index learns it.
   */
  private async onThread<O extends HsmOperation>(
    request: O,
    prepared: O,
    left: number,
  ): Promise<HsmResultOf<O>> {
    try {
      const work: PoolWork = { kind: "operation", request: toWireRequest(prepared) };
      return reviveResult(request, await this.jobs.add(work, request.op, left));
    } catch (e) {
      // The key is gone from the token (destroyed through another process): so is its index entry.
      if (request.op === "sign" && e instanceof HsmError && e.reason === "key-missing") {
        this.index.delete(request.ref);
      }
      throw e;
    } finally {
      // Even a failed or timed-out destroy may have removed the key: every thread drops its handle.
      if (request.op === "destroy") {
        this.index.delete(request.ref);
        this.main?.forget(request.ref);
        for (const thread of this.threads) thread.forget(request.ref);
      }
    }
  }

  /** Why a call is refused before it is queued: the pool is closed, has no thread at all, or is full. */
  private refusal(operation: string): HsmError | undefined {
    if (this.closing !== undefined) {
      return new HsmError(
        "busy",
        `The HSM pool for token '${this.tokenLabel}' is closed (the server is shutting down); ${operation} did not reach the HSM. Retry on another HSM or after the restart.`,
        { operation },
      );
    }
    if (this.threads.length === 0 && this.startError !== undefined) return this.startError;
    // Calls made in this tick wait in the queue for the dispatch microtask: hand them out before refusing.
    if (this.queued() >= this.queueLimit) this.jobs.dispatch();
    if (this.queued() >= this.queueLimit) return hsmError("busy", { operation, tokenLabel: this.tokenLabel });
    return undefined;
  }

  private readonly listener: ThreadListener = {
    done: (thread, outcomes) => this.jobs.answered(thread, outcomes),
    lost: (thread, why) => {
      const index = this.threads.indexOf(thread);
      if (index >= 0) this.threads.splice(index, 1);
      this.jobs.orphaned(thread, why);
      if (this.closing === undefined) {
        this.replaced += 1;
        this.startThread();
      }
    },
  };

  /** Queues a thread start behind the ones already starting. */
  private startThread(): void {
    this.pendingStarts += 1;
    this.starting = this.starting.then(async () => {
      try {
        // Never again after a configuration error: a wrong PIN tried over and over locks the token.
        if (this.closing !== undefined || this.startError?.kind === "configuration") return;
        const data = { target: this.target(), pin: this.config.pin, signSessions: this.signSessions };
        const id = this.nextThread++;
        const { thread, start } = await PoolThread.start(
          id,
          this.worker,
          data,
          this.listener,
          this.startTimeoutMs,
        );
        this.threadStarted(start);
        this.choice ??= chooseSignFrom(this.signFrom, start.library);
        // "auto" became "main" after this (first) thread opened sessions as for "threads": they go unused.
        if (data.signSessions > this.signSessions) thread.stopAsyncSigning();
        if (this.closing !== undefined) return await thread.close(this.closeTimeoutMs);
        this.startError = undefined;
        this.threads.push(thread);
        this.jobs.dispatch();
      } catch (e) {
        this.startError = toHsmError(e, { operation: "start", tokenLabel: this.tokenLabel });
        this.afterFailedStart(this.startError);
      } finally {
        this.pendingStarts -= 1;
      }
    });
  }

  private target(): HsmTarget {
    const { pin: _pin, ...target } = this.config;
    return target;
  }

  /** With no thread left, waiting calls fail now, so a caller can fail over to another token. */
  private afterFailedStart(error: HsmError): void {
    if (this.threads.length === 0) this.jobs.failWaiting(() => error);
    if (this.closing !== undefined || this.pendingStarts > 1 || error.kind === "configuration") return;
    const retry = setTimeout(() => {
      if (this.closing === undefined && this.threads.length + this.pendingStarts < this.size)
        this.startThread();
    }, RETRY_START_MS);
    retry.unref();
  }

  /** Calls waiting for a session: for a thread, or for one of the main thread's signing sessions. */
  private queued(): number {
    return this.jobs.queued + (this.main?.queued ?? 0);
  }

  stats(): HsmPoolStats {
    const { size, replaced } = this;
    return {
      size,
      live: this.threads.length,
      queued: this.queued(),
      inFlight: this.jobs.inFlight + (this.main?.running ?? 0),
      replaced,
      mainSessions: this.main?.capacity ?? 0,
    };
  }

  /** Stops accepting calls, lets accepted ones finish (up to closeTimeoutMs), then ends every thread. */
  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.closeTimeoutMs);
    });
    await Promise.race([Promise.all([this.jobs.drained(), this.main?.drained()]), grace]);
    clearTimeout(timer);
    // What the main thread's sessions still hold after the grace period: waiting calls answer busy,
    // running ones outcome-unknown; their sessions close as their calls return (awaited below).
    const mainClosed = this.main?.close("the pool closed", this.closeTimeoutMs);
    await this.starting;
    this.jobs.failWaiting((operation) => hsmError("busy", { operation, tokenLabel: this.tokenLabel }));
    const threads = this.threads.splice(0);
    // A thread still holding calls after the grace period is presumed stuck: its calls are maybe-done.
    // The others close their sessions and exit.
    for (const thread of threads) {
      if (thread.inFlight.size > 0) thread.terminate("the pool closed before it answered");
    }
    await Promise.all([...threads.map((thread) => thread.close(this.closeTimeoutMs)), mainClosed]);
  }

  /** Called when a thread reports its session open; does nothing here (TestPool records starts). */
  protected threadStarted(_start: ThreadStart): void {}
}
