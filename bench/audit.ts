// `npm run bench -- audit [--seconds 4] [--rounds 3] [--writers 50] [--engines pglite,postgres] [--url …] [--checkpoint-ms 500]
//  [--verify-events 100000,1000000] [--verify-only] [--verify-format v2|v1] [--verify-cli path] [--verify-quiet-only]`
// (issue 15 item 8): audit events appended per second by 50 concurrent writers, each a transaction of its own
// that writes one event through appendAudit (staged; the integration round its commit starts seals it into the
// chain and the RFC 9162 tree while the writer goes on), against a same-run base: the same transactions
// inserting the same row into a plain table with no trigger, chain or tree. Rounds alternate base and audit,
// and an audit round ends only when every event it wrote is sealed: its rate is events appended AND sealed per
// second (the time the integrator needed after the last commit, its lag, counts), so a backlog left for the next
// round cannot flatter it. Meanwhile a checkpointer signs tree heads in the HSM (SoftHSM, a temporary token) as
// the server's timer does — after 1,000 new events or 0.5 s, asked every checkpointTickMs — and each event's
// integration latency is measured: from its transaction's call returning to the commit of the first signed
// checkpoint that covers it.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { count, inArray, sql } from "drizzle-orm";
import type { Db } from "@/db/client";
import { auditEvents } from "@/db/schema";
import { appendAudit } from "@/server/audit/append";
import { checkpointIfDue, checkpointTickMs } from "@/server/audit/checkpoints";
import { sealedSoFar } from "@/server/audit/integrate";
import { closeHsm, closeServerTokenSet } from "@/server/hsm";
import { createTestToken } from "@/server/hsm/testing/bench";
import { hsmEnvironment } from "@/server/operations/executor/testing/fixtures";
import { type VerifyFigures, measureVerification } from "./audit-verify";
import { option, percentile, storm } from "./measure";
import { createBenchDatabase, DEFAULT_POSTGRES_URL, postgresUnreachable } from "./operations-db";

type Engine = "pglite" | "postgres";

type EngineResult = {
  engine: Engine;
  base: number[];
  audit: number[];
  latencies: number[];
  /** Per audit round: ms from the round's last commit until every event it wrote was sealed. */
  lags: number[];
  checkpoints: number;
  events: number;
};

const CONFIG = { origin: "bench.keyward.local/audit", everyEvents: 1_000, everyMs: 500 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/**
 * Each writer's next transaction starts in a turn of the event loop of its own, as a request arriving on a
 * socket would: PGlite answers without leaving the microtask queue, so 50 writers chaining transactions would
 * otherwise never let a timer run (the checkpointer's, the HSM pool's messages) until the round ended.
 */
const request = () => new Promise<void>((r) => setImmediate(r));

function listOption(args: string[], name: string, fallback: string): string[] {
  const at = args.indexOf(`--${name}`);
  return (at >= 0 ? (args[at + 1] ?? "") : fallback).split(",").filter(Boolean);
}

/** The checkpointer's loop, as startCheckpointTimer runs it, recording when each checkpoint committed. */
function runCheckpointer(db: Db): { covered: { size: number; at: number }[]; stop: () => Promise<void> } {
  const covered: { size: number; at: number }[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const c = await checkpointIfDue(db, { config: CONFIG, now: new Date() });
      if (c) covered.push({ size: c.size, at: Date.now() });
      await sleep(checkpointTickMs(CONFIG));
    }
  })();
  return {
    covered,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

async function measureEngine(
  engine: Engine,
  o: { url: string; seconds: number; rounds: number; writers: number },
) {
  const database = await createBenchDatabase(engine, o.url, o.writers + 10);
  const db = database.db;
  try {
    await db.execute(sql`CREATE TABLE bench_plain (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at timestamptz NOT NULL, actor text NOT NULL,
      action text NOT NULL, subject text NOT NULL, data jsonb NOT NULL)`);
    const checkpointer = runCheckpointer(db);
    const committed = new Map<number, number>(); // staging id → when its transaction's call returned
    const result: EngineResult = {
      engine,
      base: [],
      audit: [],
      latencies: [],
      lags: [],
      checkpoints: 0,
      events: 0,
    };
    const event = (i: number) => {
      const memberId = `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`;
      return {
        action: "member.reactivated" as const,
        actor: "system" as const,
        subject: `member:${memberId}`,
        at: new Date(),
        data: { memberId },
      };
    };
    for (let round = 0; round < o.rounds; round++) {
      const base = await storm(
        async (i) => {
          await request();
          await db.transaction(async (tx) => {
            const e = event(i);
            await tx.execute(
              sql`INSERT INTO bench_plain (at, actor, action, subject, data) VALUES (${e.at}, ${e.actor}, ${e.action}, ${e.subject}, ${JSON.stringify(e.data)}::jsonb)`,
            );
          });
        },
        o.writers,
        o.seconds,
      );
      const audit = await storm(
        async (i) => {
          await request();
          const { id } = await db.transaction((tx) => appendAudit(tx, event(i)));
          committed.set(id, Date.now());
        },
        o.writers,
        o.seconds,
      );
      const lagFrom = performance.now();
      await sealedSoFar(db);
      const lag = performance.now() - lagFrom;
      const sealedRate = audit.rate * (o.seconds / (o.seconds + lag / 1000));
      result.base.push(base.rate);
      result.audit.push(sealedRate);
      result.lags.push(lag);
      console.log(
        `  ${engine} round ${round + 1}: base ${base.rate.toFixed(0)} tx/s, audit ${sealedRate.toFixed(0)} events/s appended and sealed (${(sealedRate / base.rate).toFixed(2)}x; commits ${audit.rate.toFixed(0)}/s, sealing lag ${lag.toFixed(0)} ms)`,
      );
    }
    // Every measured event is covered by a checkpoint within a few seconds of the last round.
    const [{ n } = { n: 0 }] = await db.select({ n: count() }).from(auditEvents);
    for (let waited = 0; waited < 10_000; waited += 100) {
      if ((checkpointer.covered.at(-1)?.size ?? 0) >= n) break;
      await sleep(100);
    }
    await checkpointer.stop();
    const ids = [...committed.keys()];
    for (let i = 0; i < ids.length; i += 5_000) {
      const rows = await db
        .select({ id: auditEvents.id, seq: auditEvents.seq })
        .from(auditEvents)
        .where(inArray(auditEvents.id, ids.slice(i, i + 5_000)));
      for (const row of rows) {
        const at = committed.get(row.id);
        const seq = row.seq;
        const cover = checkpointer.covered.find((c) => seq !== null && c.size >= seq);
        if (at !== undefined && cover) result.latencies.push(cover.at - at);
      }
    }
    result.checkpoints = checkpointer.covered.length;
    result.events = committed.size;
    return result;
  } finally {
    await database.drop();
  }
}

export async function runAuditBench(args: string[]): Promise<void> {
  const verifyOnly = args.includes("--verify-only");
  const engines = (verifyOnly ? [] : listOption(args, "engines", "pglite,postgres")) as Engine[];
  if (engines.some((e) => e !== "pglite" && e !== "postgres"))
    throw new Error("--engines takes pglite,postgres");
  const seconds = option(args, "seconds", 4);
  const rounds = option(args, "rounds", 3);
  const writers = option(args, "writers", 50);
  // T of "every N events and every T seconds": integration latency is bounded by it (the server's default,
  // KEYWARD_CHECKPOINT_SECONDS=0.5, unless given).
  CONFIG.everyMs = option(args, "checkpoint-ms", 500);
  const urlAt = args.indexOf("--url");
  const url = urlAt >= 0 ? (args[urlAt + 1] ?? DEFAULT_POSTGRES_URL) : DEFAULT_POSTGRES_URL;
  if (engines.includes("postgres")) {
    const why = await postgresUnreachable(url);
    if (why) throw new Error(`PostgreSQL at ${url}: ${why} (or pass --engines pglite)`);
  }
  const results: EngineResult[] = [];
  if (engines.length > 0) await measureAppends(engines, { url, seconds, rounds, writers }, results);
  await measureVerifier(args);
  const best = (xs: number[]) => Math.max(...xs);
  if (results.length === 0) return;
  console.log(
    "\n| engine | audit events/s appended and sealed (best; rounds) | same-run base: plain insert tx/s | ratio | sealing lag after a round (max) | integration p50 / p99 | checkpoints | target |",
  );
  console.log("|---|---|---|---|---|---|---|---|");
  for (const r of results) {
    const ratio = best(r.audit) / best(r.base);
    console.log(
      `| ${r.engine} | ${best(r.audit).toFixed(0)} (${r.audit.map((x) => x.toFixed(0)).join(", ")}) | ${best(r.base).toFixed(0)} (${r.base.map((x) => x.toFixed(0)).join(", ")}) | ${ratio.toFixed(2)}x | ${Math.max(...r.lags).toFixed(0)} ms | ${percentile(r.latencies, 50).toFixed(0)} / ${percentile(r.latencies, 99).toFixed(0)} ms (${r.latencies.length} of ${r.events} events) | ${r.checkpoints} | ${r.engine === "postgres" ? `>= 5,000/s: ${best(r.audit) >= 5000 ? "PASS" : "MISS"}; p99 < 1 s: ${percentile(r.latencies, 99) < 1000 ? "PASS" : "MISS"}` : "p99 < 1 s"} |`,
    );
  }
}

async function measureAppends(
  engines: Engine[],
  o: { url: string; seconds: number; rounds: number; writers: number },
  results: EngineResult[],
): Promise<void> {
  const { url, seconds, rounds, writers } = o;
  const token = createTestToken("kw-bench-audit");
  const dataDir = mkdtempSync(path.join(tmpdir(), "keyward-bench-audit-"));
  Object.assign(process.env, hsmEnvironment(token, dataDir));
  try {
    console.log(
      `audit bench: ${writers} writers, ${rounds} rounds of ${seconds} s per side, base and audit interleaved; checkpoints after ${CONFIG.everyEvents} events or ${CONFIG.everyMs} ms`,
    );
    for (const engine of engines)
      results.push(await measureEngine(engine, { url, seconds, rounds, writers }));
  } finally {
    await closeServerTokenSet();
    closeHsm();
    token.cleanup();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** The verifier, last (its bundles are built in this process's memory): one size per --verify-events entry. */
async function measureVerifier(args: string[]): Promise<void> {
  const format = listOption(args, "verify-format", "v2")[0] === "v1" ? "v1" : "v2";
  const cliAt = args.indexOf("--verify-cli");
  const cli = cliAt >= 0 ? args[cliAt + 1] : undefined;
  const verified: VerifyFigures[] = [];
  for (const n of listOption(args, "verify-events", "100000,1000000").map(Number)) {
    if (!Number.isSafeInteger(n) || n < 1)
      throw new Error("--verify-events takes sizes such as 100000,1000000");
    const v = await measureVerification(n, { format, cli, printing: !args.includes("--verify-quiet-only") });
    verified.push(v);
    for (const r of v.runs)
      console.log(
        `  verify ${n} events (${v.format}, ${v.bundleMiB.toFixed(0)} MiB, built in ${v.buildSeconds.toFixed(0)} s)${r.quiet ? " --quiet" : ", every check printed"}: ${r.seconds.toFixed(1)} s, peak RSS ${r.peakRssMiB.toFixed(0)} MiB, ${r.ok ? "VERIFIED" : "NOT VERIFIED"}`,
      );
  }
  console.log(
    "\n| events verified | format, file | CLI output | wall s (node start-up included) | events/s | peak RSS of the CLI | target |",
  );
  console.log("|---|---|---|---|---|---|---|---|");
  for (const v of verified)
    for (const r of v.runs)
      console.log(
        `| ${v.events.toLocaleString("en")} | ${v.format}, ${v.bundleMiB.toFixed(0)} MiB | ${r.quiet ? "--quiet" : "every check"} | ${r.seconds.toFixed(1)} | ${(v.events / r.seconds).toFixed(0)} | ${r.peakRssMiB.toFixed(0)} MiB | 1,000,000 in < 10 s, < 512 MiB${v.events === 1_000_000 ? `: ${r.seconds < 10 && r.peakRssMiB < 512 ? "PASS" : "MISS"}` : ""} |`,
      );
}
