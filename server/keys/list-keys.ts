// Reading custody keys for the console: a page of the list (server-side pagination, search, filters), the
// counts by state, and one key with the operation that made it and its lifecycle from the audit trail.
// Read-only: keys change only through operations (server/operations/).
import "server-only";
import { and, arrayContains, count, desc, eq, like, or, type SQL, sql } from "drizzle-orm";
import type { Db } from "@/db/client";
import { KEY_STATES, type KeyState, keys, members, type OperationState, operations } from "@/db/schema";
import { AppError } from "@/server/errors";
import { operationKind } from "@/server/operations/kinds";
import { initiatorName } from "@/server/operations/initiator";
import { auditTimeline } from "./timeline";

export type KeyListInput = {
  /** Matches a label (substring, any case), a tag (exactly) or a public key (hex prefix, any case). */
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

function keyFilter(input: KeyListInput): SQL | undefined {
  const search = input.search?.trim();
  const matches: (SQL | undefined)[] = [];
  if (search) {
    const literal = likeLiteral(search.toLowerCase());
    matches.push(
      or(
        // lower() LIKE, not ILIKE: the same match at about half the cost per row (bench/operations.ts).
        like(sql`lower(${keys.label})`, `%${literal}%`),
        arrayContains(keys.tags, [search]),
        // Public keys are stored as lower-case hex: a prefix of at least 8 characters names one in practice.
        // Plain LIKE on the lower-cased prefix: ILIKE cost 4x as much per row over 10,000 keys.
        /^[0-9a-f]{8,}$/i.test(search) ? like(keys.publicKey, `${literal}%`) : undefined,
      ),
    );
  }
  if (input.curve) matches.push(eq(keys.curve, input.curve));
  if (input.state) matches.push(eq(keys.state, input.state));
  if (input.tag) matches.push(arrayContains(keys.tags, [input.tag]));
  return and(...matches);
}

export async function listKeys(db: Db, input: KeyListInput) {
  const where = keyFilter(input);
  const [rows, [total]] = await Promise.all([
    db
      .select({
        id: keys.id,
        label: keys.label,
        curve: keys.curve,
        tags: keys.tags,
        state: keys.state,
        publicKey: keys.publicKey,
        exportable: keys.exportable,
        createdAt: keys.createdAt,
        stateChangedAt: keys.stateChangedAt,
      })
      .from(keys)
      .where(where)
      // Newest first; the id breaks ties so pages never overlap or skip a key made in the same instant.
      .orderBy(desc(keys.createdAt), desc(keys.id))
      .limit(input.pageSize)
      .offset((input.page - 1) * input.pageSize),
    db.select({ n: count() }).from(keys).where(where),
  ]);
  const totalKeys = total?.n ?? 0;
  return {
    keys: rows,
    page: input.page,
    pageSize: input.pageSize,
    total: totalKeys,
    pages: Math.max(1, Math.ceil(totalKeys / input.pageSize)),
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
