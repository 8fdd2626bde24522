// The full-size key.create batch (scripts/soak-batch.mjs): one approved batch of up to 10,000 keys executed on
// a fresh SoftHSM token the way the server does it (claim, then executeBatch in chunks), timed as a whole and
// split into the recording transactions (keys rows, one key.created per key, progress) and the rest (HSM
// calls); optionally first a short comparison of calls in flight. Afterwards: every key recorded once under its
// batch reference, progress at the total, one key.created per key, audit chain intact.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { and, count, countDistinct, eq } from "drizzle-orm";
import pg from "pg";
import { type Database, type Db, openDatabase } from "@/db/client";
import { auditEvents, keys, operations } from "@/db/schema";
import { verifyWholeChain } from "@/server/audit/verify";
import { closeHsm, closeServerTokenSet } from "@/server/hsm";
import { batchKeyRef } from "@/server/hsm/signer";
import { BATCH_DEFAULTS, executeBatch, keyBatchOfOperation, recordKeys } from "../batch";
import { claimApproved } from "../claim";
import { hsmEnvironment, insertKeyCreates, seedInitiator } from "./fixtures";

export type SoakBatchOptions = {
  count: number;
  inFlight: number;
  threads: number;
  /** Keys per trial of the in-flight comparison (1, 2, 4 in flight) run first; 0 skips it. */
  compare: number;
  /**
   * Records `count` keys with made-up references and public keys, as the batch's chunks do (one transaction
   * per 100: progress, keys rows, one key.created each), without the HSM: the recording's own cost.
   */
  recordOnly: boolean;
  url?: string;
  log: (line: string) => void;
};
export type SoakBatchReport = {
  seconds: number;
  keysPerSecond: number;
  recordSeconds: number;
  problems: string[];
};

function softHsmToken(dir: string): { conf: string; label: string; pin: string } {
  const tokens = path.join(dir, "tokens");
  mkdirSync(tokens, { mode: 0o700 });
  const conf = path.join(dir, "softhsm2.conf");
  writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  const pin = randomBytes(12).toString("base64url");
  const label = "kw-soak-batch";
  const so = randomBytes(12).toString("base64url");
  const init = spawnSync(
    "softhsm2-util",
    ["--init-token", "--free", "--label", label, "--so-pin", so, "--pin", pin],
    {
      env: { ...process.env, SOFTHSM2_CONF: conf },
      encoding: "utf8",
    },
  );
  if (init.status !== 0) throw new Error(`softhsm2-util --init-token failed: ${init.stderr || init.stdout}`);
  return { conf, label, pin };
}

/** The database with its transactions timed: the batch's only transactions are its recordings and its end. */
function timedTransactions(db: Db): { db: Db; seconds: () => number } {
  let ms = 0;
  const timed = new Proxy(db, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop);
      if (typeof value !== "function") return value;
      if (prop !== "transaction") return value.bind(target);
      return async (...args: unknown[]) => {
        const started = performance.now();
        try {
          return await value.apply(target, args);
        } finally {
          ms += performance.now() - started;
        }
      };
    },
  });
  return { db: timed, seconds: () => ms / 1000 };
}

async function runBatch(
  db: Db,
  seed: { memberId: string; policyVersion: number },
  n: number,
  inFlight: number,
  log?: (line: string) => void,
) {
  const [id = ""] = await insertKeyCreates(db, seed, 1, {
    now: new Date(),
    payload: () => ({
      label: "acct-{n}",
      curve: "secp256k1",
      tags: ["customer"],
      exportable: "never",
      batch: { count: n, first: 1 },
    }),
  });
  const clock = () => new Date();
  const op = await claimApproved(db, clock(), id);
  const plan = op === null ? null : keyBatchOfOperation(op);
  if (op === null || plan === null) throw new Error("the batch was not claimed");
  const timed = timedTransactions(db);
  const started = performance.now();
  const watch =
    log === undefined
      ? undefined
      : setInterval(async () => {
          const [row] = await db
            .select({ progress: operations.progress })
            .from(operations)
            .where(eq(operations.id, id));
          const done = row?.progress?.done ?? 0;
          const s = (performance.now() - started) / 1000;
          log(
            `  ${done} of ${n} keys after ${s.toFixed(0)} s (${(done / s).toFixed(1)} keys/s so far; recording ${timed.seconds().toFixed(1)} s of it)`,
          );
        }, 30_000);
  const outcome = await executeBatch({ db: timed.db, clock }, op, plan, { ...BATCH_DEFAULTS, inFlight });
  clearInterval(watch);
  const seconds = (performance.now() - started) / 1000;
  return { id, outcome, seconds, recordSeconds: timed.seconds() };
}

async function check(db: Db, id: string, n: number): Promise<string[]> {
  const problems: string[] = [];
  const [op] = await db.select().from(operations).where(eq(operations.id, id));
  if (op?.state !== "executed") problems.push(`operation is ${op?.state}`);
  if (op?.progress?.done !== n || op.progress.total !== n)
    problems.push(`progress ${JSON.stringify(op?.progress)}`);
  const [k] = await db
    .select({ rows: count(), indices: countDistinct(keys.batchIndex), refs: countDistinct(keys.hsmRef) })
    .from(keys)
    .where(eq(keys.operationId, id));
  if (k?.rows !== n || k.indices !== n || k.refs !== n)
    problems.push(`keys ${JSON.stringify(k)}, expected ${n} of each`);
  const refs = await db
    .select({ i: keys.batchIndex, ref: keys.hsmRef })
    .from(keys)
    .where(eq(keys.operationId, id));
  const wrong = refs.filter((r) => r.ref !== batchKeyRef(id, r.i));
  if (wrong.length > 0) problems.push(`${wrong.length} keys not under their batch reference`);
  const [events] = await db
    .select({ n: count() })
    .from(auditEvents)
    .where(and(eq(auditEvents.action, "key.created")));
  if ((events?.n ?? 0) < n) problems.push(`${events?.n} key.created events for ${n} keys`);
  const chain = await verifyWholeChain(db);
  problems.push(...chain.problems.map((p) => `audit chain: ${JSON.stringify(p)}`));
  return problems;
}

/** The recording alone, with made-up keys (never on any HSM): what one key.created per key costs at scale. */
async function recordOnly(
  db: Db,
  seed: { memberId: string; policyVersion: number },
  n: number,
): Promise<number> {
  const [id = ""] = await insertKeyCreates(db, seed, 1, {
    now: new Date(),
    payload: () => ({
      label: "acct-{n}",
      curve: "secp256k1",
      tags: ["customer"],
      exportable: "never",
      batch: { count: n, first: 1 },
    }),
  });
  const clock = () => new Date();
  const op = await claimApproved(db, clock(), id);
  const plan = op === null ? null : keyBatchOfOperation(op);
  if (op === null || plan === null) throw new Error("the batch was not claimed");
  const started = performance.now();
  for (let start = 0; start < n; start += BATCH_DEFAULTS.chunk) {
    const made = Array.from({ length: Math.min(BATCH_DEFAULTS.chunk, n - start) }, (_, j) => ({
      index: start + j,
      label: plan.batch.labelOf(start + j),
      hsmRef: randomBytes(16).toString("hex"),
      publicKey: `04${randomBytes(64).toString("hex")}`,
    }));
    if (!(await recordKeys({ db, clock }, op, plan, start, made))) throw new Error("recording was refused");
  }
  return (performance.now() - started) / 1000;
}

export async function soakBatch(options: SoakBatchOptions): Promise<SoakBatchReport> {
  const dir = mkdtempSync(path.join(tmpdir(), "keyward-soak-batch-"));
  const token = softHsmToken(dir);
  Object.assign(process.env, hsmEnvironment(token, dir), { KEYWARD_HSM_POOL_SIZE: String(options.threads) });
  let dbName: string | undefined;
  let database: Database | undefined;
  try {
    if (options.url !== undefined) {
      dbName = `keyward_soak_batch_${randomBytes(6).toString("hex")}`;
      const admin = new pg.Client({ connectionString: options.url });
      await admin.connect();
      await admin.query(`CREATE DATABASE ${dbName}`);
      await admin.end();
      const u = new URL(options.url);
      u.pathname = `/${dbName}`;
      database = await openDatabase({ engine: "postgres", url: u.toString() });
    } else {
      database = await openDatabase({ engine: "pglite", folder: path.join(dir, "pglite") });
    }
    const db = database.db;
    const seed = await seedInitiator(db, new Date());
    const problems: string[] = [];
    if (options.recordOnly) {
      const seconds = await recordOnly(db, seed, options.count);
      options.log(
        `record only (${database.engine}): ${options.count} keys rows with one key.created each, in chunks of ${BATCH_DEFAULTS.chunk}: ${seconds.toFixed(1)} s, ${(options.count / seconds).toFixed(0)} keys/s`,
      );
      return { seconds, keysPerSecond: options.count / seconds, recordSeconds: seconds, problems };
    }
    if (options.compare > 0) {
      for (const inFlight of [1, 2, 4]) {
        const trial = await runBatch(db, seed, options.compare, inFlight);
        options.log(
          `compare: ${options.compare} keys, ${inFlight} in flight, ${options.threads} pool thread(s): ${trial.seconds.toFixed(1)} s, ${(options.compare / trial.seconds).toFixed(1)} keys/s (${trial.outcome.outcome})`,
        );
        problems.push(...(await check(db, trial.id, options.compare)));
      }
    }
    options.log(
      `batch: ${options.count} keys, ${options.inFlight} in flight, ${options.threads} pool thread(s), ${database.engine}`,
    );
    const run = await runBatch(db, seed, options.count, options.inFlight, options.log);
    options.log(
      `batch: ${run.outcome.outcome} in ${run.seconds.toFixed(1)} s, ${(options.count / run.seconds).toFixed(1)} keys/s; recording (keys rows, ${options.count} key.created events, progress) ${run.recordSeconds.toFixed(1)} s of it`,
    );
    problems.push(...(await check(db, run.id, options.count)));
    return {
      seconds: run.seconds,
      keysPerSecond: options.count / run.seconds,
      recordSeconds: run.recordSeconds,
      problems,
    };
  } finally {
    await database?.close();
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
}
