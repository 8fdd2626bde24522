// Measuring helpers for the benchmarks: a closed-loop storm of async calls with the event loop's delay
// recorded meanwhile, and small statistics.
import { monitorEventLoopDelay } from "node:perf_hooks";

export type StormResult = { rate: number; calls: number; loopP99Ms: number; loopMaxMs: number };

/**
 * Keeps `inFlight` calls outstanding for `seconds` (after a short warm-up) and counts completions.
 * Any failed call aborts the benchmark: a rate of errors is not a rate of signatures.
 */
export async function storm(
  call: (i: number) => Promise<unknown>,
  inFlight: number,
  seconds: number,
  warmupMs = 300,
): Promise<StormResult> {
  let next = 0;
  const run = async (until: number) => {
    let done = 0;
    while (performance.now() < until) {
      await call(next++);
      done++;
    }
    return done;
  };
  const warm = performance.now() + warmupMs;
  await Promise.all(Array.from({ length: inFlight }, () => run(warm)));
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  const start = performance.now();
  const counts = await Promise.all(Array.from({ length: inFlight }, () => run(start + seconds * 1000)));
  const elapsed = (performance.now() - start) / 1000;
  histogram.disable();
  const calls = counts.reduce((a, b) => a + b, 0);
  return {
    rate: calls / elapsed,
    calls,
    loopP99Ms: histogram.percentile(99) / 1e6,
    loopMaxMs: histogram.max / 1e6,
  };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** Milliseconds taken by an async call. */
export async function timed(call: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await call();
  return performance.now() - start;
}

export function option(args: string[], name: string, fallback: number): number {
  const at = args.indexOf(`--${name}`);
  const value = at >= 0 ? Number(args[at + 1]) : fallback;
  if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} takes a number`);
  return value;
}
