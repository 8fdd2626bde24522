// HsmPool for tests: the same pool, running the testing worker (pool-worker-entry.ts, which adds "stall" and
// "exit"), with ways to see how threads started and to aim a call at one thread. Everything test-only about
// the pool lives here, so the runtime pool and its installed worker carry none of it.
import "server-only";
import type { HsmConfig } from "../pkcs11/pkcs11";
import type { HsmOperation, HsmResultOf } from "../pool/operations";
import { HsmPool, type HsmPoolOptions } from "../pool/pool";
import { type PoolWork, reviveResult, toWireRequest } from "../pool/pool-protocol";
import type { ThreadStart } from "../pool/pool-thread";
import { builtWorker } from "../pool/worker-file";

export const TESTING_WORKER = "hsm-pool-worker-testing";

export class TestPool extends HsmPool {
  private readonly startLog: ThreadStart[] = [];
  private readonly startWaiters: ((start: ThreadStart) => void)[] = [];

  static startForTests(config: HsmConfig, options: HsmPoolOptions = {}): Promise<TestPool> {
    try {
      return HsmPool.launch(new TestPool(config, options, builtWorker(TESTING_WORKER)));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  protected override threadStarted(start: ThreadStart): void {
    this.startLog.push(start);
    for (const waiter of this.startWaiters.splice(0)) waiter(start);
  }

  /** When each thread was created and reported ready, in start order. */
  starts(): ThreadStart[] {
    return [...this.startLog];
  }

  /** Ids of the live threads, in the order `executeOn` and `exitThread` index them. */
  threadIds(): number[] {
    return this.threads.map((t) => t.id);
  }

  /** A call that blocks its thread for `ms`, like a hung HSM call; queued and timed like any other. */
  async stall(ms: number, options: { timeoutMs?: number } = {}): Promise<void> {
    await this.jobs.add(this.extension("stall", ms), "stall", options.timeoutMs ?? this.timeoutMs);
  }

  /** A call that ends thread `index` mid-call (exit code 70), as a crash would. */
  async exitThread(index: number): Promise<void> {
    await this.jobs.add(this.extension("exit", 70), "exit", this.timeoutMs, this.at(index));
  }

  /** Runs a call on thread `index`, with the handle index's hint for a sign as `execute` gives it. */
  async executeOn<O extends HsmOperation>(index: number, request: O): Promise<HsmResultOf<O>> {
    const work: PoolWork = { kind: "operation", request: toWireRequest(await this.withHint(request)) };
    return reviveResult(request, await this.jobs.add(work, request.op, this.timeoutMs, this.at(index)));
  }

  /** Searches (C_FindObjectsInit) every live thread has started so far, summed: counted in the testing worker. */
  async searches(): Promise<number> {
    const counts = await Promise.all(
      this.threads.map((thread) => this.jobs.add(this.extension("searches"), "searches", this.timeoutMs, thread)),
    );
    return counts.reduce((sum: number, n) => sum + (typeof n === "number" ? n : Number.NaN), 0);
  }

  /** Adds `ms` to every asynchronous C_Sign on every live thread (a stand-in for a network HSM). */
  async setLatency(ms: number): Promise<void> {
    await Promise.all(
      this.threads.map((thread) => this.jobs.add(this.extension("latency", ms), "latency", this.timeoutMs, thread)),
    );
  }

  /** The most asynchronous signatures each live thread had running at once since last asked. */
  async mostSigning(): Promise<number[]> {
    const counts = await Promise.all(
      this.threads.map((thread) => this.jobs.add(this.extension("mostSigning"), "mostSigning", this.timeoutMs, thread)),
    );
    return counts.map((n) => (typeof n === "number" ? n : Number.NaN));
  }

  /** The handle index's size (keys known without a search). */
  indexed(): number {
    return this.index.size;
  }

  /** Resolves when every thread start queued so far has finished (replacements included). */
  started(): Promise<void> {
    return this.starting;
  }

  /** Resolves with the next thread that reports ready, e.g. the replacement of one about to be lost. */
  nextStart(): Promise<ThreadStart> {
    return new Promise((resolve) => this.startWaiters.push(resolve));
  }

  private extension(name: string, ...args: number[]): PoolWork {
    return { kind: "extension", name, args };
  }

  private at(index: number) {
    const thread = this.threads[index];
    if (thread === undefined) throw new Error(`no live thread at index ${index}`);
    return thread;
  }
}
