// The log's health beyond the hash chain: the stored tree re-derived from the events, node by node, and every
// signed checkpoint checked against it — its root is the events' root at its size, and its note verifies
// under the verifier key it names, which is the log's one key. Run on an auditor's demand (status page,
// audit.verify full) and by the tamper tests; it reads the whole log in pages. What it finds names the node,
// the event range or the checkpoint, as the chain verification names a seq.
import "server-only";
import { asc, gt } from "drizzle-orm";
import type { DbOrTx } from "@/db/client";
import { auditCheckpoints, auditEvents } from "@/db/schema";
import { appendLeaves, type Hash, hashesEqual, rootFromFrontier } from "./merkle";
import { NoteError, openCheckpoint } from "./note";
import { eventLeaf, readNodes, TreeError, treeSize } from "./tree";

const PAGE = 5_000;

export type TreeProblem =
  | { kind: "node"; level: number; index: number; message: string }
  | { kind: "size"; message: string }
  | { kind: "checkpoint"; size: number; message: string };

export type TreeReport = {
  /** Events whose leaves were re-derived (the whole tree). */
  events: number;
  /** Checkpoints checked, and the newest one that holds up (null: none does, or none exists). */
  checkpoints: number;
  verifiedCheckpoint: { size: number; signedAt: Date; verifierKey: string } | null;
  problems: TreeProblem[];
};

/** At most this many problems are listed (a rewritten log would otherwise list every node). */
const MAX_PROBLEMS = 50;

/** Re-derives the whole tree from audit_events and checks it, and every checkpoint, against what is stored. */
export async function verifyStoredTree(db: DbOrTx, origin?: string): Promise<TreeReport> {
  const problems: TreeProblem[] = [];
  const add = (p: TreeProblem) => {
    if (problems.length < MAX_PROBLEMS) problems.push(p);
  };
  const checkpoints = await db.select().from(auditCheckpoints).orderBy(asc(auditCheckpoints.size));
  const stored = await treeSize(db);
  let frontier: Hash[] = [];
  let at = 0;
  let next = 0; // the next checkpoint to meet
  let verifiedCheckpoint: TreeReport["verifiedCheckpoint"] = null;
  const logKey = checkpoints[0]?.verifierKey;
  const meet = () => {
    while (next < checkpoints.length && (checkpoints[next]?.size ?? 0) <= at) {
      const c = checkpoints[next++];
      if (!c || c.size !== at) continue; // a checkpoint beyond the events is reported below
      const why = checkpointProblem(c, frontier, logKey, origin);
      if (why) add({ kind: "checkpoint", size: c.size, message: why });
      else if (problems.length === 0)
        verifiedCheckpoint = { size: c.size, signedAt: c.signedAt, verifierKey: c.verifierKey };
    }
  };
  for (;;) {
    const rows = await db
      .select()
      .from(auditEvents)
      .where(gt(auditEvents.seq, at))
      .orderBy(asc(auditEvents.seq))
      .limit(PAGE);
    if (rows.length === 0) break;
    // Stop at a gap: the chain verification names it; the tree past it cannot be re-derived.
    const run = rows.filter((r, i) => r.seq === at + i + 1);
    const leaves = run.map((r) => eventLeaf({ ...r, seq: r.seq as number }));
    // Meet checkpoints inside this page one leaf range at a time, so each is checked at its exact size.
    let done = 0;
    while (done < leaves.length) {
      const target = checkpoints[next]?.size;
      const take =
        target !== undefined && target > at && target <= at + (leaves.length - done)
          ? target - at
          : leaves.length - done;
      const grown = appendLeaves(at, frontier, leaves.slice(done, done + take));
      const kept = await readNodes(db, grown.nodes).catch((e: unknown) => {
        if (e instanceof TreeError) return new Map<string, Hash>();
        throw e;
      });
      for (const node of grown.nodes) {
        const hash = kept.get(`${node.level}/${node.index}`);
        if (hash === undefined || !hashesEqual(hash, node.hash))
          add({
            kind: "node",
            level: node.level,
            index: node.index,
            message: `${hash === undefined ? "missing" : "differs from what"} events ${node.index * 2 ** node.level + 1}-${(node.index + 1) * 2 ** node.level} give`,
          });
      }
      frontier = grown.frontier;
      at += take;
      done += take;
      meet();
    }
    if (run.length < rows.length) break;
  }
  if (stored !== at)
    add({
      kind: "size",
      message: `the tree holds ${stored} leaves but the events run without a gap to ${at}`,
    });
  for (const c of checkpoints.slice(next))
    add({
      kind: "checkpoint",
      size: c.size,
      message: `signed for ${c.size} events, but the log holds ${at}`,
    });
  return { events: at, checkpoints: checkpoints.length, verifiedCheckpoint, problems };
}

function checkpointProblem(
  c: typeof auditCheckpoints.$inferSelect,
  frontier: readonly Hash[],
  logKey: string | undefined,
  origin: string | undefined,
): string | null {
  if (!hashesEqual(new Uint8Array(c.rootHash), rootFromFrontier(frontier)))
    return "its stored root is not the root of the events it covers";
  if (logKey !== undefined && c.verifierKey !== logKey)
    return `signed under ${c.verifierKey}, not the log's key ${logKey}`;
  try {
    const { checkpoint } = openCheckpoint(c.note, [c.verifierKey], origin === undefined ? {} : { origin });
    if (checkpoint.size !== c.size || !hashesEqual(checkpoint.rootHash, rootFromFrontier(frontier)))
      return "its signed note names another tree than the events give";
  } catch (e) {
    if (e instanceof NoteError) return `its signed note does not verify: ${e.message}`;
    throw e;
  }
  return null;
}
