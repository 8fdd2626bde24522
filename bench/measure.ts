// Measuring helpers for the benchmarks: a closed-loop storm of async calls with the event loop's delay
// recorded meanwhile, and small statistics.
import { readFileSync } from "node:fs";
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

type CpuSnapshot = { busySeconds: number; ownSeconds: number; at: number };

/** Busy CPU time of the whole machine (Linux /proc/stat, in USER_HZ = 1/100 s) and of this process. */
export function cpuSnapshot(): CpuSnapshot {
  const own = process.cpuUsage();
  let busySeconds = Number.NaN;
  try {
    const fields =
      readFileSync("/proc/stat", "utf8").split("\n")[0]?.trim().split(/\s+/).slice(1).map(Number) ?? [];
    // user nice system idle iowait irq softirq steal: everything but idle and iowait is busy.
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
    busySeconds = (user + nice + system + irq + softirq + steal) / 100;
  } catch {
    // Not Linux: the report says "unknown".
  }
  return { busySeconds, ownSeconds: (own.user + own.system) / 1e6, at: performance.now() };
}

/** Share of the machine's CPUs that other processes used since `from` (0 = quiet, 1 = all CPUs busy). */
export function othersLoad(from: CpuSnapshot, cpus: number): number {
  const to = cpuSnapshot();
  const wall = (to.at - from.at) / 1000;
  const others = to.busySeconds - from.busySeconds - (to.ownSeconds - from.ownSeconds);
  return Math.max(0, others / (wall * cpus));
}
