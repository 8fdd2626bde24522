// One worker thread of HsmPool as seen from the main thread: starting it (resolved only once its session is
// open), posting batches of jobs, watching that it makes progress, and noticing when it is gone. It never touches the HSM itself and never
// waits for a thread to exit: a thread stuck inside a PKCS#11 call may never return.
import "server-only";
import * as threads from "node:worker_threads";
import { SHARE_ENV, type Worker } from "node:worker_threads";
import { HsmError, hsmError } from "../pkcs11/errors";
import type { LibraryDescription } from "../pkcs11/pkcs11";
import {
  type FromWorker,
  fromWireError,
  type JobOutcome,
  type PoolJob,
  type PoolWorkerData,
  type ToWorker,
  wallClock,
} from "./pool-protocol";

/**
 * When a thread was created and when it reported its session open (wall-clock ms, comparable), and what the
 * library said of itself (C_GetInfo).
 */
export type ThreadStart = {
  thread: number;
  createdAt: number;
  initStartedAt: number;
  readyAt: number;
  library: LibraryDescription;
};

export type ThreadListener = {
  done: (thread: PoolThread, outcomes: JobOutcome[]) => void;
  /** The thread is gone (crashed, exited, or terminated by the pool); `why` ends up in error messages. */
  lost: (thread: PoolThread, why: string) => void;
};

/**
 * worker_threads' Worker, reached so that bundlers cannot see it. Next's Turbopack bundles the entry of any
 * `new Worker(...)` it recognises (and ignored the turbopackIgnore comment here, measured with Next 16.4.6:
 * the build failed on tsx's esbuild binary). The entry must run from disk as it is: the worker built into
 * the installation (worker-file.ts).
 */
const ThreadOnDisk: typeof Worker = Reflect.get(threads, "Worker");

export class PoolThread {
  /** Ids of the jobs posted to this thread and not answered yet (the pool fills and empties it). */
  readonly inFlight = new Set<number>();
  private watchdog: NodeJS.Timeout | undefined;
  private gone = false;
  private closing = false;
  private closed: (() => void) | undefined;

  private constructor(
    readonly id: number,
    private readonly worker: Worker,
    private readonly listener: ThreadListener,
  ) {}

  /**
   * Starts a thread running `entry` (an absolute path: the built worker, checked by the pool) and resolves
   * once its session is open; rejects with the worker's HsmError.
   */
  static start(
    id: number,
    entry: string,
    data: PoolWorkerData,
    listener: ThreadListener,
    startTimeoutMs: number,
  ): Promise<{ thread: PoolThread; start: ThreadStart }> {
    const operation = "start";
    const createdAt = wallClock();
    // SHARE_ENV: SoftHSM's C code reads SOFTHSM2_CONF from the real process environment, and a worker's
    // own process.env is a copy; sharing it lets pkcs11.ts's write reach the library.
    const worker = new ThreadOnDisk(entry, {
      workerData: data,
      env: SHARE_ENV,
      name: `hsm-${data.target.tokenLabel}-${id}`,
    });
    const thread = new PoolThread(id, worker, listener);
    return new Promise((resolve, reject) => {
      const fail = (error: HsmError) => {
        clearTimeout(timer);
        thread.gone = true;
        void worker.terminate();
        reject(error);
      };
      const timer = setTimeout(
        () =>
          fail(
            hsmError("timeout", { operation, tokenLabel: data.target.tokenLabel, timeoutMs: startTimeoutMs }),
          ),
        startTimeoutMs,
      );
      const early = (message: FromWorker) => {
        if (message.type === "failed") fail(fromWireError(message.error));
        if (message.type !== "ready") return;
        clearTimeout(timer);
        worker.off("message", early);
        worker.off("error", earlyError);
        worker.off("exit", earlyExit);
        thread.listen();
        resolve({
          thread,
          start: {
            thread: id,
            createdAt,
            initStartedAt: message.initStartedAt,
            readyAt: message.readyAt,
            library: message.library,
          },
        });
      };
      const earlyError = (e: Error) =>
        fail(
          new HsmError(
            "misconfigured",
            `The HSM worker could not start: ${e.message}`,
            { operation },
            { cause: e },
          ),
        );
      const earlyExit = (code: number) =>
        fail(
          new HsmError("misconfigured", `The HSM worker exited with code ${code} while starting.`, {
            operation,
          }),
        );
      worker.on("message", early);
      worker.on("error", earlyError);
      worker.on("exit", earlyExit);
    });
  }

  private listen(): void {
    let error: Error | undefined;
    // The listener's type is what pool-worker.ts posts; nothing else can reach this worker's port.
    this.worker.on("message", (message: FromWorker) => {
      if (message.type === "done") this.listener.done(this, message.outcomes);
      else if (message.type === "closed") this.closed?.();
    });
    this.worker.on("error", (e) => {
      error = e;
    });
    this.worker.on("exit", (code) => {
      this.closed?.();
      clearTimeout(this.watchdog);
      if (this.gone || this.closing) return;
      this.gone = true;
      this.listener.lost(this, error ? `it crashed: ${error.message}` : `it exited with code ${code}`);
    });
  }

  get alive(): boolean {
    return !this.gone;
  }

  send(jobs: PoolJob[]): void {
    this.post({ type: "run", jobs });
  }

  /**
   * The stuck-thread watchdog, called after work is posted and after every answer. A thread that holds
   * calls and answers none of them for `stuckAfterMs` is presumed hung inside the HSM and terminated; an
   * idle thread is not watched. A per-call deadline alone never ends a thread that is making progress.
   */
  watch(stuckAfterMs: number): void {
    if (this.inFlight.size === 0 || this.gone) {
      clearTimeout(this.watchdog);
      this.watchdog = undefined;
    } else if (this.watchdog === undefined) {
      const why = `it answered nothing for ${stuckAfterMs} ms while holding calls`;
      this.watchdog = setTimeout(() => this.terminate(why), stuckAfterMs);
    }
  }

  /** The thread answered: it is alive, so the watchdog starts over. */
  progressed(stuckAfterMs: number): void {
    this.watchdog?.refresh();
    this.watch(stuckAfterMs);
  }

  forget(ref: string): void {
    this.post({ type: "forget", ref });
  }

  /** Closes the thread's sessions for asynchronous C_Sign (the main thread signs instead); before any job. */
  stopAsyncSigning(): void {
    this.post({ type: "stop-async-signing" });
  }

  private post(message: ToWorker): void {
    if (!this.gone) this.worker.postMessage(message);
  }

  /**
   * Ends the thread now and reports it lost at once. Not awaited: terminate() takes effect only when the
   * thread is back from native code, which a hung HSM call may never allow.
   */
  terminate(why: string): void {
    if (this.gone) return;
    this.gone = true;
    clearTimeout(this.watchdog);
    void this.worker.terminate();
    this.listener.lost(this, why);
  }

  /** Asks the thread to close its session and exit; terminates it if it has not within `graceMs`. */
  async close(graceMs: number): Promise<void> {
    if (this.gone) return;
    this.closing = true;
    const answered = new Promise<void>((resolve) => {
      this.closed = resolve;
    });
    this.post({ type: "close" });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([answered, late]);
    clearTimeout(timer);
    this.gone = true;
    void this.worker.terminate();
  }
}
