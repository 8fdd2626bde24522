// What the console shows of operations: the list (newest first, by state, or those naming a key), each row
// with its tally in the same few reads, and one operation in full — decoded for the approver by its kind,
// judged now under the policy version it was proposed under (tally and reasons in words), and its votes with
// who cast them, when, and with which token.
import "server-only";
import { aliasedTable, and, asc, desc, eq, inArray, lt, or, sql } from "drizzle-orm";
import type { Db } from "@/db/client";
import { members, type OperationState, operations, tokens, type VoteDecision, votes } from "@/db/schema";
import { AppError } from "@/server/errors";
import type { Acting } from "@/server/members/guards";
import { initiatorName } from "./initiator";
import { operationKind } from "./kinds";
import { evaluate } from "@/server/policy/evaluate";
import { policyVersion } from "./policy-store";
import { judge } from "./vote";

const initiators = aliasedTable(members, "initiators");

/** States in which an operation may still change what a key is or does: the key page lists them. */
export const OPEN_STATES = ["pending", "approved", "executing"] as const satisfies readonly OperationState[];

type VoteOfList = {
  operationId: string;
  voterId: string;
  decision: VoteDecision;
  name: string;
  status: string;
  roles: string[];
  groups: string[];
};

/**
 * A page of operations, each with its tally now and what it still needs (in words), the viewer's own vote and
 * whether they may vote or cancel. Three reads whatever the page size: the rows, every vote of those rows with
 * each voter as they are now, and the policy versions they were judged under; judged in memory like `judge`.
 */
export async function listOperations(
  db: Db,
  input: { viewer: Acting; state?: OperationState; before?: Date; limit: number; keyId?: string; now?: Date },
) {
  const now = input.now ?? new Date();
  const rows = await db
    .select({
      id: operations.id,
      kind: operations.kind,
      payload: operations.payload,
      state: operations.state,
      initiatorId: operations.initiatorId,
      memberName: initiators.name,
      systemInitiator: operations.systemInitiator,
      policyVersion: operations.policyVersion,
      createdAt: operations.createdAt,
      expiresAt: operations.expiresAt,
      decidedAt: operations.decidedAt,
    })
    .from(operations)
    .leftJoin(initiators, eq(initiators.id, operations.initiatorId))
    .where(
      and(
        input.state ? eq(operations.state, input.state) : undefined,
        input.before ? lt(operations.createdAt, input.before) : undefined,
        input.keyId ? namesKey(input.keyId) : undefined,
      ),
    )
    .orderBy(desc(operations.createdAt), desc(operations.id))
    .limit(input.limit);
  if (rows.length === 0) return [];
  const ids = rows.map((r) => r.id);
  const [cast, policies] = await Promise.all([
    db
      .select({
        operationId: votes.operationId,
        voterId: votes.voterId,
        decision: votes.decision,
        name: members.name,
        status: members.status,
        roles: members.roles,
        groups: members.groups,
      })
      .from(votes)
      .innerJoin(members, eq(members.id, votes.voterId))
      .where(inArray(votes.operationId, ids)),
    Promise.all([...new Set(rows.map((r) => r.policyVersion))].map((v) => policyVersion(db, v))),
  ]);
  const votesOf = new Map<string, VoteOfList[]>();
  for (const v of cast) votesOf.set(v.operationId, [...(votesOf.get(v.operationId) ?? []), v]);
  const policyOf = new Map(policies.map((p) => [p.version, p.document]));
  return rows.map(({ payload, policyVersion: version, memberName, systemInitiator, ...row }) => {
    const kind = operationKind(row.kind);
    const opVotes = votesOf.get(row.id) ?? [];
    const policy = policyOf.get(version);
    const evaluation =
      kind && policy
        ? evaluate({
            operation: {
              kind: row.kind,
              keyTags: kind.facts(payload).keyTags,
              initiatorId: row.initiatorId,
            },
            votes: opVotes.map((v) => ({
              voterId: v.voterId,
              decision: v.decision,
              name: v.name,
              roles: v.roles,
              groups: v.groups,
              // As in judge(): only active approvers count.
              eligible: v.status === "active" && v.roles.includes("approver"),
            })),
            policy,
            now,
          })
        : null;
    const mine = opVotes.find((v) => v.voterId === input.viewer.id);
    const open = row.state === "pending" && now < row.expiresAt;
    return {
      ...row,
      initiatorName: initiatorName({ memberName, systemInitiator }),
      title: kind ? kind.describe(payload).title : row.kind,
      tally:
        evaluation?.tally.map((t) => ({ group: t.group, needed: t.needed, approvals: t.approvals })) ?? [],
      reasons: evaluation?.reasons ?? [],
      myVote: mine?.decision ?? null,
      canVote:
        open && input.viewer.roles.includes("approver") && input.viewer.id !== row.initiatorId && !mine,
      canCancel: open && input.viewer.id === row.initiatorId,
    };
  });
}

/** The operation's payload names this key (`keyId`, or one of `keyIds`): any kind acting on an existing key. */
function namesKey(keyId: string) {
  return or(
    sql`${operations.payload} ->> 'keyId' = ${keyId}`,
    sql`jsonb_typeof(${operations.payload} -> 'keyIds') = 'array' AND jsonb_exists(${operations.payload} -> 'keyIds', ${keyId})`,
  );
}

/** Operations still open (pending, approved, executing) whose payload names the key, newest first. */
export async function openOperationsOnKey(db: Db, input: { viewer: Acting; keyId: string; now?: Date }) {
  const all = await Promise.all(
    OPEN_STATES.map((state) =>
      listOperations(db, { viewer: input.viewer, state, keyId: input.keyId, limit: 50, now: input.now }),
    ),
  );
  return all.flat().sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
}

export async function getOperation(db: Db, input: { viewer: Acting; operationId: string; now: Date }) {
  // Reads trust the session's member (loaded with the request); nothing here changes anything.
  const viewer = input.viewer;
  const [op] = await db.select().from(operations).where(eq(operations.id, input.operationId));
  if (!op) throw new AppError("NOT_FOUND", "No such operation.");
  const kind = operationKind(op.kind);
  if (!kind) throw new AppError("INTERNAL", `Unknown operation kind ${op.kind}.`);
  const [initiator] =
    op.initiatorId === null
      ? []
      : await db.select({ name: members.name }).from(members).where(eq(members.id, op.initiatorId));
  const cast = await db
    .select({
      id: votes.id,
      voterId: votes.voterId,
      voterName: members.name,
      decision: votes.decision,
      tokenId: votes.tokenId,
      tokenNickname: tokens.nickname,
      castAt: votes.castAt,
    })
    .from(votes)
    .innerJoin(members, eq(members.id, votes.voterId))
    .innerJoin(tokens, eq(tokens.id, votes.tokenId))
    .where(eq(votes.operationId, op.id))
    .orderBy(asc(votes.castAt), asc(votes.id));
  const evaluation = await judge(db, op, input.now);
  const counted = new Set([
    ...evaluation.tally.flatMap((t) => t.voterIds),
    ...evaluation.rejections.voterIds,
  ]);
  const mine = cast.find((v) => v.voterId === viewer.id);
  const open = op.state === "pending" && input.now < op.expiresAt;
  return {
    id: op.id,
    kind: op.kind,
    state: op.state,
    digest: op.digest,
    payload: op.payload,
    display: kind.describe(op.payload),
    initiator: {
      id: op.initiatorId,
      name: initiatorName({ memberName: initiator?.name ?? null, systemInitiator: op.systemInitiator }),
    },
    policyVersion: op.policyVersion,
    ruleId: op.ruleId,
    createdAt: op.createdAt,
    expiresAt: op.expiresAt,
    decidedAt: op.decidedAt,
    executedAt: op.executedAt,
    failure: op.failure,
    // A key.create batch's { done, total } (null otherwise): the operation page shows it.
    progress: op.progress,
    // The tally as it stands now; after a decision, the audit event records the one that decided it.
    tally: evaluation.tally.map((t) => ({ group: t.group, needed: t.needed, approvals: t.approvals })),
    reasons: evaluation.reasons,
    votes: cast.map((v) => ({ ...v, counts: counted.has(v.voterId) })),
    myVote: mine?.decision ?? null,
    canVote: open && viewer.roles.includes("approver") && viewer.id !== op.initiatorId && !mine,
    canCancel: open && viewer.id === op.initiatorId,
  };
}
