// The in-flight part of bench/hsm.ts: signatures per second with N calls in flight, server/hsm's pool against
// raw pkcs11js with asynchronous C_Sign over N sessions on the main thread, measured in turns of short
// slices over the same stretch of time. The module in both modes: signFrom "main" (asynchronous C_Sign over
// N sessions of the main thread, pool/main-signing.ts) and "threads" (its threads keep ceil(N / threads)
// sessions each and sign with asynchronous C_Sign), and as the server starts it, with no signFrom
// ("default": auto, pool/sign-from.ts, labelled with what it chose). With --latency-ms L (default 25; 0 for none), a second
// set of figures adds L ms to every C_Sign on every side (hsm-raw-async.ts on the main thread, the testing
// worker in threads): a stand-in for a network HSM, clearly labelled as such.
import { randomBytes } from "node:crypto";
import { availableParallelism } from "node:os";
import { createHistogram, PerformanceObserver, type RecordableHistogram } from "node:perf_hooks";
import { type Curve, HsmPool, TestPool, type TestToken } from "../server/hsm/testing/bench";
import { type RawAsyncHsm, setMainThreadSignLatency } from "./hsm-raw-async";
import { median } from "./measure";

/** Where the module starts its signatures (HsmPoolOptions.signFrom); "default": none given, as the server. */
export type SignFrom = "default" | "main" | "threads";

const optionsFor = (signFrom: SignFrom) => (signFrom === "default" ? {} : { signFrom });

/** "default (auto → main)": what a default pool chose, for the tables. */
function labelOf(signFrom: SignFrom, pool: HsmPool): string {
  return signFrom === "default" ? `default (auto → ${pool.signing?.signFrom ?? "?"})` : signFrom;
}
/**
 * Over all of a side's slices: signatures per second, the event loop's delay p99 (ms), and the CPU time
 * of the whole process (every thread: main, workers, libuv's pool) per signature — where the time goes,
 * and less sensitive to other people's load than the rate.
 */
export type InFlightFigure = { rate: number; loopP99Ms: number; cpuUsPerCall: number };
export type InFlightRow = {
  curve: Curve;
  inFlight: number;
  latencyMs: number;
  /** The mode, or "default (auto → …)". */
  signFrom: string;
  threads: number;
  raw: InFlightFigure;
  module: InFlightFigure;
  /** Every turn's ratio module / raw (slices measured back to back), for the spread. */
  ratios: number[];
  sliceMs: number;
  slices: number;
};

const dataFor = (curve: Curve) => (curve === "ed25519" ? randomBytes(64) : randomBytes(32));

async function startPool(
  token: TestToken,
  signFrom: SignFrom,
  threads: number,
  inFlight: number,
  latencyMs: number,
): Promise<HsmPool> {
  if (signFrom === "default") {
    // The server's pool as it starts it. If auto chose the threads, a latency is added there (testing worker).
    const pool = await HsmPool.start(token.config, { size: threads, inFlight });
    if (pool.signing?.signFrom === "main" || latencyMs === 0) return pool;
    await pool.close();
  }
  if (signFrom === "main") {
    // Its C_Sign run on this thread: setMainThreadSignLatency slows them exactly as it slows raw's.
    return HsmPool.start(token.config, { size: threads, inFlight, signFrom });
  }
  const options = { size: threads, inFlight, ...optionsFor(signFrom) };
  if (latencyMs === 0) return HsmPool.start(token.config, options);
  const pool = await TestPool.startForTests(token.config, options);
  await pool.setLatency(latencyMs);
  return pool;
}

/** A side's totals over its slices: calls, wall time, this process's CPU time, the event loop's delay. */
type Tally = { calls: number; ms: number; cpuUs: number; loop: RecordableHistogram; perTurn: number[] };

/**
 * The event loop's delay while a slice runs: a 1 ms interval timer records how late each tick is (what
 * monitorEventLoopDelay records), into the side's histogram. Not monitorEventLoopDelay itself: enabled
 * again after another side's slice, its first tick counts the whole gap as delay (~100 ms p99, measured).
 */
function probeLoop(into: RecordableHistogram): () => void {
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    into.record(Math.max(1, Math.round((now - last - 1) * 1e6)));
    last = now;
  }, 1);
  return () => clearInterval(timer);
}

/**
 * One slice: `inFlight` calls kept outstanding for `ms`, then until every call started has answered.
 * Any failed call aborts the benchmark: a rate of errors is not a rate of signatures.
 */
async function slice(
  call: () => Promise<unknown>,
  inFlight: number,
  ms: number,
  tally?: Tally,
): Promise<void> {
  let calls = 0;
  const start = performance.now();
  const until = start + ms;
  const cpu = process.cpuUsage();
  const stopProbe = tally === undefined ? undefined : probeLoop(tally.loop);
  const run = async () => {
    while (performance.now() < until) {
      await call();
      calls += 1;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, run));
  stopProbe?.();
  if (tally === undefined) return;
  const used = process.cpuUsage(cpu);
  const elapsed = performance.now() - start;
  tally.calls += calls;
  tally.ms += elapsed;
  tally.cpuUs += used.user + used.system;
  tally.perTurn.push((1000 * calls) / elapsed);
}

/**
 * Every side in turn for `sliceMs` at a time, `slices` times each, in an order that rotates from one turn
 * to the next, after one warm-up slice each. This machine's speed drifts within seconds (other people's
 * work shares its two cores), so each side's figure is summed over slices spread evenly across the same
 * stretch of time instead of a few long rounds.
 */
async function alternate(
  sides: { name: string; call: () => Promise<unknown> }[],
  inFlight: number,
  sliceMs: number,
  slices: number,
): Promise<Map<string, { figure: InFlightFigure; perTurn: number[] }>> {
  for (const side of sides) await slice(side.call, inFlight, sliceMs);
  const tallies = new Map<string, Tally>();
  for (const side of sides) {
    tallies.set(side.name, {
      calls: 0,
      ms: 0,
      cpuUs: 0,
      loop: createHistogram(),
      perTurn: [],
    });
  }
  for (let turn = 0; turn < slices; turn++) {
    for (let i = 0; i < sides.length; i++) {
      const side = sides[(turn + i) % sides.length];
      if (side !== undefined) await slice(side.call, inFlight, sliceMs, tallies.get(side.name));
    }
  }
  const result = new Map<string, { figure: InFlightFigure; perTurn: number[] }>();
  for (const [name, t] of tallies) {
    const figure = {
      rate: (1000 * t.calls) / t.ms,
      loopP99Ms: t.loop.percentile(99) / 1e6,
      cpuUsPerCall: t.cpuUs / t.calls,
    };
    result.set(name, { figure, perTurn: t.perTurn });
  }
  return result;
}

/** For each latency and number in flight: raw and every module mode, measured in alternating slices. */
export async function inFlightRows(
  token: TestToken,
  raw: RawAsyncHsm,
  options: {
    curves: readonly Curve[];
    inFlights: number[];
    latencies: number[];
    signFroms: SignFrom[];
    sliceMs: number;
    slices: number;
    threads?: number;
  },
): Promise<InFlightRow[]> {
  const threads = options.threads ?? availableParallelism();
  const rows: InFlightRow[] = [];
  for (const latencyMs of options.latencies) {
    setMainThreadSignLatency(latencyMs);
    for (const inFlight of options.inFlights) {
      raw.sessions(inFlight);
      const pools = new Map<SignFrom, HsmPool>();
      try {
        for (const signFrom of options.signFroms) {
          // One call per thread is signed synchronously on the thread's session, where the testing worker
          // adds no latency: such a row would not be the stand-in it is labelled as.
          if (signFrom === "threads" && latencyMs > 0 && Math.ceil(inFlight / threads) <= 1) {
            console.log(
              `  (+${latencyMs} ms/call, ${inFlight} in flight: no "threads" row, one call per thread signs synchronously)`,
            );
            continue;
          }
          pools.set(signFrom, await startPool(token, signFrom, threads, inFlight, latencyMs));
        }
        const [first] = pools.values();
        if (first === undefined) throw new Error("--sign-from names no mode");
        for (const curve of options.curves) {
          const key = await first.execute({
            op: "generate",
            curve,
            label: `bench-in-flight-${curve}`,
            exportable: "never",
          });
          const handle = raw.findPrivate(key.ref);
          const data = dataFor(curve);
          const sides = [
            { name: "raw", call: () => raw.sign(curve, handle, data) },
            ...[...pools].map(([signFrom, pool]) => ({
              name: labelOf(signFrom, pool),
              call: () => pool.execute({ op: "sign", ref: key.ref, data }),
            })),
          ];
          const measured = await alternate(sides, inFlight, options.sliceMs, options.slices);
          const rawSide = measured.get("raw");
          if (rawSide === undefined) throw new Error("raw was not measured");
          for (const signFrom of [...pools].map(([mode, pool]) => labelOf(mode, pool))) {
            const moduleSide = measured.get(signFrom);
            if (moduleSide === undefined) throw new Error(`${signFrom} was not measured`);
            const row: InFlightRow = {
              curve,
              inFlight,
              latencyMs,
              signFrom,
              threads,
              raw: rawSide.figure,
              module: moduleSide.figure,
              ratios: moduleSide.perTurn.map((rate, i) => rate / (rawSide.perTurn[i] ?? Number.NaN)),
              sliceMs: options.sliceMs,
              slices: options.slices,
            };
            rows.push(row);
            console.log(
              `  ${latencyMs > 0 ? `+${latencyMs} ms/call (network HSM stand-in) ` : ""}${curve}, ${inFlight} in flight, signing from ${signFrom}: raw async ${row.raw.rate.toFixed(0)}/s, module ${row.module.rate.toFixed(0)}/s (${(row.module.rate / row.raw.rate).toFixed(2)}x), loop p99 ${row.module.loopP99Ms.toFixed(1)} / raw ${row.raw.loopP99Ms.toFixed(1)} ms, CPU ${row.module.cpuUsPerCall.toFixed(0)} / raw ${row.raw.cpuUsPerCall.toFixed(0)} us per signature`,
            );
          }
        }
      } finally {
        await Promise.all([...pools.values()].map((pool) => pool.close()));
      }
    }
  }
  setMainThreadSignLatency(0);
  return rows;
}

export type FirstUse = {
  /** The mode, or "default (auto → …)". */
  signFrom: string;
  keys: number;
  threads: number;
  /** HsmPool.start, the one-pass handle index included. */
  poolStartMs: number;
  indexed: number;
  /** First signature with a key no thread has used (each key once), ms. */
  medianMs: number;
  p95Ms: number;
  maxMs: number;
  /**
   * The same key signed again right after its first use (handle checked and cached): the machine's own
   * tail. A first-use max far above the warm max would be the first use's cost; close to it, the machine's.
   */
  warmMedianMs: number;
  warmP95Ms: number;
  warmMaxMs: number;
  samples: number;
  /** The pool's very first signature (another key, not a sample): code paths run for the first time. */
  firstCallMs: number;
  /** Samples during which this thread's garbage collector ran, and the max of the others. */
  gcSamples: number;
  maxWithoutGcMs: number;
  /** The three slowest first uses: ms and position in the run (0 = the first sample). */
  slowest: { ms: number; at: number }[];
  /** Searches (C_FindObjectsInit) the threads ran for those first signatures: the index should make it 0. */
  searches: number;
};

/** First-use signing among the token's keys on a freshly started pool: the index's job. */
export async function measureFirstUse(
  token: TestToken,
  refs: readonly string[],
  signFrom: SignFrom,
  samples = 100,
): Promise<FirstUse> {
  const threads = availableParallelism();
  const started = performance.now();
  const pool = await TestPool.startForTests(token.config, { size: threads, ...optionsFor(signFrom) });
  const poolStartMs = performance.now() - started;
  try {
    const picked = new Set<string>();
    while (picked.size < Math.min(samples + 1, refs.length)) {
      picked.add(refs[randomBytes(4).readUInt32BE(0) % refs.length] ?? "");
    }
    const [opener, ...sampled] = picked;
    const data = randomBytes(32);
    const searchesBefore = await pool.searches();
    const opened = performance.now();
    await pool.execute({ op: "sign", ref: opener ?? "", data });
    const firstCallMs = performance.now() - opened;
    const gcs: { start: number; end: number }[] = [];
    const observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) gcs.push({ start: e.startTime, end: e.startTime + e.duration });
    });
    observer.observe({ entryTypes: ["gc"] });
    const spans: { start: number; end: number }[] = [];
    const times: number[] = [];
    const warm: number[] = [];
    for (const ref of sampled) {
      const t = performance.now();
      await pool.execute({ op: "sign", ref, data });
      const first = performance.now();
      await pool.execute({ op: "sign", ref, data });
      warm.push(performance.now() - first);
      times.push(first - t);
      spans.push({ start: t, end: first });
    }
    // Entries are delivered asynchronously: let the last ones arrive.
    await new Promise((resolve) => setTimeout(resolve, 50));
    observer.disconnect();
    const searches = (await pool.searches()) - searchesBefore;
    const duringGc = spans.map((span) => gcs.some((gc) => gc.start < span.end && gc.end > span.start));
    const withoutGc = times.filter((_, i) => !duringGc[i]);
    const slowest = times
      .map((ms, at) => ({ ms, at }))
      .sort((a, b) => b.ms - a.ms)
      .slice(0, 3);
    times.sort((a, b) => a - b);
    warm.sort((a, b) => a - b);
    const p95 = (sorted: number[]) =>
      sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.95))] ?? Number.NaN;
    return {
      signFrom: labelOf(signFrom, pool),
      keys: refs.length,
      threads,
      poolStartMs,
      indexed: pool.indexed(),
      medianMs: median(times),
      p95Ms: p95(times),
      maxMs: times[times.length - 1] ?? Number.NaN,
      warmMedianMs: median(warm),
      warmP95Ms: p95(warm),
      warmMaxMs: warm[warm.length - 1] ?? Number.NaN,
      samples: times.length,
      firstCallMs,
      gcSamples: duringGc.filter(Boolean).length,
      maxWithoutGcMs: Math.max(...withoutGc),
      slowest,
      searches,
    };
  } finally {
    await pool.close();
  }
}
