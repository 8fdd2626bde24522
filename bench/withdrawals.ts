// `npm run bench -- withdrawals [--engines pglite,postgres] [--postgres URL] [--chains ethereum,solana,bitcoin]
// [--seconds 2] [--rounds 3] [--lanes 8] [--keys-per-chain 8] [--loaded-keys 10000] [--token-keys 0]
// [--profile postgres|pglite|none] [--cpu-profile-out FILE] [--psbts-per-key N] [--history N]`: auto-approved withdrawals per second end to end per
// chain (bench/withdrawals-flow.ts: API proposal → automatic approval → execute → audit), with the raw HSM sign
// rate of the chain's curve (pkcs11js C_Sign on one session, bench/hsm-raw.ts) measured in the same rounds,
// interleaved, as the base; the API's latency p50/p99; time per phase; a CPU profile of one extra round and what
// PostgreSQL's connections waited for; and this process's peak resident memory with `--loaded-keys` key rows
// (and `--token-keys` keys on the HSM token) beside the bench's own. Makes its own SoftHSM token, data folder,
// chain engines and databases (PGlite in memory; a fresh PostgreSQL database, dropped after) and removes them.
// `--history N` first puts N withdrawals executed earlier today into the window (bench/withdrawals-flow.ts
// prefillHistory), so a run shows what a day's volume does to every capped judgement. `--cpu-profile-out FILE`
// writes the profiled round's raw .cpuprofile there, to be read function by function.
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, cpus, loadavg, tmpdir } from "node:os";
import path from "node:path";
import { count, isNull } from "drizzle-orm";
import type { Db } from "@/db/client";
import { auditEvents, operations } from "@/db/schema";
import { verifyWholeChain } from "@/server/audit/verify";
import { chainConfig } from "@/server/chains/current";
import { velocityHistory } from "@/server/operations/judgement";
import { velocityTotals } from "@/server/withdrawals/velocity-sums";
import { parsePolicyDocument } from "@/server/policy/document";
import { CHAINS, type Chain } from "@/server/custody/types";
import { closeHsm, closeServerTokenSet } from "@/server/hsm";
import { type Curve, createTestToken } from "@/server/hsm/testing/bench";
import { hsmEnvironment } from "@/server/operations/executor/testing/fixtures";
import { RawHsm } from "./hsm-raw";
import { median, option, percentile } from "./measure";
import {
  type BenchEngine,
  createBenchDatabase,
  DEFAULT_POSTGRES_URL,
  postgresUnreachable,
} from "./operations-db";
import { seedKeys } from "./operations-keys";
import {
  approvedAtProposal,
  BENCH_CHAINS,
  prefillHistory,
  benchPolicy,
  emptyPhases,
  PHASES,
  type PhaseTimes,
  runLanes,
  type Setup,
  setUp,
  startChains,
  stopChains,
} from "./withdrawals-flow";
import { type ProfileShare, profiled, sampleWaits, type Waits, waitShares } from "./withdrawals-profile";

const TARGET_PER_SECOND = 1_000;
const TARGET_RSS_BYTES = 1024 ** 3;
const CURVE_OF: Record<Chain, Curve> = { ethereum: "secp256k1", bitcoin: "secp256k1", solana: "ed25519" };
type Engine = Extract<BenchEngine, "pglite" | "postgres">;
const ENGINE_NAMES: Record<Engine, string> = { pglite: "PGlite", postgres: "PostgreSQL" };

type Row = {
  engine: Engine;
  chain: Chain;
  lanes: number;
  /** End-to-end withdrawals per second, median of the rounds, and each round's. */
  rate: number;
  rates: number[];
  withdrawals: number;
  /** Operations in the table when the row started: each judgement reads the window's history (all of them). */
  operationsAtStart: number;
  /** Raw C_Sign per second on one session, the chain's curve, in the same rounds (median). */
  rawSign: number;
  apiP50Ms: number;
  apiP99Ms: number;
  phases: Record<string, { p50: number; p99: number; meanShare: number }>;
  /** CPU of this whole process (main thread, HSM pool threads, PGlite) per withdrawal, ms. */
  cpuMsPerWithdrawal: number;
  auditEventsPerWithdrawal: number;
  waits: { kind: string; share: number }[] | null;
  /** Share of the sampled run time some transaction held this chain's velocity lock (PostgreSQL only). */
  velocityLockHeld: number | null;
};

type Result = {
  date: string;
  machine: string;
  library: string;
  threads: number;
  seconds: number;
  rounds: number;
  loadedKeys: number;
  tokenKeys: number;
  /** Withdrawals executed earlier in the window, put in before the first chain (--history). */
  prefilled: number;
  load: { before: number[]; after: number[] };
  rows: Row[];
  skipped: string[];
  approval: { atProposal: number; settledByBench: number };
  profile: { engine: Engine; chain: Chain; rate: number; shares: ProfileShare[] } | null;
  audit: { engine: Engine; events: number; problems: number; unsealed: number }[];
  /**
   * At the end: what a capped judgement counts under the chain's lock now (velocityTotals over the ledger,
   * ethereum's cap) and what it read before the ledger (velocityHistory, row by row), p50 of 7 each.
   */
  history: { engine: Engine; operations: number; entries: number; p50Ms: number; totalsP50Ms: number }[];
  /** Highest resident set sampled (every 250 ms) while each engine's part ran. */
  engineRssBytes: { engine: Engine; bytes: number }[];
  peakRssBytes: number;
};

function listOption(args: string[], name: string, fallback: string): string[] {
  const at = args.indexOf(`--${name}`);
  return (at >= 0 ? (args[at + 1] ?? "") : fallback).split(",").filter((x) => x !== "");
}

async function auditCount(db: Db): Promise<number> {
  const [row] = await db.select({ n: count() }).from(auditEvents);
  return row?.n ?? 0;
}

function phaseFigures(phases: PhaseTimes): Row["phases"] {
  const total = PHASES.reduce((sum, p) => sum + phases[p].reduce((a, b) => a + b, 0), 0);
  return Object.fromEntries(
    PHASES.filter((p) => phases[p].length > 0).map((p) => [
      p,
      {
        p50: median(phases[p]),
        p99: percentile(phases[p], 99),
        meanShare: total > 0 ? phases[p].reduce((a, b) => a + b, 0) / total : 0,
      },
    ]),
  );
}

export async function runWithdrawalsBench(args: string[]): Promise<void> {
  const engines = listOption(args, "engines", "pglite,postgres") as Engine[];
  if (engines.some((e) => e !== "pglite" && e !== "postgres"))
    throw new Error("--engines takes pglite,postgres");
  const chainList = listOption(args, "chains", BENCH_CHAINS.join(",")) as Chain[];
  if (chainList.some((c) => !BENCH_CHAINS.includes(c)))
    throw new Error(`--chains takes some of ${BENCH_CHAINS.join(",")}`);
  const postgresUrl = listOption(args, "postgres", DEFAULT_POSTGRES_URL)[0] ?? DEFAULT_POSTGRES_URL;
  const seconds = option(args, "seconds", 2);
  const rounds = Math.max(1, Math.floor(option(args, "rounds", 3)));
  const lanes = Math.max(1, Math.floor(option(args, "lanes", 8)));
  const perChain = Math.max(1, Math.floor(option(args, "keys-per-chain", lanes)));
  const loadedKeys = Math.floor(option(args, "loaded-keys", 10_000));
  const tokenKeys = Math.floor(option(args, "token-keys", 0));
  const threads = Math.max(1, Math.floor(option(args, "threads", availableParallelism())));
  const psbtsPerKey = Math.ceil(option(args, "psbts-per-key", (150 * seconds * (rounds + 2)) / perChain));
  const profileOn = listOption(args, "profile", "postgres")[0] ?? "postgres";
  const prefill = Math.max(0, Math.floor(option(args, "history", 0)));
  const profileOut = listOption(args, "cpu-profile-out", "")[0];

  const token = createTestToken("kw-bench-wd");
  const dataDir = mkdtempSync(path.join(tmpdir(), "keyward-bench-wd-"));
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
  try {
    raw = new RawHsm(token);
    const result: Result = {
      date: new Date().toISOString(),
      machine: `${cpus()[0]?.model.trim() ?? "unknown CPU"}, ${availableParallelism()} CPUs, Node ${process.version}`,
      library: raw.library(),
      threads,
      seconds,
      rounds,
      loadedKeys,
      tokenKeys,
      prefilled: prefill,
      load: { before: loadavg(), after: [] },
      rows: [],
      skipped: [],
      approval: { atProposal: 0, settledByBench: 0 },
      profile: null,
      audit: [],
      history: [],
      engineRssBytes: [],
      peakRssBytes: 0,
    };
    if (tokenKeys > 0) {
      console.log(`Putting ${tokenKeys} keys on the token (raw C_GenerateKeyPair)…`);
      raw.generateRate("secp256k1", Math.ceil(tokenKeys / 2));
      raw.generateRate("ed25519", Math.floor(tokenKeys / 2));
    }
    const chains = await startChains();
    const unreachable = engines.includes("postgres") ? await postgresUnreachable(postgresUrl) : null;
    for (const engine of engines) {
      if (engine === "postgres" && unreachable !== null) {
        const line = `PostgreSQL at ${postgresUrl} did not answer (${unreachable}): skipped`;
        result.skipped.push(line);
        console.log(line);
        continue;
      }
      let rss = process.memoryUsage().rss;
      const rssTimer = setInterval(() => {
        rss = Math.max(rss, process.memoryUsage().rss);
      }, 250);
      const database = await createBenchDatabase(engine, postgresUrl);
      try {
        console.log(
          `${engine}: people, ${perChain} keys per curve by key.create, funds, the policy, a service account, ${loadedKeys} more key rows…`,
        );
        const setup = await setUp(database.db, chains, {
          perChain,
          psbtsPerKey,
          seedLoaded: (db) => (loadedKeys > 0 ? seedKeys(db, 1, loadedKeys) : Promise.resolve()),
        });
        if (prefill > 0) {
          console.log(`${engine}: ${prefill} withdrawals executed earlier today (--history)…`);
          await prefillHistory(setup, prefill);
        }
        for (const chain of chainList) {
          result.rows.push(
            await measureChain({ setup, engine, chain, lanes, seconds, rounds, raw, url: database.url }),
          );
        }
        if (profileOn === engine) {
          const chain = chainList[0] ?? "ethereum";
          console.log(`${engine} ${chain}: one more round under the CPU profiler…`);
          const { result: run, shares } = await profiled(
            () => runLanes(setup, chain, lanes, seconds, emptyPhases()),
            profileOut,
          );
          result.profile = { engine, chain, rate: run.rate, shares };
        }
        result.history.push({ engine, ...(await historyCost(database.db)) });
        const report = await verifyWholeChain(database.db);
        const [unsealed] = await database.db
          .select({ n: count() })
          .from(auditEvents)
          .where(isNull(auditEvents.seq));
        result.audit.push({
          engine,
          events: report.events,
          problems: report.problems.length,
          unsealed: unsealed?.n ?? 0,
        });
      } finally {
        clearInterval(rssTimer);
        result.engineRssBytes.push({ engine, bytes: Math.max(rss, process.memoryUsage().rss) });
        await database.drop();
      }
    }
    stopChains();
    result.approval = {
      atProposal: approvedAtProposal.seen,
      settledByBench: approvedAtProposal.settledByBench,
    };
    result.load.after = loadavg();
    result.peakRssBytes = process.resourceUsage().maxRSS * 1024;
    printReport(result);
  } finally {
    await closeServerTokenSet();
    raw?.close();
    closeHsm();
    cleanup();
  }
}

/**
 * What counting the velocity window costs at the end: velocityTotals (what every capped judgement runs now,
 * under the chain's lock: the cap's sums from the ledger) and velocityHistory (the row-by-row reading it replaced).
 */
async function historyCost(
  db: Db,
): Promise<{ operations: number; entries: number; p50Ms: number; totalsP50Ms: number }> {
  const policy = parsePolicyDocument(benchPolicy());
  const [ops] = await db.select({ n: count() }).from(operations);
  const times: number[] = [];
  const totalsTimes: number[] = [];
  let entries = 0;
  const caps = policy.rules.flatMap((r) => (r.deny ? [] : (r.velocity ?? [])));
  const op = { chain: "ethereum", asset: "ETH", amount: 1n, keyId: null, id: randomUUID() };
  for (let i = 0; i < 7; i++) {
    let start = performance.now();
    entries = (await velocityHistory(db, { policy, now: new Date() })).length;
    times.push(performance.now() - start);
    start = performance.now();
    await velocityTotals(db, { caps, op, now: new Date(), assets: chainConfig().assets });
    totalsTimes.push(performance.now() - start);
  }
  return { operations: ops?.n ?? 0, entries, p50Ms: median(times), totalsP50Ms: median(totalsTimes) };
}

async function measureChain(o: {
  setup: Setup;
  engine: Engine;
  chain: Chain;
  lanes: number;
  seconds: number;
  rounds: number;
  raw: RawHsm;
  url: string | undefined;
}): Promise<Row> {
  const { setup, chain, seconds } = o;
  const curve = CURVE_OF[chain];
  const signKey = setup.keys[chain][0];
  if (signKey === undefined) throw new Error(`no ${chain} key`);
  // What the HSM signs for this chain: a 32-byte digest (ECDSA) or a transfer message of ~150 bytes (Ed25519).
  const data = randomBytes(curve === "ed25519" ? 150 : 32);
  await runLanes(setup, chain, o.lanes, Math.min(1, seconds), emptyPhases()); // warm-up: JIT, caches, connections
  const phases = emptyPhases();
  const rates: number[] = [];
  const rawRates: number[] = [];
  let withdrawals = 0;
  let cpuMs = 0;
  const waits: Waits = {};
  let ticks = 0;
  let heldTicks = 0;
  const eventsBefore = await auditCount(setup.db);
  const [ops] = await setup.db.select({ n: count() }).from(operations);
  for (let round = 0; round < o.rounds; round++) {
    const subject = async () => {
      const sampling = o.url === undefined ? undefined : await sampleWaits(o.url);
      const cpuBefore = process.cpuUsage();
      try {
        const run = await runLanes(setup, chain, o.lanes, seconds, phases);
        rates.push(run.rate);
        withdrawals += run.withdrawals;
      } finally {
        const seen = await sampling?.stop();
        if (seen) {
          for (const [k, n] of Object.entries(seen.waits)) waits[k] = (waits[k] ?? 0) + n;
          ticks += seen.ticks;
          heldTicks += seen.velocityLockHeld[CHAINS.indexOf(chain)] ?? 0;
        }
      }
      const cpu = process.cpuUsage(cpuBefore);
      cpuMs += (cpu.user + cpu.system) / 1000;
    };
    const base = async () => {
      rawRates.push(o.raw.signRate(curve, signKey.hsmRef, data, Math.min(1, seconds)));
    };
    // Interleaved, alternating which goes first: this machine's speed drifts within seconds.
    if (round % 2 === 0) {
      await base();
      await subject();
    } else {
      await subject();
      await base();
    }
  }
  const events = (await auditCount(setup.db)) - eventsBefore;
  const api = phases.api;
  const row: Row = {
    engine: o.engine,
    chain,
    lanes: o.lanes,
    rate: median(rates),
    rates,
    withdrawals,
    operationsAtStart: ops?.n ?? 0,
    rawSign: median(rawRates),
    apiP50Ms: median(api),
    apiP99Ms: percentile(api, 99),
    phases: phaseFigures(phases),
    cpuMsPerWithdrawal: cpuMs / Math.max(1, withdrawals),
    auditEventsPerWithdrawal: events / Math.max(1, withdrawals),
    waits: o.url === undefined ? null : waitShares(waits),
    velocityLockHeld: o.url === undefined || ticks === 0 ? null : heldTicks / ticks,
  };
  console.log(
    `  ${o.engine} ${chain}: ${row.rate.toFixed(1)} withdrawals/s (${rates.map((r) => r.toFixed(1)).join(", ")}), raw ${curve} sign ${row.rawSign.toFixed(0)}/s, API p50 ${row.apiP50Ms.toFixed(1)} ms p99 ${row.apiP99Ms.toFixed(1)} ms`,
  );
  return row;
}

const verdict = (ok: boolean) => (ok ? "PASS" : "**MISS**");
const pct = (x: number) => `${(100 * x).toFixed(0)} %`;

function printReport(r: Result): void {
  const lines: string[] = [
    "",
    `Withdrawals benchmark, ${r.date}: ${r.machine}, ${r.library}, HSM pool ${r.threads} threads, ${r.rounds} rounds of ${r.seconds} s, load average ${r.load.before.map((x) => x.toFixed(1)).join(" ")} → ${r.load.after.map((x) => x.toFixed(1)).join(" ")}`,
    `Loaded besides the bench's keys: ${r.loadedKeys.toLocaleString("en")} key rows, ${r.tokenKeys.toLocaleString("en")} keys on the token; ${r.prefilled.toLocaleString("en")} withdrawals executed earlier in the window (--history).`,
    "",
    "| engine | chain | lanes | operations already in the window | withdrawals/s (median; rounds) | raw HSM sign /s (same rounds) | e2e ÷ raw | API p50 / p99 ms | CPU ms / withdrawal | audit events / withdrawal | target ≥ 1,000/s (PostgreSQL) |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const x of r.rows) {
    lines.push(
      `| ${ENGINE_NAMES[x.engine]} | ${x.chain} | ${x.lanes} | ${x.operationsAtStart.toLocaleString("en")} | ${x.rate.toFixed(1)} (${x.rates.map((v) => v.toFixed(1)).join(", ")}) | ${x.rawSign.toFixed(0)} (${CURVE_OF[x.chain]}) | ${(x.rate / x.rawSign).toFixed(3)}× | ${x.apiP50Ms.toFixed(1)} / ${x.apiP99Ms.toFixed(1)} | ${x.cpuMsPerWithdrawal.toFixed(1)} | ${x.auditEventsPerWithdrawal.toFixed(1)} | ${x.engine === "postgres" ? verdict(x.rate >= TARGET_PER_SECOND) : "—"} |`,
    );
  }
  lines.push("", `| engine | chain | ${PHASES.map((p) => `${p} p50 / p99 ms (share)`).join(" | ")} |`);
  lines.push(`| --- | --- | ${PHASES.map(() => "---").join(" | ")} |`);
  for (const x of r.rows) {
    const cells = PHASES.map((p) => {
      const f = x.phases[p];
      return f ? `${f.p50.toFixed(1)} / ${f.p99.toFixed(1)} (${pct(f.meanShare)})` : "—";
    });
    lines.push(`| ${ENGINE_NAMES[x.engine]} | ${x.chain} | ${cells.join(" | ")} |`);
  }
  for (const x of r.rows.filter((row) => row.waits !== null)) {
    const waits = x.waits ?? [];
    const top = waits.slice(0, 6).map((w) => `${w.kind} ${pct(w.share)}`);
    const integrator = waits.find((w) => w.kind.includes("audit integrator"))?.share ?? 0;
    lines.push(
      "",
      `PostgreSQL connections during ${x.chain} (sampled every 5 ms): ${top.join("; ")}. The audit integrator's lock: ${pct(integrator)}. The ${x.chain} velocity lock was held (by some transaction) ${x.velocityLockHeld === null ? "?" : pct(x.velocityLockHeld)} of the time.`,
    );
  }
  if (r.profile) {
    lines.push(
      "",
      `CPU profile of the main thread, ${ENGINE_NAMES[r.profile.engine]} ${r.profile.chain}, one extra round (${r.profile.rate.toFixed(1)} withdrawals/s under the profiler): self time`,
    );
    for (const s of r.profile.shares.slice(0, 14))
      lines.push(`- ${s.part}: ${pct(s.share)} (${s.ms.toFixed(0)} ms)`);
  }
  lines.push(
    "",
    `Approval: ${r.approval.atProposal} withdrawals came back approved from the proposal; ${r.approval.settledByBench} were left pending by proposeOperation and approved by the automatic rule in a transaction of their own (judgeOperation + settleJudgement, as a release does).`,
  );
  for (const h of r.history)
    lines.push(
      `Velocity on ${ENGINE_NAMES[h.engine]} at the end, ${h.entries} counted entries of ${h.operations} operations: the ethereum cap's sums from the ledger (what each capped judgement runs under the chain's lock) ${h.totalsP50Ms.toFixed(2)} ms; the row-by-row reading they replaced ${h.p50Ms.toFixed(1)} ms (p50 of 7).`,
    );
  for (const a of r.audit)
    lines.push(
      `Audit trail on ${ENGINE_NAMES[a.engine]}: ${a.events} events verified from seq 1, ${a.problems} problems, ${a.unsealed} unsealed.`,
    );
  for (const s of r.skipped) lines.push(s);
  const mib = (b: number) => `${(b / 1024 ** 2).toFixed(0)} MiB`;
  for (const e of r.engineRssBytes)
    lines.push(`Resident memory while ${ENGINE_NAMES[e.engine]} ran (highest sample): ${mib(e.bytes)}.`);
  lines.push(
    `Peak resident memory of this process: ${mib(r.peakRssBytes)} (${verdict(r.peakRssBytes < TARGET_RSS_BYTES)} < 1 GiB; it also holds EDR and litesvm${r.engineRssBytes.length > 1 ? ", and each engine in turn" : ""}).`,
  );
  console.log(lines.join("\n"));
  console.log(`BENCH_JSON ${JSON.stringify(r)}`);
}
