// An operation judged under the full policy (server/policy's evaluatePolicy): its kind's facts, every vote with
// the voter as they are now and when it was cast, when its votes met the rule, and the velocity history. Read in
// the caller's transaction; under the row lock when the answer moves the operation (settle.ts). Never judges
// under anything but the version the operation is judged under (`judged_version`, else as proposed).
import "server-only";
import { and, eq, gte, inArray, ne, or } from "drizzle-orm";
import type { DbOrTx } from "@/db/client";
import { members, type OperationState, operations, type VoteDecision, votes } from "@/db/schema";
import { allowListsHolding } from "@/server/allowlists/store";
import { chainConfig } from "@/server/chains/current";
import { locksFor, takeVelocityLocks } from "@/server/withdrawals/velocity-lock";
import { velocityFor } from "@/server/withdrawals/velocity-sums";
import { AppError } from "@/server/errors";
import type { PolicyDocument } from "@/server/policy/document";
import { approvingMembership } from "@/server/policy/quorum";
import type { AllowLists, InitiatorType } from "@/server/policy/schema";
import {
  evaluatePolicy,
  type HistoryEntry,
  matchRule,
  type PolicyEvaluation,
  type PolicyOperation,
  type VoteInput,
} from "@/server/policy/evaluate";
import { operationKind } from "./kinds";
import { policyVersion } from "./policy-store";
import type { OperationRow } from "./transitions";

/** The policy version an operation is judged under now: set by re-judging, else the one it was proposed under. */
export function judgedVersionOf(op: Pick<OperationRow, "judgedVersion" | "policyVersion">): number {
  return op.judgedVersion ?? op.policyVersion;
}

export type JudgedRow = Pick<
  OperationRow,
  "id" | "kind" | "payload" | "initiatorId" | "systemInitiator" | "serviceAccountId" | "quorumAt"
>;

/** Who proposed it, as a rule's `match.initiators` names it (exactly one of the three columns is set). */
export function initiatorType(
  op: Pick<OperationRow, "initiatorId" | "systemInitiator" | "serviceAccountId">,
): InitiatorType {
  if (op.initiatorId !== null) return "member";
  if (op.serviceAccountId !== null) return "service";
  if (op.systemInitiator !== null) return "system";
  throw new AppError("INTERNAL", "An operation without an initiator.");
}

/** The operation as the policy sees it: its kind's facts (kind, key tags, and any chain, asset, amount...). */
export function policyOperation(op: JudgedRow): PolicyOperation {
  const kind = operationKind(op.kind);
  if (!kind) throw new AppError("INTERNAL", `Unknown operation kind ${op.kind}.`);
  const { keyId, ...facts } = kind.facts(op.payload);
  return {
    ...facts,
    kind: op.kind,
    initiator: initiatorType(op),
    initiatorId: op.initiatorId,
    id: op.id,
    ...(keyId !== undefined ? { keyId } : {}),
    quorumAt: op.quorumAt,
  };
}

/** A vote as read with its voter now. */
export type CastVote = {
  voterId: string;
  decision: VoteDecision;
  name: string;
  status: string;
  roles: string[];
  groups: string[];
  castAt: Date;
};

/**
 * Approvals and rejections count from active approvers, and from active admins in the role group "admins"
 * (server/policy/quorum.ts approvingMembership: where each one counts); a veto counts from an active member of
 * the veto group.
 */
export function policyVotes(cast: readonly CastVote[]): VoteInput[] {
  return cast.map((v) => {
    // A vote stops counting when its voter is suspended or loses the role; a veto needs no approver role
    // (the veto group is its own), only an active member (evaluatePolicy counts it from the veto group only).
    const counts = v.decision === "veto" ? { roles: v.roles, groups: v.groups } : approvingMembership(v);
    return {
      voterId: v.voterId,
      decision: v.decision,
      name: v.name,
      roles: counts?.roles ?? v.roles,
      groups: counts?.groups ?? [],
      at: v.castAt,
      eligible: v.status === "active" && counts !== null,
    };
  });
}

export const castVoteColumns = {
  voterId: votes.voterId,
  decision: votes.decision,
  name: members.name,
  status: members.status,
  roles: members.roles,
  groups: members.groups,
  castAt: votes.castAt,
};

/** Every vote on the operations, with each voter as they are now. */
export async function castVotes(db: DbOrTx, operationIds: readonly string[]) {
  if (operationIds.length === 0) return [];
  return db
    .select({ operationId: votes.operationId, ...castVoteColumns })
    .from(votes)
    .innerJoin(members, eq(members.id, votes.voterId))
    .where(inArray(votes.operationId, [...operationIds]));
}

/** States whose amounts count towards velocity caps while not executed (approved-but-unexecuted). */
const UNEXECUTED: readonly OperationState[] = ["waiting", "approved", "executing"];

/**
 * Whether judging this operation needs the velocity history: its rule has caps and it carries an amount. No kind
 * carries amounts yet (withdrawals come with issue 14), so today the history is never read.
 */
export function needsHistory(
  policy: PolicyDocument,
  op: PolicyOperation,
  allowLists: AllowLists = {},
): boolean {
  const { rule } = matchRule(policy, op, allowLists);
  return !rule.deny && (rule.velocity?.length ?? 0) > 0 && op.amount !== undefined;
}

/**
 * Executed operations within the policy's longest velocity window, and unexecuted approved ones (waiting,
 * approved, executing), whose kinds carry an amount: what velocity caps count. `excludeId`: the one judged.
 * Row by row, every payload parsed in Node: O(the window's operations). Judgements count from the velocity
 * ledger and its buckets instead (server/withdrawals/velocity-sums.ts); this stays as the reference they are
 * checked against (tests, the bench).
 */
export async function velocityHistory(
  db: DbOrTx,
  input: { policy: PolicyDocument; now: Date; excludeId?: string },
): Promise<HistoryEntry[]> {
  const hours = Math.max(
    0,
    ...[...input.policy.rules, input.policy.default].flatMap((r) =>
      r.deny ? [] : (r.velocity ?? []).map((c) => c.windowHours),
    ),
  );
  if (hours === 0) return [];
  const since = new Date(input.now.getTime() - hours * 3_600_000);
  const rows = await db
    .select({
      id: operations.id,
      kind: operations.kind,
      payload: operations.payload,
      state: operations.state,
      executedAt: operations.executedAt,
    })
    .from(operations)
    .where(
      and(
        or(
          inArray(operations.state, [...UNEXECUTED]),
          and(eq(operations.state, "executed"), gte(operations.executedAt, since)),
        ),
        input.excludeId !== undefined ? ne(operations.id, input.excludeId) : undefined,
      ),
    );
  const out: HistoryEntry[] = [];
  for (const row of rows) {
    const facts = operationKind(row.kind)?.facts(row.payload);
    if (facts?.amount === undefined || facts.chain === undefined || facts.asset === undefined) continue;
    out.push({
      operationId: row.id,
      keyId: facts.keyId ?? null,
      chain: facts.chain,
      asset: facts.asset,
      amount: facts.amount,
      executedAt: row.state === "executed" ? row.executedAt : null,
    });
  }
  return out;
}

/** Whether any rule of the document names an allow-list (a rule's allowList, or a destination match). */
export function namesAllowList(policy: PolicyDocument): boolean {
  return (
    policy.rules.some((r) => r.match.destination !== undefined) ||
    [...policy.rules, policy.default].some((r) => !r.deny && r.allowList !== undefined)
  );
}

/**
 * The allow-lists as the judgement of `op` needs them: the lists holding its destination on its chain
 * (server/allowlists/store.ts), read only when it has a destination and the policy names an allow-list.
 */
export async function allowListsFor(
  db: DbOrTx,
  policy: PolicyDocument,
  op: Pick<PolicyOperation, "chain" | "destination">,
): Promise<AllowLists> {
  if (op.chain === undefined || op.destination === undefined || !namesAllowList(policy)) return {};
  return allowListsHolding(db, op.chain, op.destination);
}

/** Judges one operation from its votes as cast (see policyVotes) under its policy document, now. */
export async function judgeWith(
  db: DbOrTx,
  input: {
    op: JudgedRow;
    cast: readonly CastVote[];
    policy: PolicyDocument;
    now: Date;
    /**
     * True when the answer can make its amount count (a proposal, the vote completing a quorum, a release): the
     * velocity locks of its chain are taken in `db` (a transaction) before the history is read, and held until
     * it commits (server/withdrawals/velocity-lock.ts). Reads for display leave it out.
     */
    lockVelocity?: boolean;
    /** The allow-lists as allowListsFor reads them for this operation, when the caller has them already. */
    allowLists?: AllowLists;
  },
): Promise<PolicyEvaluation> {
  const operation = policyOperation(input.op);
  const allowLists = input.allowLists ?? (await allowListsFor(db, input.policy, operation));
  const counting = needsHistory(input.policy, operation, allowLists);
  const locked = counting && input.lockVelocity ? locksFor(input.policy, operation, allowLists) : [];
  await takeVelocityLocks(db, locked);
  // Summed by the database (server/withdrawals/velocity-sums.ts), not read row by row; the locked chains'
  // executed amounts are rolled up into their buckets first.
  const velocity = counting
    ? await velocityFor(db, { policy: input.policy, op: operation, allowLists, now: input.now, locked })
    : undefined;
  return evaluatePolicy({
    operation,
    votes: policyVotes(input.cast),
    policy: input.policy,
    now: input.now,
    history: [],
    ...(velocity !== undefined ? { velocity } : {}),
    allowLists,
    // Amounts in reasons in the asset's words, and cross-chain caps in one unit: only operations moving funds.
    ...(operation.amount !== undefined ? { assets: chainConfig().assets } : {}),
  });
}

/**
 * The operation judged now: the policy version it is judged under, its kind's facts, when its votes met the
 * rule, every vote with the voter's current status, roles and groups, and the velocity history when its rule
 * has caps, read under the velocity locks (which it takes: its answer moves the operation). In the caller's
 * transaction, under the row lock.
 */
export async function judgeOperation(
  db: DbOrTx,
  op: Pick<
    OperationRow,
    | "id"
    | "kind"
    | "payload"
    | "initiatorId"
    | "systemInitiator"
    | "serviceAccountId"
    | "quorumAt"
    | "judgedVersion"
    | "policyVersion"
  >,
  now: Date,
): Promise<PolicyEvaluation> {
  const policy = await policyVersion(db, judgedVersionOf(op));
  const cast = await castVotes(db, [op.id]);
  return judgeWith(db, { op, cast, policy: policy.document, now, lockVelocity: true });
}
