// The audit log's RFC 9162 Merkle tree, stored. Leaf n - 1 is the event with seq n: its leaf data is the
// entry's canonical form (chain.ts entryCanonical, UTF-8), so anyone holding an event can recompute its leaf.
// The table `audit_tree_nodes` keeps every perfect subtree's hash (level, index); the tree of any size up to
// the current one is then a handful of rows away: its root folds the perfect subtrees on its right edge, and
// every element of an inclusion or consistency proof folds a few more (log/merkle.ts names which). Only the
// integrator appends, under its lock, in the transaction that seals the events (integrate.ts), so the tree
// always holds exactly the sealed events; everything else here only reads.
import "server-only";
import { and, desc, eq, or, sql } from "drizzle-orm";
import type { DbOrTx, Tx } from "@/db/client";
import { auditEvents, auditTreeNodes } from "@/db/schema";
import { entryCanonical } from "../chain";
import {
  appendLeaves,
  consistencyProofPlan,
  EMPTY_ROOT,
  foldRange,
  frontierIds,
  type Hash,
  inclusionProofPlan,
  leafHash,
  type NodeId,
  rootFromFrontier,
} from "./merkle";

const utf8 = new TextEncoder();

/** A sealed event's leaf hash: SHA-256(0x00 ‖ UTF-8(JCS(entry))). */
export function eventLeaf(entry: {
  seq: number;
  at: Date | string;
  actor: string;
  action: string;
  subject: string;
  data: unknown;
}): Hash {
  const at = typeof entry.at === "string" ? entry.at : entry.at.toISOString();
  return leafHash(utf8.encode(entryCanonical({ ...entry, at })));
}

/** How many events the tree holds: one more than its last leaf's index (level 0 is one row per event). */
export async function treeSize(db: DbOrTx): Promise<number> {
  const [last] = await db
    .select({ idx: auditTreeNodes.idx })
    .from(auditTreeNodes)
    .where(eq(auditTreeNodes.level, 0))
    .orderBy(desc(auditTreeNodes.level), desc(auditTreeNodes.idx))
    .limit(1);
  return last === undefined ? 0 : last.idx + 1;
}

const key = (id: NodeId) => `${id.level}/${id.index}`;

/**
 * The stored hashes of these perfect subtrees, in one query. A node the tree does not hold is an error:
 * the caller asked about a size the tree has not reached, or a row is gone (the table is append-only, so only
 * someone bypassing its triggers removes one, and the log-health check reports that).
 */
export async function readNodes(db: DbOrTx, ids: readonly NodeId[]): Promise<Map<string, Hash>> {
  const found = new Map<string, Hash>();
  if (ids.length === 0) return found;
  const unique = [...new Map(ids.map((id) => [key(id), id])).values()];
  // One array parameter per level (idx = ANY($n::bigint[])), never a list of (level, idx) row values: PGlite
  // 0.5 answers a row-value IN list of more than ~250 pairs with no rows at all (found by the audit bench).
  const byLevel = new Map<number, number[]>();
  for (const id of unique) byLevel.set(id.level, [...(byLevel.get(id.level) ?? []), id.index]);
  const rows = await db
    .select()
    .from(auditTreeNodes)
    .where(
      or(
        ...[...byLevel].map(
          ([level, indexes]) =>
            sql`(${auditTreeNodes.level} = ${level} AND ${auditTreeNodes.idx} = ANY(${sql.param(indexes)}::bigint[]))`,
        ),
      ),
    );
  for (const row of rows) found.set(`${row.level}/${row.idx}`, new Uint8Array(row.hash));
  const missing = unique.filter((id) => !found.has(key(id)));
  if (missing.length > 0)
    throw new TreeError(
      `the audit tree has no node ${missing.map((m) => `(level ${m.level}, index ${m.index})`).join(", ")}`,
    );
  return found;
}

/** The tree's nodes are not there for what was asked (a size beyond the tree, or a node removed). */
export class TreeError extends Error {
  override name = "TreeError";
}

function hashesOf(ids: readonly NodeId[], nodes: Map<string, Hash>): Hash[] {
  return ids.map((id) => {
    const hash = nodes.get(key(id));
    if (hash === undefined) throw new TreeError(`node (level ${id.level}, index ${id.index}) was not read`);
    return hash;
  });
}

/** Each element of a proof plan folded from its perfect subtrees. */
function fold(plan: readonly NodeId[][], nodes: Map<string, Hash>): Hash[] {
  return plan.map((range) => foldRange(hashesOf(range, nodes)));
}

async function checkSize(db: DbOrTx, size: number): Promise<void> {
  const current = await treeSize(db);
  if (size > current) throw new TreeError(`the audit tree holds ${current} events, not ${size}`);
}

/** The perfect subtrees on the right edge of the tree of the first `size` events, largest first. */
export async function frontierAt(db: DbOrTx, size: number): Promise<Hash[]> {
  const ids = frontierIds(size);
  return hashesOf(ids, await readNodes(db, ids));
}

/** The root of the tree of the first `size` events (any size the tree has reached). */
export async function rootAt(db: DbOrTx, size: number): Promise<Hash> {
  if (size === 0) return EMPTY_ROOT;
  await checkSize(db, size);
  return rootFromFrontier(await frontierAt(db, size));
}

/** RFC 9162 inclusion proof of the event with seq `seq` in the tree of the first `size` events. */
export async function inclusionProofAt(db: DbOrTx, seq: number, size: number): Promise<Hash[]> {
  await checkSize(db, size);
  const plan = inclusionProofPlan(seq - 1, size);
  return fold(plan, await readNodes(db, plan.flat()));
}

/** RFC 9162 consistency proof from the tree of the first `from` events to that of the first `to`. */
export async function consistencyProofAt(db: DbOrTx, from: number, to: number): Promise<Hash[]> {
  await checkSize(db, to);
  const plan = consistencyProofPlan(from, to);
  return fold(plan, await readNodes(db, plan.flat()));
}

/** Nodes per INSERT: 3 parameters each, well under PostgreSQL's 65,535. */
const INSERT_CHUNK = 5_000;

/**
 * Appends leaves for the events with seq size + 1 … size + leaves.length, under the integrator's lock in its
 * transaction: reads the tree's right edge, adds the leaves and writes every perfect node they complete.
 * Returns the new size and root.
 */
export async function appendToTree(
  tx: Tx,
  size: number,
  leaves: readonly Hash[],
): Promise<{ size: number; root: Hash }> {
  const grown = appendLeaves(size, await frontierAt(tx, size), leaves);
  for (let i = 0; i < grown.nodes.length; i += INSERT_CHUNK) {
    await tx
      .insert(auditTreeNodes)
      .values(
        grown.nodes.slice(i, i + INSERT_CHUNK).map((n) => ({ level: n.level, idx: n.index, hash: n.hash })),
      );
  }
  return { size: grown.size, root: rootFromFrontier(grown.frontier) };
}

/**
 * Adds to the tree, as leaves, sealed events it does not hold yet (at most `limit`): those sealed before the
 * tree existed (migration 0023 over an existing log). Under the integrator's lock, in its transaction.
 * Returns how many it added.
 */
export async function catchUpTree(tx: Tx, size: number, headSeq: number, limit: number): Promise<number> {
  if (size > headSeq)
    throw new TreeError(`the audit tree holds ${size} events but the chain ends at ${headSeq}`);
  if (size === headSeq) return 0;
  const events = await tx
    .select({
      seq: auditEvents.seq,
      at: auditEvents.at,
      actor: auditEvents.actor,
      action: auditEvents.action,
      subject: auditEvents.subject,
      data: auditEvents.data,
    })
    .from(auditEvents)
    .where(and(sql`${auditEvents.seq} > ${size}`, sql`${auditEvents.seq} <= ${size + limit}`))
    .orderBy(auditEvents.seq);
  events.forEach((e, i) => {
    if (e.seq !== size + i + 1) throw new TreeError(`the audit chain has no event ${size + i + 1}`);
  });
  await appendToTree(
    tx,
    size,
    events.map((e) => eventLeaf({ ...e, seq: e.seq as number })),
  );
  return events.length;
}
