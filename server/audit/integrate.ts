// The integrator: numbers and chains audit events after the transactions that wrote them have committed.
// A change's transaction only inserts its event, staged (no seq, no hash), so appends no longer queue behind
// one lock held through every commit. One integrator at a time — a transaction-scoped advisory lock, so one
// across every server on one PostgreSQL — takes the committed staged events in staging order, gives them the
// next seqs after the head and chains their hashes, in batches. Seqs stay gap-free: a rolled-back event was
// never visible, and a batch that fails is rolled back whole and taken again by the next round.
import "server-only";
import { afterCommit } from "@/db/after-commit";
import type { Db } from "@/db/client";
import { auditEvents } from "@/db/schema";
import { asc, desc, isNotNull, isNull, sql } from "drizzle-orm";
import { entryCanonical, entryHashOf, GENESIS_HASH } from "./chain";
import { leafHash } from "./log/merkle";
import { appendToTree, catchUpTree, treeSize } from "./log/tree";
import type { ChainPoint } from "./read";

/** Arbitrary constant naming the integrator's lock (pg advisory locks are keyed by a bigint). */
export const INTEGRATOR_LOCK_KEY = 0x4b574947; // "KWIG"

/** Events sealed per transaction: one UPDATE statement, 4 parameters each, well under PostgreSQL's 65,535. */
export const BATCH = 1_000;

export type Batch = {
  sequenced: number;
  head: ChainPoint;
  /** Events sealed before the tree existed that this batch added to it as leaves (and sealed none then). */
  treed?: number;
};

const utf8 = new TextEncoder();

/**
 * One batch: up to `limit` committed staged events, sealed in staging order after the head and added, in the
 * same transaction, as the next leaves of the RFC 9162 tree (log/tree.ts). While the tree lags the chain
 * (events sealed before migration 0023), a batch adds up to `limit` of those first and seals nothing.
 */
export async function integrateBatch(db: Db, limit = BATCH): Promise<Batch> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`SELECT pg_advisory_xact_lock(${INTEGRATOR_LOCK_KEY})`);
    // Read under the lock: every batch sealed before ours has committed, so the head is the real one.
    const [last] = await tx
      .select({ seq: auditEvents.seq, hash: auditEvents.hash })
      .from(auditEvents)
      .where(isNotNull(auditEvents.seq))
      .orderBy(desc(auditEvents.seq))
      .limit(1);
    let head: ChainPoint = { seq: last?.seq ?? 0, hash: last?.hash ?? GENESIS_HASH };
    const size = await treeSize(tx);
    if (size !== head.seq) {
      const treed = await catchUpTree(tx, size, head.seq, limit);
      return { sequenced: 0, head, treed };
    }
    const staged = await tx
      .select({
        id: auditEvents.id,
        at: auditEvents.at,
        actor: auditEvents.actor,
        action: auditEvents.action,
        subject: auditEvents.subject,
        data: auditEvents.data,
      })
      .from(auditEvents)
      .where(isNull(auditEvents.seq))
      .orderBy(asc(auditEvents.id))
      .limit(limit);
    if (staged.length === 0) return { sequenced: 0, head };
    const leaves: Uint8Array[] = [];
    const sealed = staged.map((row) => {
      const seq = head.seq + 1;
      // Hashed from what the database stored (jsonb gives back its own key order; JCS sorts it), exactly as
      // the verifier and an offline checker will read it. One canonical form feeds the chain and the leaf.
      const canonical = entryCanonical({
        seq,
        at: row.at.toISOString(),
        actor: row.actor,
        action: row.action,
        subject: row.subject,
        data: row.data,
      });
      const hash = entryHashOf(head.hash, canonical);
      leaves.push(leafHash(utf8.encode(canonical)));
      const values = sql`(${row.id}::bigint, ${seq}::bigint, ${head.hash}::text, ${hash}::text)`;
      head = { seq, hash };
      return values;
    });
    await tx.execute(sql`
      UPDATE audit_events AS a SET seq = v.seq, prev_hash = v.prev_hash, hash = v.hash
      FROM (VALUES ${sql.join(sealed, sql`, `)}) AS v(id, seq, prev_hash, hash)
      WHERE a.id = v.id AND a.seq IS NULL`);
    await appendToTree(tx, size, leaves);
    return { sequenced: staged.length, head };
  });
}

/** Seals every committed staged event, batch after batch; returns how many and the head reached. */
export async function integrateAudit(db: Db): Promise<Batch> {
  let total = 0;
  for (;;) {
    const batch = await integrateBatch(db);
    total += batch.sequenced;
    if (batch.treed !== undefined) continue; // the tree caught up on old events; now seal the staged ones
    if (batch.sequenced < BATCH) return { sequenced: total, head: batch.head };
  }
}

/**
 * Rounds for one database handle, grouped: whoever asks while a round runs shares the one round that starts
 * after it (their commits may have come after the running round read the staged rows), so a thousand commits
 * at once cost a few rounds, not a thousand.
 */
class Rounds {
  private running: Promise<Batch> | undefined;
  private queued: Promise<Batch> | undefined;

  constructor(private readonly db: Db) {}

  request(): Promise<Batch> {
    if (this.queued) return this.queued;
    if (!this.running) return this.start();
    const after = this.running.then(
      () => undefined,
      () => undefined,
    );
    this.queued = after.then(() => {
      this.queued = undefined;
      return this.start();
    });
    return this.queued;
  }

  private start(): Promise<Batch> {
    const round = integrateAudit(this.db).finally(() => {
      if (this.running === round) this.running = undefined;
    });
    this.running = round;
    return round;
  }
}

// Per database handle, on globalThis: Next.js bundles this module more than once, and one handle must have
// one grouping of rounds.
const holder = globalThis as typeof globalThis & { __keywardAuditRounds?: WeakMap<Db, Rounds> };
holder.__keywardAuditRounds ??= new WeakMap();
const rounds: WeakMap<Db, Rounds> = holder.__keywardAuditRounds;

function roundsOf(db: Db): Rounds {
  let r = rounds.get(db);
  if (r === undefined) {
    r = new Rounds(db);
    rounds.set(db, r);
  }
  return r;
}

/** A round of integration soon, shared with everyone else asking now. */
export function requestIntegration(db: Db): Promise<Batch> {
  return roundsOf(db).request();
}

/**
 * How long a commit's round waits for other commits to join it. Without it, on PGlite's one connection each
 * commit's round would go ahead of the next writers' transactions and seal one event at a time (measured:
 * 0.15x the plain-insert rate with 50 writers); with it, a round seals what a few milliseconds gathered.
 */
export const GATHER_MS = 5;

// Per database handle: the gathering round its writers' commits have asked for, not started yet.
const gathering = new WeakMap<Db, Promise<Batch>>();

/** A round after GATHER_MS, shared by every commit asking meanwhile (sealedSoFar does not wait for it). */
function requestIntegrationSoon(db: Db): Promise<Batch> {
  const asked = gathering.get(db);
  if (asked !== undefined) return asked;
  const round = new Promise<void>((resolve) => setTimeout(resolve, GATHER_MS)).then(() => {
    gathering.delete(db);
    return requestIntegration(db);
  });
  gathering.set(db, round);
  return round;
}

/**
 * Resolves once every event committed before the call is sealed (numbered, chained and in the tree), by
 * whichever process sealed it: for a reader that must see its own change in the chain, such as an export
 * reading back the report.exported event it just wrote. Writers do not wait (integrateAfterCommit).
 */
export async function sealedSoFar(db: Db): Promise<void> {
  await requestIntegration(db);
}

// A failing round is said once until a round succeeds again (the timer below says it too, and retries).
let roundFailing = false;

/**
 * Called by the writer inside a change's transaction: a round starts as soon as it commits, and the writer
 * goes on without waiting for it. Waiting would put every transaction of the system in line behind the one
 * integrator (50 writers reached ~2,000 events/s that way, against ~6,000 plain inserts/s); not waiting, a
 * round GATHER_MS later seals whatever committed meanwhile, in one batch (bench/audit.ts measures it).
 */
export function integrateAfterCommit(): boolean {
  return afterCommit("audit.integrate", async (db) => {
    requestIntegrationSoon(db).then(
      () => {
        roundFailing = false;
      },
      (e: unknown) => {
        if (!roundFailing)
          console.error("Keyward: an audit integration round failed; the next one retries", e);
        roundFailing = true;
      },
    );
  });
}

/**
 * The safety net: events staged by a process that died between its commit and its round, or written through
 * a handle without the after-commit hook, are sealed by the next round of anyone — this timer at the latest.
 */
export function startIntegrationTimer(db: Db, intervalMs = 1_000): () => void {
  let failing = false;
  const timer = setInterval(() => {
    requestIntegration(db).then(
      () => {
        if (failing) console.log("Keyward: the audit integrator runs again.");
        failing = false;
      },
      (e: unknown) => {
        if (!failing) console.error("Keyward: the audit integrator failed; retrying every second", e);
        failing = true;
      },
    );
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
