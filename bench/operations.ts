// `npm run bench -- operations [--parts throughput,votes,keys,firstuse] [--engines pglite,postgres]
// [--postgres URL] [--kinds p256,secp256k1,resume] [--seconds 2] [--rounds 3] [--lanes 8] [--voters 50]
// [--vote-rounds 4] [--keys 10000,100000] [--repeats 30] [--first-use-keys 10000] [--threads 2]`:
// quorum operations end to end per second (with raw HSM key generation measured in the same rounds as the
// base), vote latency with many voters at once, keys-list query time over many keys and first-use signing
// among them. Makes its own SoftHSM token, data folder and databases (PGlite in memory; a fresh PostgreSQL
// database, dropped after) and removes them; PostgreSQL is skipped, with a line saying so, if it does not answer.
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, cpus, loadavg, tmpdir } from "node:os";
import path from "node:path";
import { closeHsm, closeServerTokenSet } from "@/server/hsm";
import { createTestToken, HsmPool } from "@/server/hsm/testing/bench";
import { hsmEnvironment } from "@/server/operations/executor/testing/fixtures";
import { type FirstUse, measureFirstUse } from "./hsm-inflight";
import { populate } from "./hsm-lookup";
import { RawHsm } from "./hsm-raw";
import { cpuSnapshot, median, option, othersLoad, storm } from "./measure";
import {
  type BenchEngine,
  createBenchDatabase,
  DEFAULT_POSTGRES_URL,
  postgresUnreachable,
  sampleWaits,
  type WaitSamples,
} from "./operations-db";
import {
  emptySteps,
  type FlowContext,
  type FlowKind,
  runLanes,
  seedSuspendedKeys,
  type StepTimes,
  type VoteFigure,
  voteFigures,
} from "./operations-flow";
import { type KeysListResult, keysListRows } from "./operations-keys";
import { makePeople } from "./operations-people";
import { printOperationsReport } from "./operations-report";

export type ThroughputRow = {
  engine: BenchEngine;
  kind: FlowKind;
  lanes: number;
  /** End-to-end operations per second, median of the rounds, and every round's figure. */
  rate: number;
  rates: number[];
  operations: number;
  /** Raw pkcs11js C_GenerateKeyPair on one session of the main thread, same curve, same rounds. */
  rawKeygen: number | null;
  /** The HSM pool alone generating keys (the executor's HSM step with nothing around it), same rounds. */
  poolKeygen: number | null;
  steps: StepTimes;
  othersLoad: number;
  /** Keys on the bench's token when the row started (see tokenKeys). */
  tokenKeysAtStart: number;
  /** CPU time of this whole process (main thread, HSM pool threads, PGlite) per end-to-end operation, ms. */
  cpuMsPerOperation: number;
  /** PostgreSQL: what the connections were doing during the end-to-end rounds (sampled); null on PGlite. */
  waits: WaitSamples | null;
};

export type EngineResult = {
  engine: BenchEngine;
  skipped: string | null;
  throughput: ThroughputRow[];
  votes: VoteFigure[];
  keys: KeysListResult[];
};

export type OperationsBenchResult = {
  date: string;
  machine: string;
  library: string;
  threads: number;
  seconds: number;
  rounds: number;
  load: { before: number[]; after: number[] };
  engines: EngineResult[];
  firstUse: FirstUse | undefined;
  /** key.create again once the first-use part has filled the token: the HSM step among many keys. */
  atScale: ThroughputRow | undefined;
  atScaleError?: string;
};

function listOption(args: string[], name: string, fallback: string): string[] {
  const at = args.indexOf(`--${name}`);
  return (at >= 0 ? (args[at + 1] ?? "") : fallback).split(",").filter((x) => x !== "");
}

function textOption(args: string[], name: string, fallback: string): string {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? (args[at + 1] ?? fallback) : fallback;
}

const KINDS: readonly FlowKind[] = ["p256", "secp256k1", "resume"];
/**
 * Keys this run has put on its token so far (bases and operations alike). Every key.create searches the token
 * for its reference first (server/hsm/keys/keys.ts), and SoftHSM scans every object for a search, so the HSM
 * step's cost grows with this number: each row says where it started.
 */
let tokenKeys = 0;
const ENGINES: readonly BenchEngine[] = ["pglite", "postgres", "postgres-nosync"];

export async function runOperationsBench(args: string[]): Promise<void> {
  const parts = new Set(listOption(args, "parts", "throughput,votes,keys,firstuse"));
  const engines = listOption(args, "engines", "pglite,postgres,postgres-nosync") as BenchEngine[];
  if (engines.some((e) => !ENGINES.includes(e)))
    throw new Error(`--engines takes some of ${ENGINES.join(",")}`);
  const kinds = listOption(args, "kinds", KINDS.join(",")) as FlowKind[];
  if (kinds.some((k) => !KINDS.includes(k))) throw new Error(`--kinds takes some of ${KINDS.join(",")}`);
  const postgresUrl = textOption(args, "postgres", DEFAULT_POSTGRES_URL);
  const seconds = option(args, "seconds", 2);
  const rounds = Math.max(1, Math.floor(option(args, "rounds", 3)));
  const lanes = Math.max(1, Math.floor(option(args, "lanes", 8)));
  const voters = Math.max(2, Math.floor(option(args, "voters", 50)));
  const voteRounds = Math.max(1, Math.floor(option(args, "vote-rounds", 4)));
  const keySizes = listOption(args, "keys", "10000,100000").map(Number);
  const repeats = Math.max(1, Math.floor(option(args, "repeats", 30)));
  const firstUseKeys = Math.floor(option(args, "first-use-keys", 10_000));
  const threads = Math.max(1, Math.floor(option(args, "threads", availableParallelism())));
  const scaleLanes = Math.max(1, Math.floor(option(args, "scale-lanes", 2)));

  const token = createTestToken("kw-bench-ops");
  const dataDir = mkdtempSync(path.join(tmpdir(), "keyward-bench-ops-"));
  // The executor reaches the HSM through the server's token set, configured like a server's: this token.
  Object.assign(process.env, { ...hsmEnvironment(token, dataDir), KEYWARD_HSM_POOL_SIZE: String(threads) });
  const cleanup = () => {
    token.cleanup();
    rmSync(dataDir, { recursive: true, force: true });
  };
  process.once("SIGINT", () => {
    cleanup();
    process.exit(130);
  });
  let raw: RawHsm | undefined;
  let pool: HsmPool | undefined;
  try {
    raw = new RawHsm(token);
    pool = await HsmPool.start(token.config, { size: threads });
    const result: OperationsBenchResult = {
      date: new Date().toISOString(),
      machine: `${cpus()[0]?.model.trim() ?? "unknown CPU"}, ${availableParallelism()} CPUs, Node ${process.version}`,
      library: raw.library(),
      threads,
      seconds,
      rounds,
      load: { before: loadavg(), after: [] },
      engines: [],
      firstUse: undefined,
      atScale: undefined,
    };
    const unreachable = engines.some((e) => e !== "pglite") ? await postgresUnreachable(postgresUrl) : null;
    for (const engine of engines) {
      const entry: EngineResult = { engine, skipped: null, throughput: [], votes: [], keys: [] };
      result.engines.push(entry);
      if (engine !== "pglite" && unreachable !== null) {
        entry.skipped = `PostgreSQL at ${postgresUrl} did not answer (${unreachable}): skipped`;
        console.log(entry.skipped);
        continue;
      }
      if (parts.has("throughput") || parts.has("votes")) {
        const database = await createBenchDatabase(engine, postgresUrl);
        try {
          console.log(
            `${engine}: ${voters} approvers, an operator and an admin through the real ceremonies…`,
          );
          const people = await makePeople(database.db, voters);
          if (parts.has("throughput")) {
            for (const kind of kinds) {
              entry.throughput.push(
                await throughputRow({
                  db: database.db,
                  url: database.url,
                  engine,
                  kind,
                  people,
                  lanes,
                  seconds,
                  rounds,
                  raw,
                  pool,
                  threads,
                }),
              );
            }
          }
          if (parts.has("votes")) {
            console.log(`${engine}: ${voters} voters at once, ${voteRounds} rounds of each shape…`);
            const url = database.url;
            entry.votes = await voteFigures(
              database.db,
              people,
              voteRounds,
              url === undefined ? undefined : () => sampleWaits(url),
            );
            for (const v of entry.votes) {
              console.log(
                `  ${v.shape === "one" ? "one operation" : `${v.operations} operations`}: vote p50 ${v.p50Ms.toFixed(1)} ms, p99 ${v.p99Ms.toFixed(1)} ms`,
              );
            }
          }
        } finally {
          await database.drop();
        }
      }
      // Reads gain nothing from a commit that does not wait: the diagnostic engine skips the keys list.
      if (parts.has("keys") && engine !== "postgres-nosync") {
        const database = await createBenchDatabase(engine, postgresUrl);
        try {
          console.log(
            `${engine}: keys list over ${keySizes.join(", ")} keys (${repeats} runs of each query)…`,
          );
          entry.keys = await keysListRows(database.db, keySizes, repeats);
        } finally {
          await database.drop();
        }
      }
    }
    if (parts.has("firstuse") && firstUseKeys > 0) {
      // The figures so far first: what follows fills the token with many keys and starts a second kind of pool.
      result.load.after = loadavg();
      printOperationsReport(result);
      console.log(`First use among ${firstUseKeys} keys: making them…`);
      const population = await populate(pool, firstUseKeys);
      tokenKeys += population.refs.length;
      // The same key.create operation now that the token holds as many keys as a normal installation.
      const engine = engines.find((e) => e === "postgres" && unreachable === null) ?? "pglite";
      const database = await createBenchDatabase(engine, postgresUrl);
      try {
        console.log(
          `key.create P-256 on ${engine} with ${tokenKeys} keys on the token, ${scaleLanes} lanes…`,
        );
        const people = await makePeople(database.db, 2 * scaleLanes);
        result.atScale = await throughputRow({
          db: database.db,
          url: database.url,
          engine,
          kind: "p256",
          people,
          lanes: scaleLanes,
          seconds,
          rounds,
          raw,
          pool,
          threads,
        });
      } catch (e) {
        // An operation that did not end executed (an HSM call past its deadline, say) is a result here.
        result.atScaleError = `${scaleLanes} lanes among ${tokenKeys} keys: ${e instanceof Error ? e.message : String(e)}`;
        console.log(`  failed: ${result.atScaleError}`);
      } finally {
        await database.drop();
      }
      // Last, as in bench/hsm.ts: a testing pool started and closed beside the server's (a run that went on
      // to use the server's pool after it ended in a segmentation fault once).
      console.log("First use among them, on a fresh pool…");
      result.firstUse = await measureFirstUse(token, population.refs, "threads");
    }
    result.load.after = loadavg();
    printOperationsReport(result);
  } finally {
    await pool?.close();
    await closeServerTokenSet();
    raw?.close();
    closeHsm();
    cleanup();
  }
}

async function throughputRow(o: {
  db: FlowContext["db"];
  url: string | undefined;
  engine: BenchEngine;
  kind: FlowKind;
  people: FlowContext["people"];
  lanes: number;
  seconds: number;
  rounds: number;
  raw: RawHsm;
  pool: HsmPool;
  threads: number;
}): Promise<ThroughputRow> {
  const { kind, seconds } = o;
  const curve = kind === "resume" ? null : kind;
  // key.resume takes one suspended key per operation: more than the fastest rate seen here could use.
  const suspended =
    kind === "resume" ? await seedSuspendedKeys(o.db, Math.ceil(800 * seconds * (o.rounds + 1))) : [];
  const ctx: FlowContext = { db: o.db, people: o.people, kind, suspended, steps: emptySteps() };
  const tokenKeysAtStart = tokenKeys;
  const warm = await runLanes(ctx, o.lanes, Math.min(1, seconds)); // warm-up: caches, JIT, connections
  if (curve !== null) tokenKeys += warm.operations;
  ctx.steps = emptySteps();
  const rates: number[] = [];
  const rawRates: number[] = [];
  const poolRates: number[] = [];
  let operations = 0;
  const waits: WaitSamples = {};
  let cpuMs = 0;
  const from = cpuSnapshot();
  for (let round = 0; round < o.rounds; round++) {
    const subject = async () => {
      const sampling = o.url === undefined ? undefined : await sampleWaits(o.url);
      const cpuBefore = process.cpuUsage();
      let run: Awaited<ReturnType<typeof runLanes>>;
      try {
        run = await runLanes(ctx, o.lanes, seconds);
      } finally {
        // Stopped whatever happens: its connection would keep the database from being dropped.
        await sampling?.stop();
      }
      const cpu = process.cpuUsage(cpuBefore);
      cpuMs += (cpu.user + cpu.system) / 1000;
      const seen = sampling === undefined ? undefined : sampling.samples;
      if (seen) for (const [k, n] of Object.entries(seen)) waits[k] = (waits[k] ?? 0) + n;
      rates.push(run.rate);
      operations += run.operations;
      if (curve !== null) tokenKeys += run.operations;
    };
    const bases = async () => {
      if (curve === null) return;
      const rawCount = Math.max(10, Math.ceil(60 * seconds));
      rawRates.push(o.raw.generateRate(curve, rawCount));
      tokenKeys += rawCount;
      const { rate } = await storm(
        () => {
          tokenKeys++;
          return o.pool.execute({ op: "generate", curve, label: "bench-pool-generate", exportable: "never" });
        },
        2 * o.threads,
        seconds,
        100,
      );
      poolRates.push(rate);
    };
    // Interleaved, alternating which goes first: this machine's speed drifts within seconds.
    if (round % 2 === 0) {
      await bases();
      await subject();
    } else {
      await subject();
      await bases();
    }
  }
  const row: ThroughputRow = {
    engine: o.engine,
    kind,
    lanes: o.lanes,
    rate: median(rates),
    rates,
    operations,
    rawKeygen: curve === null ? null : median(rawRates),
    poolKeygen: curve === null ? null : median(poolRates),
    steps: ctx.steps,
    othersLoad: othersLoad(from, availableParallelism()),
    waits: o.url === undefined ? null : waits,
    tokenKeysAtStart,
    cpuMsPerOperation: cpuMs / Math.max(1, operations),
  };
  console.log(
    `  ${o.engine} ${kind}: ${row.rate.toFixed(1)} operations/s (${rates.map((r) => r.toFixed(1)).join(", ")})` +
      (row.rawKeygen === null
        ? ""
        : `, raw keygen ${row.rawKeygen.toFixed(0)}/s, pool keygen ${row.poolKeygen?.toFixed(0)}/s`),
  );
  return row;
}
