// The long kill -9 run (scripts/soak-executor.mjs): per round, a few approved key.create operations; a child
// server process (claim-child.ts, stage "run") claims and executes one and is SIGKILLed at a random moment of
// its life (before the claim, after it, during the HSM call, before or after completion); then this process
// recovers and executes the rest like a restarted server. After every round: each operation executed exactly
// once (state, one keys row, one operation.executed, the HSM's key under its ref has the recorded public key),
// none lost, and the audit chain intact. Needs softhsm2-util; PostgreSQL with `url`, else PGlite in a folder.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { inArray } from "drizzle-orm";
import pg from "pg";
import { type Database, openDatabase } from "@/db/client";
import { auditEvents, keys, operations } from "@/db/schema";
import { verifyWholeChain } from "@/server/audit/verify";
import { closeHsm, closeServerTokenSet } from "@/server/hsm";
import { findKey, operationKeyRef } from "@/server/hsm/signer";
import { DEFAULT_LEASE } from "../claim";
import { recoverExecuting } from "../recover";
import { runExecutorRound } from "../run";
import { runAndKill } from "./child";
import { hsmEnvironment, insertKeyCreates, seedInitiator } from "./fixtures";

export type SoakOptions = {
  rounds: number;
  perRound: number;
  url?: string;
  maxKillMs: number;
  log: (line: string) => void;
};
export type SoakReport = {
  rounds: number;
  operations: number;
  killedAt: Record<string, number>;
  problems: string[];
};

function softHsmToken(dir: string): { conf: string; label: string; pin: string } {
  const tokens = path.join(dir, "tokens");
  mkdirSync(tokens, { mode: 0o700 });
  const conf = path.join(dir, "softhsm2.conf");
  writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  const pin = randomBytes(12).toString("base64url");
  const label = "kw-soak";
  const init = spawnSync(
    "softhsm2-util",
    [
      "--init-token",
      "--free",
      "--label",
      label,
      "--so-pin",
      randomBytes(12).toString("base64url"),
      "--pin",
      pin,
    ],
    { env: { ...process.env, SOFTHSM2_CONF: conf }, encoding: "utf8" },
  );
  if (init.status !== 0) throw new Error(`softhsm2-util --init-token failed: ${init.stderr || init.stdout}`);
  return { conf, label, pin };
}

export async function soak(options: SoakOptions): Promise<SoakReport> {
  const dir = mkdtempSync(path.join(tmpdir(), "keyward-soak-"));
  const token = softHsmToken(dir);
  const env = hsmEnvironment(token, dir);
  Object.assign(process.env, env);
  let dbName: string | undefined;
  let dbUrl: string | undefined;
  if (options.url !== undefined) {
    dbName = `keyward_soak_${randomBytes(6).toString("hex")}`;
    const admin = new pg.Client({ connectionString: options.url });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${dbName}`);
    await admin.end();
    const u = new URL(options.url);
    u.pathname = `/${dbName}`;
    dbUrl = u.toString();
  }
  const folder = path.join(dir, "pglite");
  const open = (): Promise<Database> =>
    dbUrl !== undefined
      ? openDatabase({ engine: "postgres", url: dbUrl })
      : openDatabase({ engine: "pglite", folder });
  const childEnv: Record<string, string> =
    dbUrl !== undefined ? { KW_CHILD_DATABASE_URL: dbUrl } : { KW_CHILD_PGLITE: folder };
  const report: SoakReport = { rounds: 0, operations: 0, killedAt: {}, problems: [] };
  try {
    let database = await open();
    const seed = await seedInitiator(database.db, new Date());
    for (let round = 0; round < options.rounds; round++) {
      const ids = await insertKeyCreates(database.db, seed, options.perRound, {
        now: new Date(),
        payload: (i) => ({ label: `soak ${round}.${i}`, curve: "secp256k1", tags: [], exportable: "never" }),
      });
      if (dbUrl === undefined) await database.close(); // the child owns the PGlite folder while it runs
      const killMs = Math.floor(Math.random() * options.maxKillMs);
      const printed = await runAndKill("run", killMs, childEnv);
      const last = printed.at(-1)?.split(" ")[0] ?? "nothing";
      report.killedAt[last] = (report.killedAt[last] ?? 0) + 1;
      if (dbUrl === undefined) database = await open();
      // A restart: claims past their lease are recovered (the child is dead), then the rest is executed.
      const later = () => new Date(Date.now() + DEFAULT_LEASE.ms);
      const lease = dbUrl === undefined ? { ms: 0, maxMs: 0 } : DEFAULT_LEASE;
      await recoverExecuting({ db: database.db, clock: later }, lease);
      await runExecutorRound({ db: database.db, clock: later });
      report.problems.push(...(await check(database, ids, round)));
      report.rounds++;
      report.operations += ids.length;
      if ((round + 1) % 10 === 0 || report.problems.length > 0) {
        options.log(
          `round ${round + 1}/${options.rounds}: ${report.operations} operations, killed after ${JSON.stringify(report.killedAt)}, problems ${report.problems.length}`,
        );
      }
      if (report.problems.length > 0) break;
    }
    await database.close();
  } finally {
    await closeServerTokenSet();
    closeHsm();
    if (dbName !== undefined && options.url !== undefined) {
      const admin = new pg.Client({ connectionString: options.url });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${dbName}`);
      await admin.end();
    }
    rmSync(dir, { recursive: true, force: true });
  }
  return report;
}

async function check(database: Database, ids: string[], round: number): Promise<string[]> {
  const problems: string[] = [];
  const db = database.db;
  const rows = await db.select().from(operations).where(inArray(operations.id, ids));
  const keyRows = await db.select().from(keys).where(inArray(keys.operationId, ids));
  const events = await db
    .select({ action: auditEvents.action, subject: auditEvents.subject })
    .from(auditEvents)
    .where(
      inArray(
        auditEvents.subject,
        ids.map((id) => `operation:${id}`),
      ),
    );
  for (const id of ids) {
    const row = rows.find((r) => r.id === id);
    if (row?.state !== "executed") problems.push(`round ${round}: ${id} is ${row?.state ?? "missing"}`);
    const mine = keyRows.filter((k) => k.operationId === id);
    if (mine.length !== 1) problems.push(`round ${round}: ${id} has ${mine.length} keys rows`);
    const executed = events.filter(
      (e) => e.subject === `operation:${id}` && e.action === "operation.executed",
    );
    if (executed.length !== 1)
      problems.push(`round ${round}: ${id} has ${executed.length} operation.executed`);
    const onHsm = await findKey(operationKeyRef(id));
    if (onHsm?.publicKey.toString("hex") !== mine[0]?.publicKey)
      problems.push(`round ${round}: ${id} HSM key differs`);
  }
  const chain = await verifyWholeChain(db);
  if (chain.problems.length > 0)
    problems.push(`round ${round}: audit chain ${JSON.stringify(chain.problems)}`);
  return problems;
}
