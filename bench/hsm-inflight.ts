// The in-flight part of bench/hsm.ts: signatures per second with N calls in flight, server/hsm's pool
// (its threads keep ceil(N / threads) sessions each and sign with asynchronous C_Sign) against raw pkcs11js
// with asynchronous C_Sign over N sessions on the main thread, measured in the same rounds, interleaved.
// With --latency-ms L, a second set of figures adds L ms to every C_Sign on both sides (the testing worker
// for the module, hsm-raw-async.ts for raw): a stand-in for a network HSM, clearly labelled as such.
import { randomBytes } from "node:crypto";
import { availableParallelism } from "node:os";
import { type Curve, HsmPool, TestPool, type TestToken } from "../server/hsm/testing/bench";
import type { RawAsyncHsm } from "./hsm-raw-async";
import { median, storm } from "./measure";

export type InFlightFigure = { rate: number; loopP99Ms: number };
export type InFlightRow = {
  curve: Curve;
  inFlight: number;
  latencyMs: number;
  threads: number;
  raw: InFlightFigure;
  module: InFlightFigure;
};

const dataFor = (curve: Curve) => (curve === "ed25519" ? randomBytes(64) : randomBytes(32));

async function startPool(token: TestToken, threads: number, inFlight: number, latencyMs: number): Promise<HsmPool> {
  if (latencyMs === 0) return HsmPool.start(token.config, { size: threads, inFlight });
  const pool = await TestPool.startForTests(token.config, { size: threads, inFlight });
  await pool.setLatency(latencyMs);
  return pool;
}

function summary(figures: InFlightFigure[]): InFlightFigure {
  return { rate: median(figures.map((f) => f.rate)), loopP99Ms: Math.max(...figures.map((f) => f.loopP99Ms)) };
}

export async function inFlightRows(
  token: TestToken,
  raw: RawAsyncHsm,
  options: {
    curves: readonly Curve[];
    inFlights: number[];
    latencies: number[];
    seconds: number;
    rounds: number;
    threads?: number;
  },
): Promise<InFlightRow[]> {
  const threads = options.threads ?? availableParallelism();
  const rows: InFlightRow[] = [];
  for (const latencyMs of options.latencies) {
    for (const inFlight of options.inFlights) {
      raw.sessions(inFlight);
      const pool = await startPool(token, threads, inFlight, latencyMs);
      try {
        for (const curve of options.curves) {
          const key = await pool.execute({ op: "generate", curve, label: `bench-in-flight-${curve}`, exportable: "never" });
          const handle = raw.findPrivate(key.ref);
          const data = dataFor(curve);
          const rawFigures: InFlightFigure[] = [];
          const moduleFigures: InFlightFigure[] = [];
          const runRaw = async () => rawFigures.push(await storm(() => raw.sign(curve, handle, data, latencyMs), inFlight, options.seconds));
          const runModule = async () =>
            moduleFigures.push(await storm(() => pool.execute({ op: "sign", ref: key.ref, data }), inFlight, options.seconds));
          for (let round = 0; round < options.rounds; round++) {
            // Interleaved, and alternating which goes first: this machine's speed drifts within seconds.
            if (round % 2 === 0) {
              await runRaw();
              await runModule();
            } else {
              await runModule();
              await runRaw();
            }
          }
          const row = { curve, inFlight, latencyMs, threads, raw: summary(rawFigures), module: summary(moduleFigures) };
          rows.push(row);
          console.log(
            `  ${latencyMs > 0 ? `+${latencyMs} ms/call (network stand-in) ` : ""}${curve}, ${inFlight} in flight: raw async ${row.raw.rate.toFixed(0)}/s, module ${row.module.rate.toFixed(0)}/s (${(row.module.rate / row.raw.rate).toFixed(2)}x), loop p99 ${row.module.loopP99Ms.toFixed(1)} ms`,
          );
        }
      } finally {
        await pool.close();
      }
    }
  }
  return rows;
}

export type FirstUse = {
  keys: number;
  threads: number;
  /** HsmPool.start, the one-pass handle index included. */
  poolStartMs: number;
  indexed: number;
  /** First signature with a key no thread has used (each key once), ms. */
  medianMs: number;
  p95Ms: number;
  maxMs: number;
  samples: number;
  /** Searches (C_FindObjectsInit) the threads ran for those first signatures: the index should make it 0. */
  searches: number;
};

/** First-use signing among the token's keys on a freshly started pool: the index's job. */
export async function measureFirstUse(token: TestToken, refs: readonly string[], samples = 40): Promise<FirstUse> {
  const threads = availableParallelism();
  const started = performance.now();
  const pool = await TestPool.startForTests(token.config, { size: threads });
  const poolStartMs = performance.now() - started;
  try {
    const picked = new Set<string>();
    while (picked.size < Math.min(samples, refs.length)) {
      picked.add(refs[randomBytes(4).readUInt32BE(0) % refs.length] ?? "");
    }
    const times: number[] = [];
    const data = randomBytes(32);
    const searchesBefore = await pool.searches();
    for (const ref of picked) {
      const t = performance.now();
      await pool.execute({ op: "sign", ref, data });
      times.push(performance.now() - t);
    }
    const searches = (await pool.searches()) - searchesBefore;
    times.sort((a, b) => a - b);
    return {
      keys: refs.length,
      threads,
      poolStartMs,
      indexed: pool.indexed(),
      medianMs: median(times),
      p95Ms: times[Math.min(times.length - 1, Math.floor(times.length * 0.95))] ?? Number.NaN,
      maxMs: times[times.length - 1] ?? Number.NaN,
      samples: times.length,
      searches,
    };
  } finally {
    await pool.close();
  }
}
