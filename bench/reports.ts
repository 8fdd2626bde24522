// `npm run bench -- reports [--events 100000] [--engines pglite,postgres] [--url …]` (issue 15 items 5 and 8):
// the time to export a period's report over 100,000 audit events — the CSV, the PDF and the JSON evidence bundle,
// each through exportReport as the download routes call it, its body read to the end — and whether the export
// holds the server up: the event loop's delay (perf_hooks monitorEventLoopDelay) while each export runs, against
// a same-run base of the same process idling for as long. The events (member.reactivated and access.denied,
// alternately: a membership section and an anomaly section of 50,000 each) are appended through appendAudit in
// transactions of 500, sealed into the chain and the tree, and covered by a checkpoint signed in the HSM
// (SoftHSM, a temporary token) before the exports are timed.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { count, isNull } from "drizzle-orm";
import type { Db } from "@/db/client";
import { auditEvents } from "@/db/schema";
import { appendAudit } from "@/server/audit/append";
import { checkpointIfDue } from "@/server/audit/checkpoints";
import { env } from "@/server/env";
import { closeHsm, closeServerTokenSet } from "@/server/hsm";
import { createTestToken } from "@/server/hsm/testing/bench";
import { hsmEnvironment } from "@/server/operations/executor/testing/fixtures";
import { exportReport, type ReportKind } from "@/server/reports/export";
import type { ReportProgress } from "@/server/reports/progress";
import { option, percentile } from "./measure";
import { createBenchDatabase, DEFAULT_POSTGRES_URL, postgresUnreachable } from "./operations-db";

type Engine = "pglite" | "postgres";
type Figures = {
  engine: Engine;
  kind: ReportKind | "idle (base)";
  seconds: number;
  mib: number;
  steps: number;
  loopP99: number;
  loopMax: number;
};

const BATCH = 500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function seed(db: Db, events: number, at: Date): Promise<void> {
  const started = performance.now();
  const batches = Math.ceil(events / BATCH);
  let next = 0;
  const lane = async () => {
    for (let b = next++; b < batches; b = next++) {
      await db.transaction(async (tx) => {
        for (let i = b * BATCH; i < Math.min(events, (b + 1) * BATCH); i++) {
          const memberId = `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`;
          await appendAudit(
            tx,
            i % 2 === 0
              ? {
                  action: "member.reactivated",
                  actor: "system",
                  subject: `member:${memberId}`,
                  at,
                  data: { memberId },
                }
              : {
                  action: "access.denied",
                  actor: `member:${memberId}`,
                  subject: "procedure:keys.list",
                  at,
                  data: { memberId, procedure: "keys.list", requiredRoles: ["admin"] },
                },
          );
        }
      });
    }
  };
  await Promise.all([lane(), lane(), lane(), lane()]);
  // Sealed by the integrator after each commit; wait for the last, then have the HSM sign a checkpoint.
  for (let waited = 0; waited < 120_000; waited += 200) {
    const [{ n } = { n: 0 }] = await db
      .select({ n: count() })
      .from(auditEvents)
      .where(isNull(auditEvents.seq));
    if (n === 0) break;
    await sleep(200);
  }
  // Signed under the origin the export uses (env().audit), as the server's checkpointer would.
  await checkpointIfDue(db, { config: env().audit, now: new Date(), force: true });
  console.log(
    `  seeded ${events.toLocaleString("en")} events in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
}

/**
 * Runs `work` while a 10 ms timer measures how late each of its ticks comes (the event loop's delay, as a request
 * arriving then would see it); the last gap, up to the end of the work, counts too, so a loop that never turned
 * shows as one long delay. p99 and max in ms, with the number of ticks.
 */
async function underLoopMonitor<T>(
  work: () => Promise<T>,
): Promise<{ result: T; p99: number; max: number; ticks: number }> {
  const TICK = 10;
  const delays: number[] = [];
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    delays.push(Math.max(0, now - last - TICK));
    last = now;
  }, TICK);
  try {
    const result = await work();
    delays.push(Math.max(0, performance.now() - last - TICK));
    return { result, p99: percentile(delays, 99), max: Math.max(...delays), ticks: delays.length };
  } finally {
    clearInterval(timer);
  }
}

async function measureEngine(engine: Engine, o: { url: string; events: number }): Promise<Figures[]> {
  const database = await createBenchDatabase(engine, o.url, 10);
  const db = database.db;
  const at = new Date();
  const period = { from: new Date(at.getTime() - 3_600_000), to: new Date(at.getTime() + 3_600_000) };
  const out: Figures[] = [];
  try {
    await seed(db, o.events, at);
    for (const kind of ["csv", "pdf", "evidence"] as const) {
      let steps = 0;
      const started = performance.now();
      const {
        result: bytes,
        p99,
        max,
      } = await underLoopMonitor(async () => {
        const download = await exportReport(db, {
          who: { id: "00000000-0000-4000-8000-00000000b0b0", roles: ["auditor"] },
          kind,
          period,
          now: new Date(),
          progress: (_p: ReportProgress) => {
            steps++;
          },
        });
        let n = 0;
        const reader = download.body.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          n += value.byteLength;
        }
        return n;
      });
      const seconds = (performance.now() - started) / 1000;
      out.push({ engine, kind, seconds, mib: bytes / 1_048_576, steps, loopP99: p99, loopMax: max });
      console.log(
        `  ${engine} ${kind}: ${seconds.toFixed(1)} s, ${(bytes / 1_048_576).toFixed(1)} MiB, event loop p99 ${p99.toFixed(1)} ms (max ${max.toFixed(0)} ms)`,
      );
      // The same process idle as long, for the loop's base delay on this machine now.
      const idle = await underLoopMonitor(() => sleep(Math.min(10_000, seconds * 1000)));
      out.push({
        engine,
        kind: "idle (base)",
        seconds,
        mib: 0,
        steps: 0,
        loopP99: idle.p99,
        loopMax: idle.max,
      });
    }
    return out;
  } finally {
    await database.drop();
  }
}

export async function runReportsBench(args: string[]): Promise<void> {
  const at = args.indexOf("--engines");
  const engines = (at >= 0 ? (args[at + 1] ?? "") : "pglite,postgres").split(",").filter(Boolean) as Engine[];
  if (engines.some((e) => e !== "pglite" && e !== "postgres"))
    throw new Error("--engines takes pglite,postgres");
  const events = option(args, "events", 100_000);
  const urlAt = args.indexOf("--url");
  const url = urlAt >= 0 ? (args[urlAt + 1] ?? DEFAULT_POSTGRES_URL) : DEFAULT_POSTGRES_URL;
  if (engines.includes("postgres")) {
    const why = await postgresUnreachable(url);
    if (why) throw new Error(`PostgreSQL at ${url}: ${why} (or pass --engines pglite)`);
  }
  const token = createTestToken("kw-bench-reports");
  const dataDir = mkdtempSync(path.join(tmpdir(), "keyward-bench-reports-"));
  Object.assign(process.env, hsmEnvironment(token, dataDir));
  const results: Figures[] = [];
  try {
    console.log(
      `reports bench: a period of ${events.toLocaleString("en")} events, each export read to its end`,
    );
    for (const engine of engines) results.push(...(await measureEngine(engine, { url, events })));
  } finally {
    await closeServerTokenSet();
    closeHsm();
    token.cleanup();
    rmSync(dataDir, { recursive: true, force: true });
  }
  console.log(
    "\n| engine | export | time | size | progress steps | event-loop delay p99 / max | same-run idle p99 / max |",
  );
  console.log("|---|---|---|---|---|---|---|");
  for (let i = 0; i + 1 < results.length; i += 2) {
    const r = results[i];
    const idle = results[i + 1];
    if (r === undefined || idle === undefined) continue;
    console.log(
      `| ${r.engine} | ${r.kind} | ${r.seconds.toFixed(1)} s | ${r.mib.toFixed(1)} MiB | ${r.steps} | ${r.loopP99.toFixed(1)} / ${r.loopMax.toFixed(0)} ms | ${idle.loopP99.toFixed(1)} / ${idle.loopMax.toFixed(0)} ms |`,
    );
  }
}
