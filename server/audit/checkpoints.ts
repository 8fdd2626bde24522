// The checkpointer: every `everyEvents` new events, or `everyMs` after the last checkpoint when the log has
// grown since, it signs the tree head (size, root, time) with the audit key in the HSM (checkpoint-key.ts) and
// stores the signed note, which anyone may fetch without signing in (app/api/v1/audit/checkpoint). One
// checkpointer at a time, across every server on one PostgreSQL (a transaction-scoped advisory lock).
//
// It signs only what it has re-derived itself: the last checkpoint's root from the stored tree's right edge
// (so the stored tree still extends what was signed), and every tree node the events since complete, hashed
// afresh from the audit table, compared with the stored nodes proofs are read from, up to the new root. A tree rewritten in the database, or events
// changed under it, is refused a signature and reported, never signed over.
import "server-only";
import { desc, sql } from "drizzle-orm";
import type { Db, DbOrTx } from "@/db/client";
import { auditCheckpoints, auditEvents } from "@/db/schema";
import { signCheckpoint } from "./checkpoint-key";
import { appendLeaves, rootFromFrontier } from "./log/merkle";
import type { Checkpoint } from "./log/note";
import { eventLeaf, frontierAt, readNodes, rootAt, treeSize } from "./log/tree";

/** Arbitrary constant naming the checkpointer's lock ("KWCK"). */
const CHECKPOINTER_LOCK_KEY = 0x4b57434b;

/** Events re-hashed per query while re-deriving a new root. */
const PAGE = 5_000;

export type CheckpointConfig = {
  /** The log's origin: the checkpoint's first line and the audit key's name. */
  origin: string;
  everyEvents: number;
  everyMs: number;
};

/** Signs a checkpoint's text in the HSM: the signed note, and the verifier key it verifies under. */
export type CheckpointSigner = (
  checkpoint: Checkpoint,
  name: string,
) => Promise<{ note: string; verifierKey: string }>;

export type StoredCheckpoint = typeof auditCheckpoints.$inferSelect;

/** The stored tree or events do not match what was signed before: nothing is signed until someone looks. */
export class CheckpointRefused extends Error {
  override name = "CheckpointRefused";
}

/** The newest checkpoint, or null before the first. */
export async function latestCheckpoint(db: DbOrTx): Promise<StoredCheckpoint | null> {
  const [row] = await db.select().from(auditCheckpoints).orderBy(desc(auditCheckpoints.size)).limit(1);
  return row === undefined ? null : { ...row, rootHash: new Uint8Array(row.rootHash) };
}

const equal = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);
const hex = (h: Uint8Array) => Buffer.from(h).toString("hex");

/**
 * The root of the first `size` events, re-derived from the events after the last checkpoint (`from`, whose
 * signed root the stored right edge must still give), and compared with the stored tree's root.
 */
async function rederive(db: DbOrTx, from: StoredCheckpoint | null, size: number): Promise<Uint8Array> {
  const start = from?.size ?? 0;
  let frontier = await frontierAt(db, start);
  if (from !== null && !equal(rootFromFrontier(frontier), from.rootHash))
    throw new CheckpointRefused(
      `the stored audit tree no longer gives checkpoint ${from.size}'s signed root ${hex(from.rootHash)}`,
    );
  let at = start;
  while (at < size) {
    const rows = await db
      .select()
      .from(auditEvents)
      .where(sql`${auditEvents.seq} > ${at} AND ${auditEvents.seq} <= ${Math.min(size, at + PAGE)}`)
      .orderBy(auditEvents.seq);
    const leaves = rows.map((row, i) => {
      if (row.seq !== at + i + 1) throw new CheckpointRefused(`audit event ${at + i + 1} is missing`);
      return eventLeaf({ ...row, seq: row.seq });
    });
    if (leaves.length === 0) throw new CheckpointRefused(`audit event ${at + 1} is missing`);
    const grown = appendLeaves(at, frontier, leaves);
    // Every node these events complete, as stored: inclusion proofs are read from them.
    const stored = await readNodes(db, grown.nodes);
    for (const node of grown.nodes) {
      const kept = stored.get(`${node.level}/${node.index}`);
      if (kept === undefined || !equal(kept, node.hash))
        throw new CheckpointRefused(
          `the stored audit tree's node (level ${node.level}, index ${node.index}) is not what events ${node.index * 2 ** node.level + 1}-${(node.index + 1) * 2 ** node.level} give: an event or the tree was changed`,
        );
    }
    frontier = grown.frontier;
    at += leaves.length;
  }
  const root = rootFromFrontier(frontier);
  const stored = await rootAt(db, size);
  if (!equal(root, stored))
    throw new CheckpointRefused(
      `the stored audit tree's root for ${size} events (${hex(stored)}) is not the events' root (${hex(root)})`,
    );
  return root;
}

/**
 * Signs and stores a checkpoint when one is due (or whenever the log has grown, with `force`). Returns it,
 * or null when nothing was due. Throws CheckpointRefused when the stored log does not match what was signed.
 */
export async function checkpointIfDue(
  db: Db,
  o: { config: CheckpointConfig; now: Date; sign?: CheckpointSigner; force?: boolean },
): Promise<StoredCheckpoint | null> {
  const sign = o.sign ?? signCheckpoint;
  return db.transaction(async (tx) => {
    await tx.execute(sql`SELECT pg_advisory_xact_lock(${CHECKPOINTER_LOCK_KEY})`);
    const last = await latestCheckpoint(tx);
    const size = await treeSize(tx);
    if (last !== null && size < last.size)
      throw new CheckpointRefused(
        `the audit tree holds ${size} events, fewer than checkpoint ${last.size} signed`,
      );
    if (size === 0 || size === last?.size) return null;
    const due =
      o.force === true ||
      last === null ||
      size - last.size >= o.config.everyEvents ||
      o.now.getTime() - last.signedAt.getTime() >= o.config.everyMs;
    if (!due) return null;
    const rootHash = await rederive(tx, last, size);
    const checkpoint: Checkpoint = {
      origin: o.config.origin,
      size,
      rootHash,
      extensions: [`time ${o.now.toISOString()}`],
    };
    const signed = await sign(checkpoint, o.config.origin);
    // One log, one key: a checkpoint under another verifier key (the audit key destroyed on the token and made
    // anew, or another origin configured) would fail every verifier that kept the old one. Refused until
    // someone looks; a deliberate key change is not built yet (README, limits).
    if (last !== null && signed.verifierKey !== last.verifierKey)
      throw new CheckpointRefused(
        `the audit key now verifies as ${signed.verifierKey}, but checkpoint ${last.size} was signed by ${last.verifierKey}`,
      );
    const row: StoredCheckpoint = {
      size,
      rootHash,
      signedAt: o.now,
      note: signed.note,
      verifierKey: signed.verifierKey,
    };
    await tx.insert(auditCheckpoints).values(row);
    return row;
  });
}

/** The checkpoint text without its signatures, as formatCheckpoint writes it (for display). */
export function checkpointText(row: StoredCheckpoint): string {
  return row.note.slice(0, row.note.indexOf("\n\n") + 1);
}

/** How often the timer asks whether a checkpoint is due: half of `everyMs`, between 50 ms and 1 s. */
export function checkpointTickMs(config: Pick<CheckpointConfig, "everyMs">): number {
  return Math.min(1_000, Math.max(50, config.everyMs / 2));
}

/**
 * Runs the checkpointer every `intervalMs` (checkpointTickMs, so a checkpoint is signed at most half an
 * interval late): it signs when due, logs a refusal once until it clears.
 */
export function startCheckpointTimer(
  db: Db,
  config: CheckpointConfig,
  intervalMs = checkpointTickMs(config),
): () => void {
  let failing: string | null = null;
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    checkpointIfDue(db, { config, now: new Date() })
      .then(
        () => {
          if (failing !== null) console.log("Keyward: audit checkpoints are signed again.");
          failing = null;
        },
        (e: unknown) => {
          const message = e instanceof Error ? e.message : String(e);
          if (failing !== message) {
            if (e instanceof CheckpointRefused)
              console.error(`Keyward: AUDIT CHECKPOINT REFUSED: ${message}`);
            else console.error("Keyward: signing an audit checkpoint failed; retrying", e);
          }
          failing = message;
        },
      )
      .finally(() => {
        running = false;
      });
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
