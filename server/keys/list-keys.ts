// Reading custody keys for the console: a page of the list (server-side pagination, search, filters), the
// counts by state, and one key with the operation that made it and its lifecycle from the audit trail.
// Read-only: keys change only through operations (server/operations/).
import "server-only";
import {
  type AnyColumn,
  and,
  arrayContains,
  asc,
  count,
  desc,
  eq,
  like,
  or,
  type SQL,
  sql,
} from "drizzle-orm";
import type { Db, Tx } from "@/db/client";
import { KEY_STATES, type KeyState, keys, members, type OperationState, operations } from "@/db/schema";
import { AppError } from "@/server/errors";
import { operationKind } from "@/server/operations/kinds";
import { initiatorName } from "@/server/operations/initiator";
import { encodeKeyCursor, type KeyCursor } from "./key-cursor";
import { auditTimeline } from "./timeline";

/** What a list shows: any of a search and the three filters. */
export type KeyFilter = {
  /**
   * Matches, in any case: a label containing it (one or two characters: a label or a word in it starting with
   * them), a tag equal to it, or a public key starting with it (8 or more hex digits).
   */
  search?: string;
  curve?: string;
  state?: KeyState;
  tag?: string;
};

export type KeyListInput = KeyFilter & {
  /** Where the page starts (key-cursor.ts); none: the first page, the newest keys. */
  cursor?: KeyCursor;
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
export function keysMatching(input: KeyFilter): SQL | undefined {
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

/** created_at to the microsecond for a page's cursors (a Date keeps milliseconds): key-cursor.ts's format. */
const CURSOR_AT = sql<string>`to_char(${keys.createdAt} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/**
 * The count stops past these: counting every match of a broad search was most of its time (a third of 100,000
 * keys: 190–280 ms p99, measured), and past this many a person refines the search rather than reads on; the
 * list says "more than 10,000" or "more than 2,000". Filters alone are counted further, since their check is
 * cheap (an index condition, or one array test for a tag); a search rechecks the label of every candidate with
 * LIKE, which on PGlite costs about 4 µs a key (a two-character word start, 33,000 candidates over 100,000 keys:
 * 43 ms to count 10,001 of them, and 83 / 155 ms p50 / p99 for the page on a busy machine, measured 2026-12-04).
 */
export const COUNT_AT_MOST = 10_000;
export const SEARCH_COUNT_AT_MOST = 2_000;

/**
 * How a page is cut, decided from the (bounded) count, since the planner's guess for a substring or an unknown
 * tag is often 50 times too many (and then it walked the whole (created_at, id) index for a search with no
 * match: 150 ms over 100,000 keys on PostgreSQL, measured). Many matches: walk that index from the cursor and
 * check each key, which reaches a page after about pageSize × (all keys / matches) keys, so only where that is
 * at most a twentieth of the keys (20 pages' worth of matches or more). Fewer: find the matches through the search indexes, drop those on the
 * near side of the cursor, and sort the rest (at most COUNT_AT_MOST of them). A search's count stops where this
 * begins, so a search is either counted exactly and sorted or "more than 2,000" and walked.
 */
const WALK_ABOVE = SEARCH_COUNT_AT_MOST;

/** Keys on the far side of the cursor from the page's start; none for the first and the last page. */
function beyond(cursor: KeyCursor | undefined): SQL | undefined {
  if (!cursor || cursor.kind === "last") return undefined;
  // A row comparison, which the (created_at, id) btree answers as an index condition.
  const at = sql`(${cursor.at}::timestamptz, ${cursor.id}::uuid)`;
  return cursor.kind === "after"
    ? sql`(${keys.createdAt}, ${keys.id}) < ${at}`
    : sql`(${keys.createdAt}, ${keys.id}) > ${at}`;
}

/**
 * Up to `limit` + 1 keys from the cursor on, newest first; the one more says whether another page follows in
 * the direction read. A page before a cursor, and the last page, are read oldest first and turned round.
 */
async function pageOfKeys(
  db: Tx,
  where: SQL | undefined,
  cursor: KeyCursor | undefined,
  limit: number,
  walk: boolean,
) {
  const backwards = cursor?.kind === "before" || cursor?.kind === "last";
  const condition = and(where, beyond(cursor));
  const columns = { ...LIST_COLUMNS, cursorAt: CURSOR_AT.as("cursor_at") };
  const order = (at: AnyColumn | SQL.Aliased, id: AnyColumn | SQL.Aliased) =>
    backwards ? [asc(at), asc(id)] : [desc(at), desc(id)];
  // OFFSET in a subquery keeps PostgreSQL from merging it into the ordered outer query (the documented
  // optimisation fence), so the matches are planned alone: a bitmap from the indexes above.
  const matches = db
    .select(columns)
    .from(keys)
    .where(condition)
    .offset(sql.placeholder("fence"))
    .as("matches");
  const rows = walk
    ? await db
        .select(columns)
        .from(keys)
        .where(condition)
        .orderBy(...order(keys.createdAt, keys.id))
        .limit(limit + 1)
    : await db
        .select()
        .from(matches)
        .orderBy(...order(matches.createdAt, matches.id))
        .limit(limit + 1)
        .execute({ fence: 0 });
  const more = rows.length > limit;
  const page = rows.slice(0, limit);
  return { rows: backwards ? page.reverse() : page, more };
}

export async function listKeys(db: Db, input: KeyListInput) {
  const where = keysMatching(input);
  const { cursor, pageSize } = input;
  const countAtMost = input.search?.trim() ? SEARCH_COUNT_AT_MOST : COUNT_AT_MOST;
  // One snapshot for the count and the page, so they agree even while keys are being made.
  const { rows, more, counted } = await db.transaction(
    async (tx) => {
      const matches = tx
        .select({ one: sql`1`.as("one") })
        .from(keys)
        .where(where)
        .limit(countAtMost + 1)
        .as("matches");
      const [row] = await tx.select({ n: count() }).from(matches);
      const counted = row?.n ?? 0;
      if (counted === 0) return { rows: [], more: false, counted };
      const walk = counted > countAtMost || (counted > WALK_ABOVE && (pageSize + 1) * 20 <= counted);
      return { ...(await pageOfKeys(tx, where, cursor, pageSize, walk)), counted };
    },
    { isolationLevel: "repeatable read", accessMode: "read only" },
  );
  const first = rows[0];
  const last = rows.at(-1);
  const backwards = cursor?.kind === "before" || cursor?.kind === "last";
  // Newer keys come before the page when it was reached from a cursor forward, or read backwards and more were
  // left; older keys follow when read forward and more were left, or when it was reached from a later page.
  const hasPrevious = backwards ? more : cursor?.kind === "after";
  const hasNext = backwards ? cursor?.kind === "before" : more;
  return {
    keys: rows.map(({ cursorAt: _, ...key }) => key),
    /** The matches, counted up to COUNT_AT_MOST (SEARCH_COUNT_AT_MOST with a search): with totalCapped, more. */
    total: Math.min(counted, countAtMost),
    totalCapped: counted > countAtMost,
    pageSize,
    /** The page before (newer keys), or null on the first page. */
    previousCursor: hasPrevious && first ? encodeKeyCursor("before", first.cursorAt, first.id) : null,
    /** The page after (older keys), or null on the last page. */
    nextCursor: hasNext && last ? encodeKeyCursor("after", last.cursorAt, last.id) : null,
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
