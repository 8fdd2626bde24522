// `npm run bench -- hsm [--seconds 0.5] [--rounds 11] [--keys 10000] [--sizes 1,2,4] [--in-flight 1,4,8,32]
// [--latency-ms 25] [--sign-from default,main,threads] [--slice-ms 100] [--slices 30] [--threads 2] [--parts sign,generate,inflight,lookup]
// [--curves secp256k1,ed25519,p256]`: signatures per second for each curve,
// raw pkcs11js on one thread (measured in the same run, the baseline) against server/hsm through one worker
// and through whole pools; key generation per second; looking a key up among many; and the event loop's
// delay while the pool signs at full rate. Runs on its own temporary SoftHSM token and removes it.
import { availableParallelism, cpus, loadavg } from "node:os";
import { type Curve, createTestToken, HsmPool, type TestToken } from "../server/hsm/testing/bench";
import { RawHsm } from "./hsm-raw";
import { type LookupResult, measureLookup, populate } from "./hsm-lookup";
import {
  type FirstUse,
  type InFlightRow,
  inFlightRows,
  measureFirstUse,
  type SignFrom,
} from "./hsm-inflight";
import { RawAsyncHsm } from "./hsm-raw-async";
import { printReport } from "./hsm-report";
import { type SignRow, signRow } from "./hsm-sign";
import { option, storm } from "./measure";

const CURVES: readonly Curve[] = ["secp256k1", "ed25519", "p256"];

export type GenerateRow = { curve: Curve; raw: number; pools: { size: number; rate: number }[] };
export type HsmBenchResult = {
  date: string;
  machine: string;
  library: string;
  seconds: number;
  rounds: number;
  load: { before: number[]; after: number[] };
  sign: SignRow[];
  generate: GenerateRow[];
  lookup: LookupResult | undefined;
  inFlight: InFlightRow[];
  firstUse: FirstUse[];
  /** libuv's thread pool, which runs every asynchronous C_Sign of the process (Node's default: 4). */
  uvThreadpoolSize: string;
};

async function withPool<T>(token: TestToken, size: number, work: (pool: HsmPool) => Promise<T>): Promise<T> {
  const pool = await HsmPool.start(token.config, { size });
  try {
    return await work(pool);
  } finally {
    await pool.close();
  }
}

async function generateRow(token: TestToken, raw: RawHsm, curve: Curve, sizes: number[]) {
  const rawRate = raw.generateRate(curve, 40);
  const pools: GenerateRow["pools"] = [];
  for (const size of sizes) {
    const { rate } = await withPool(token, size, (pool) =>
      storm(
        () => pool.execute({ op: "generate", curve, label: "bench-generate", exportable: "never" }),
        2 * size,
        3,
      ),
    );
    pools.push({ size, rate });
  }
  console.log(
    `  ${curve}: generate raw ${rawRate.toFixed(0)}/s, ${pools.map((p) => `x${p.size} ${p.rate.toFixed(0)}/s`).join(", ")}`,
  );
  return { curve, raw: rawRate, pools };
}

function sizesFrom(args: string[]): number[] {
  const at = args.indexOf("--sizes");
  const cpuCount = availableParallelism();
  const listed =
    at >= 0 ? (args[at + 1] ?? "").split(",").map(Number) : [1, cpuCount, Math.max(4, 2 * cpuCount)];
  if (listed.some((n) => !Number.isInteger(n) || n < 1)) throw new Error("--sizes takes e.g. 1,2,4");
  return [...new Set(listed)];
}

function listOption(args: string[], name: string, fallback: string): string[] {
  const at = args.indexOf(`--${name}`);
  return (at >= 0 ? (args[at + 1] ?? "") : fallback).split(",").filter((x) => x !== "");
}

export async function runHsmBench(args: string[]): Promise<void> {
  const parts = new Set(listOption(args, "parts", "sign,generate,inflight,lookup"));
  const inFlights = listOption(args, "in-flight", "1,4,8,32").map(Number);
  if (inFlights.some((x) => !Number.isInteger(x) || x < 1)) throw new Error("--in-flight takes e.g. 4,32");
  // "default": the pool as the server starts it (no signFrom: auto), labelled with what it chose.
  const signFroms = listOption(args, "sign-from", "default,main,threads");
  const known = (x: string): x is SignFrom => x === "default" || x === "main" || x === "threads";
  if (signFroms.length === 0 || !signFroms.every(known))
    throw new Error("--sign-from takes some of default, main, threads");
  const curves = listOption(args, "curves", CURVES.join(","));
  const isCurve = (x: string): x is Curve => CURVES.some((c) => c === x);
  if (curves.length === 0 || !curves.every(isCurve))
    throw new Error(`--curves takes some of ${CURVES.join(",")}`);
  const latencyMs = option(args, "latency-ms", 25);
  const seconds = option(args, "seconds", 0.5);
  const rounds = Math.max(1, Math.floor(option(args, "rounds", 11)));
  const keyCount = Math.floor(option(args, "keys", 10_000));
  const sizes = sizesFrom(args);
  const token = createTestToken("kw-bench");
  // An interrupted run must not leave its token (and 10,000 keys) in the temporary folder.
  process.once("SIGINT", () => {
    token.cleanup();
    process.exit(130);
  });
  let raw: RawHsm | undefined;
  try {
    raw = new RawHsm(token);
    const cpu = cpus()[0]?.model.trim() ?? "unknown CPU";
    const result: HsmBenchResult = {
      date: new Date().toISOString(),
      machine: `${cpu}, ${availableParallelism()} CPUs, Node ${process.version}`,
      library: raw.library(),
      seconds,
      rounds,
      load: { before: loadavg(), after: [] },
      sign: [],
      generate: [],
      lookup: undefined,
      inFlight: [],
      firstUse: [],
      uvThreadpoolSize: process.env.UV_THREADPOOL_SIZE ?? "4 (Node's default)",
    };
    if (parts.has("sign")) {
      console.log(`Signing (${rounds} rounds of ${seconds} s per figure)…`);
      for (const curve of CURVES) result.sign.push(await signRow(token, raw, curve, sizes, seconds, rounds));
    }
    if (parts.has("generate")) {
      console.log("Key generation…");
      const generateSizes = [...new Set([1, availableParallelism()])];
      for (const curve of CURVES) result.generate.push(await generateRow(token, raw, curve, generateSizes));
    }
    if (parts.has("inflight")) {
      console.log(
        `Calls in flight (raw async and the module in alternating slices of ${option(args, "slice-ms", 100)} ms, ${option(args, "slices", 30)} each)…`,
      );
      const rawAsync = new RawAsyncHsm(token);
      try {
        const latencies = latencyMs > 0 ? [0, latencyMs] : [0];
        const threads = Math.floor(option(args, "threads", availableParallelism()));
        result.inFlight = await inFlightRows(token, rawAsync, {
          curves,
          inFlights,
          latencies,
          signFroms,
          sliceMs: option(args, "slice-ms", 100),
          slices: Math.max(1, Math.floor(option(args, "slices", 30))),
          threads,
        });
      } finally {
        rawAsync.close();
      }
    }
    if (parts.has("lookup") && keyCount > 0) {
      const pooled = availableParallelism();
      const population = await withPool(token, pooled, (pool) => populate(pool, keyCount));
      const rawHsm = raw;
      result.lookup = await withPool(token, 1, (pool) => measureLookup(pool, rawHsm, population, 3));
      console.log("First use among them, on a fresh pool…");
      for (const signFrom of signFroms)
        result.firstUse.push(await measureFirstUse(token, population.refs, signFrom));
    }
    result.load.after = loadavg();
    printReport(result);
  } finally {
    raw?.close();
    token.cleanup();
  }
}
