// What the console shows of operations: the list (newest first, by state) and one operation in full — decoded
// for the approver by its kind, judged now under the policy version it was proposed under (tally and reasons in
// words), and its votes with who cast them, when, and with which token.
import "server-only";
import { aliasedTable, and, asc, desc, eq, lt } from "drizzle-orm";
import type { Db } from "@/db/client";
import { members, type OperationState, operations, tokens, votes } from "@/db/schema";
import { AppError } from "@/server/errors";
import type { Acting } from "@/server/members/guards";
import { operationKind } from "./kinds";
import { judge } from "./vote";

const initiators = aliasedTable(members, "initiators");

export async function listOperations(
  db: Db,
  input: { viewer: Acting; state?: OperationState; before?: Date; limit: number },
) {
  const rows = await db
    .select({
      id: operations.id,
      kind: operations.kind,
      payload: operations.payload,
      state: operations.state,
      initiatorId: operations.initiatorId,
      initiatorName: initiators.name,
      createdAt: operations.createdAt,
      expiresAt: operations.expiresAt,
      decidedAt: operations.decidedAt,
    })
    .from(operations)
    .innerJoin(initiators, eq(initiators.id, operations.initiatorId))
    .where(
      and(
        input.state ? eq(operations.state, input.state) : undefined,
        input.before ? lt(operations.createdAt, input.before) : undefined,
      ),
    )
    .orderBy(desc(operations.createdAt), desc(operations.id))
    .limit(input.limit);
  return rows.map(({ payload, ...row }) => ({ ...row, title: titleOf(row.kind, payload) }));
}

function titleOf(kind: string, payload: unknown): string {
  const k = operationKind(kind);
  return k ? k.describe(payload).title : kind;
}

export async function getOperation(db: Db, input: { viewer: Acting; operationId: string; now: Date }) {
  // Reads trust the session's member (loaded with the request); nothing here changes anything.
  const viewer = input.viewer;
  const [op] = await db.select().from(operations).where(eq(operations.id, input.operationId));
  if (!op) throw new AppError("NOT_FOUND", "No such operation.");
  const kind = operationKind(op.kind);
  if (!kind) throw new AppError("INTERNAL", `Unknown operation kind ${op.kind}.`);
  const [initiator] = await db
    .select({ name: members.name })
    .from(members)
    .where(eq(members.id, op.initiatorId));
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
    initiator: { id: op.initiatorId, name: initiator?.name ?? "" },
    policyVersion: op.policyVersion,
    ruleId: op.ruleId,
    createdAt: op.createdAt,
    expiresAt: op.expiresAt,
    decidedAt: op.decidedAt,
    executedAt: op.executedAt,
    failure: op.failure,
    // The tally as it stands now; after a decision, the audit event records the one that decided it.
    tally: evaluation.tally.map((t) => ({ group: t.group, needed: t.needed, approvals: t.approvals })),
    reasons: evaluation.reasons,
    votes: cast.map((v) => ({ ...v, counts: counted.has(v.voterId) })),
    myVote: mine?.decision ?? null,
    canVote: open && viewer.roles.includes("approver") && viewer.id !== op.initiatorId && !mine,
    canCancel: open && viewer.id === op.initiatorId,
  };
}
