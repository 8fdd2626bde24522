// Reading custody keys for the console: a page of the list (server-side pagination, search, filters), the
// counts by state, and one key with the operation that made it and its lifecycle from the audit trail.
// Read-only: keys change only through operations (server/operations/).
import "server-only";
import { and, arrayContains, asc, count, desc, eq, like, or, type SQL, sql } from "drizzle-orm";
import type { Db, Tx } from "@/db/client";
import { KEY_STATES, type KeyState, keys, members, type OperationState, operations } from "@/db/schema";
import { AppError } from "@/server/errors";
import { operationKind } from "@/server/operations/kinds";
import { initiatorName } from "@/server/operations/initiator";
import { auditTimeline } from "./timeline";

export type KeyListInput = {
  /**
   * Matches, in any case: a label containing it (one or two characters: a label or a word in it starting with
   * them), a tag equal to it, or a public key starting with it (8 or more hex digits).
   */
  search?: string;
  curve?: string;
  state?: KeyState;
  tag?: string;
  page: number;
  pageSize: number;
};

/** LIKE's own characters (% _ \) in what a person typed are meant literally. */
function likeLiteral(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/**
 * Every branch reads an index (migration 0013), so PostgreSQL and PGlite answer with a bitmap of the matches
 * instead of reading every key: a label substring the trigram index on lower(label) (pg_trgm needs three
 * characters for a trigram, so one or two match word starts, which the trigram index also serves); a tag
 * keys_tags_idx; a public-key prefix the text_pattern_ops btree (public keys are stored as lower-case hex).
 */
export function keysMatching(input: Omit<KeyListInput, "page" | "pageSize">): SQL | undefined {
  const search = input.search?.trim().toLowerCase();
  const matches: (SQL | undefined)[] = [];
  if (search) {
    const literal = likeLiteral(search);
    const label = sql`lower(${keys.label})`;
    matches.push(
      or(
        ...(search.length >= 3
          ? [like(label, `%${literal}%`)]
          : [like(label, `${literal}%`), like(label, `% ${literal}%`)]),
        // Tags are lower-case (keyTagSchema), so the lower-cased search finds "Treasury" as treasury.
        arrayContains(keys.tags, [search]),
        // A prefix of at least 8 hex digits names one key in practice; a shorter one is more likely a label.
        /^[0-9a-f]{8,}$/.test(search) ? like(keys.publicKey, `${literal}%`) : undefined,
      ),
    );
  }
  if (input.curve) matches.push(eq(keys.curve, input.curve));
  if (input.state) matches.push(eq(keys.state, input.state));
  if (input.tag) matches.push(arrayContains(keys.tags, [input.tag]));
  return and(...matches);
}

const LIST_COLUMNS = {
  id: keys.id,
  label: keys.label,
  curve: keys.curve,
  tags: keys.tags,
  state: keys.state,
  publicKey: keys.publicKey,
  exportable: keys.exportable,
  createdAt: keys.createdAt,
  stateChangedAt: keys.stateChangedAt,
};

/**
 * How a page is cut, decided from the count (the planner's guess for a substring or an unknown tag is often 50
 * times too many, and then it walked the whole (created_at, id) index for a search with no match: 150 ms over
 * 100,000 keys on PostgreSQL, measured). Walking the index from the nearer end and checking each key reaches a
 * page `depth` matches in after about depth × (all keys / matches) keys, so it is taken only where that is at most
 * a twentieth of the keys; otherwise the matches are found through the search indexes and sorted, up to
 * SORT_AT_MOST of them. Only a page deep inside more matches than that walks further (offset paging's cost).
 */
const WALK_ABOVE = 2_000;
const SORT_AT_MOST = 20_000;

/** Newest first; the id breaks ties so pages never overlap or skip a key made in the same instant. */
async function pageOfKeys(db: Tx, where: SQL | undefined, total: number, offset: number, limit: number) {
  const fromOldest = total - offset - limit;
  const depth = Math.min(offset, fromOldest) + limit;
  const walk = (total > WALK_ABOVE && depth <= total / 20) || total > SORT_AT_MOST;
  if (!walk) {
    // OFFSET in a subquery keeps PostgreSQL from merging it into the ordered outer query (the documented
    // optimisation fence), so the matches are planned alone: a bitmap from the indexes above.
    const matches = db
      .select(LIST_COLUMNS)
      .from(keys)
      .where(where)
      .offset(sql.placeholder("fence"))
      .as("matches");
    return db
      .select()
      .from(matches)
      .orderBy(desc(matches.createdAt), desc(matches.id))
      .limit(limit)
      .offset(offset)
      .execute({ fence: 0 });
  }
  if (offset <= fromOldest) {
    return db
      .select(LIST_COLUMNS)
      .from(keys)
      .where(where)
      .orderBy(desc(keys.createdAt), desc(keys.id))
      .limit(limit)
      .offset(offset);
  }
  // Nearer the oldest end: the same keys read the other way, then put back newest first.
  const rows = await db
    .select(LIST_COLUMNS)
    .from(keys)
    .where(where)
    .orderBy(asc(keys.createdAt), asc(keys.id))
    .limit(limit + Math.min(0, fromOldest))
    .offset(Math.max(0, fromOldest));
  return rows.reverse();
}

export async function listKeys(db: Db, input: KeyListInput) {
  const where = keysMatching(input);
  const offset = (input.page - 1) * input.pageSize;
  // One snapshot for the count and the page, so they agree even while keys are being made.
  const { rows, total } = await db.transaction(
    async (tx) => {
      const [counted] = await tx.select({ n: count() }).from(keys).where(where);
      const total = counted?.n ?? 0;
      const rows = offset >= total ? [] : await pageOfKeys(tx, where, total, offset, input.pageSize);
      return { rows, total };
    },
    { isolationLevel: "repeatable read", accessMode: "read only" },
  );
  return {
    keys: rows,
    page: input.page,
    pageSize: input.pageSize,
    total,
    pages: Math.max(1, Math.ceil(total / input.pageSize)),
  };
}

/** How many keys are in each state (every state named, zero included). */
export async function keyCountsByState(db: Db): Promise<Record<KeyState, number>> {
  const rows = await db.select({ state: keys.state, n: count() }).from(keys).groupBy(keys.state);
  const counts: Record<KeyState, number> = {
    "pre-activation": 0,
    active: 0,
    suspended: 0,
    deactivated: 0,
    compromised: 0,
    destroyed: 0,
  };
  for (const row of rows) if (KEY_STATES.includes(row.state)) counts[row.state] = row.n;
  return counts;
}

export async function getKey(db: Db, keyId: string) {
  const [key] = await db.select().from(keys).where(eq(keys.id, keyId));
  if (!key) throw new AppError("NOT_FOUND", "No such key.");
  let createdBy: { id: string; state: OperationState; title: string; initiatorName: string } | null = null;
  if (key.operationId) {
    const [op] = await db
      .select({
        id: operations.id,
        kind: operations.kind,
        state: operations.state,
        payload: operations.payload,
        memberName: members.name,
        systemInitiator: operations.systemInitiator,
      })
      .from(operations)
      // Left join: a rotation Keyward proposed itself has no initiating member.
      .leftJoin(members, eq(members.id, operations.initiatorId))
      .where(eq(operations.id, key.operationId));
    if (op) {
      const kind = operationKind(op.kind);
      createdBy = {
        id: op.id,
        state: op.state,
        title: kind ? kind.describe(op.payload).title : op.kind,
        initiatorName: initiatorName(op),
      };
    }
  }
  // The key's own events, and before them the story of the operation that made it.
  const subjects = [`key:${key.id}`, ...(key.operationId ? [`operation:${key.operationId}`] : [])];
  return { key, createdBy, lifecycle: await auditTimeline(db, subjects) };
}

/** The key an operation made (key.create), if it has made one yet. */
export async function keyOfOperation(db: Db, operationId: string) {
  const [key] = await db
    .select({ id: keys.id, label: keys.label, state: keys.state })
    .from(keys)
    .where(eq(keys.operationId, operationId));
  return key ?? null;
}
