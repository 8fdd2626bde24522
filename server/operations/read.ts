// What the console shows of operations: the list (newest first, by state, or those naming a key), each row
// with its tally in the same few reads, and one operation in full — decoded for the approver by its kind,
// judged now under the policy version it is judged under (tally and reasons in words, by the full policy:
// judgement.ts), what holds a waiting one and until when, and its votes with who cast them, when, and with which
// token.
import "server-only";
import { aliasedTable, and, asc, desc, eq, lt, or, sql } from "drizzle-orm";
import type { Db } from "@/db/client";
import { members, type OperationState, operations, serviceAccounts, tokens, votes } from "@/db/schema";
import { AppError } from "@/server/errors";
import type { Acting } from "@/server/members/guards";
import type { PolicyDocument } from "@/server/policy/document";
import type { PolicyEvaluation } from "@/server/policy/evaluate";
import { matchRule } from "@/server/policy/evaluate";
import { mayApprove } from "@/server/policy/quorum";
import { inGroup } from "@/server/policy/quorum";
import { formatWallTime } from "@/server/policy/windows";
import { groupLabel } from "@/server/policy/words";
import { initiatorName } from "./initiator";
import { type CastVote, castVotes, judgedVersionOf, judgeWith, policyOperation } from "./judgement";
import { operationKind } from "./kinds";
import { policyVersion } from "./policy-store";
import type { OperationRow } from "./transitions";

const initiators = aliasedTable(members, "initiators");

/** States in which an operation may still change what a key is or does: the key page lists them. */
export const OPEN_STATES = [
  "pending",
  "waiting",
  "approved",
  "executing",
] as const satisfies readonly OperationState[];

type HeldRow = Pick<
  OperationRow,
  | "id"
  | "kind"
  | "payload"
  | "state"
  | "initiatorId"
  | "systemInitiator"
  | "serviceAccountId"
  | "hold"
  | "releaseAt"
  | "quorumAt"
>;

/**
 * What holds a waiting operation, in words for the page: the hold, when it is judged again (null: re-checked
 * periodically) as the rule's window zone reads it (UTC otherwise), and the veto group during a delay.
 */
export type Release = {
  hold: "delay" | "window" | "velocity";
  at: Date | null;
  /** "Monday 7 December 00:00 Europe/Zurich"; null when no time is known. */
  when: string | null;
  vetoGroup: string | null;
  /** "security", "the approvers": the veto group as reasons name it. */
  vetoGroupLabel: string | null;
};

/** The groups whose approvals the judged rule asks for (every alternative's): an admin votes where "admins" is one. */
const groupsAsked = (e: PolicyEvaluation | null): string[] =>
  (e?.alternatives ?? []).flat().map((t) => t.group);

function releaseOf(
  op: HeldRow,
  policy: PolicyDocument | undefined,
  e: PolicyEvaluation | null,
): Release | null {
  if (op.state !== "waiting" || op.hold === null) return null;
  const { rule } = policy ? matchRule(policy, policyOperation(op)) : { rule: null };
  const zone = rule && !rule.deny && op.hold === "window" && rule.window ? rule.window.zone : "UTC";
  const vetoGroup = op.hold === "delay" ? (e?.vetoes?.group ?? null) : null;
  return {
    hold: op.hold,
    at: op.releaseAt,
    when: op.releaseAt === null ? null : `${formatWallTime(op.releaseAt.getTime(), zone)} ${zone}`,
    vetoGroup,
    vetoGroupLabel: vetoGroup === null ? null : groupLabel(vetoGroup),
  };
}

type Viewer = { id: string; status: string; roles: string[]; groups: string[] };

/** The viewer as they are now (a veto needs an active member of the veto group, read from the members row). */
async function viewerNow(db: Db, viewer: Acting): Promise<Viewer> {
  const [row] = await db
    .select({ status: members.status, roles: members.roles, groups: members.groups })
    .from(members)
    .where(eq(members.id, viewer.id));
  return {
    id: viewer.id,
    status: row?.status ?? "suspended",
    roles: row?.roles ?? [],
    groups: row?.groups ?? [],
  };
}

/** Whether the viewer may veto now: waiting out its delay, before its end, in the veto group, not its initiator. */
function mayVeto(op: HeldRow, release: Release | null, viewer: Viewer, voted: boolean, now: Date): boolean {
  if (release?.hold !== "delay" || release.vetoGroup === null || release.at === null) return false;
  if (now >= release.at || voted || viewer.id === op.initiatorId || viewer.status !== "active") return false;
  return inGroup({ roles: new Set(viewer.roles), groups: new Set(viewer.groups) }, release.vetoGroup);
}

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
      serviceAccountId: operations.serviceAccountId,
      serviceAccountName: serviceAccounts.name,
      policyVersion: operations.policyVersion,
      judgedVersion: operations.judgedVersion,
      createdAt: operations.createdAt,
      expiresAt: operations.expiresAt,
      decidedAt: operations.decidedAt,
      quorumAt: operations.quorumAt,
      releaseAt: operations.releaseAt,
      hold: operations.hold,
    })
    .from(operations)
    .leftJoin(initiators, eq(initiators.id, operations.initiatorId))
    .leftJoin(serviceAccounts, eq(serviceAccounts.id, operations.serviceAccountId))
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
  const [cast, policies, viewer] = await Promise.all([
    castVotes(db, ids),
    Promise.all([...new Set(rows.map((r) => judgedVersionOf(r)))].map((v) => policyVersion(db, v))),
    viewerNow(db, input.viewer),
  ]);
  const votesOf = new Map<string, CastVote[]>();
  for (const v of cast) votesOf.set(v.operationId, [...(votesOf.get(v.operationId) ?? []), v]);
  const policyOf = new Map(policies.map((p) => [p.version, p.document]));
  return Promise.all(
    rows.map(
      async ({
        payload,
        policyVersion: version,
        judgedVersion,
        memberName,
        systemInitiator,
        serviceAccountName,
        ...row
      }) => {
        const kind = operationKind(row.kind);
        const opVotes = votesOf.get(row.id) ?? [];
        const policy = policyOf.get(judgedVersion ?? version);
        const op = { ...row, payload, systemInitiator };
        // Judged in memory like judge(), by the same function (judgement.ts).
        const evaluation = kind && policy ? await judgeWith(db, { op, cast: opVotes, policy, now }) : null;
        const mine = opVotes.find((v) => v.voterId === input.viewer.id);
        const open = row.state === "pending" && now < row.expiresAt;
        const release = kind ? releaseOf(op, policy, evaluation) : null;
        return {
          ...row,
          policyVersion: version,
          initiatorName: initiatorName({ memberName, systemInitiator, serviceAccountName }),
          title: kind ? kind.describe(payload).title : row.kind,
          tally:
            evaluation?.tally.map((t) => ({ group: t.group, needed: t.needed, approvals: t.approvals })) ??
            [],
          reasons: evaluation?.reasons ?? [],
          release,
          myVote: mine?.decision ?? null,
          canVote:
            open &&
            mayApprove(input.viewer.roles, groupsAsked(evaluation)) &&
            input.viewer.id !== row.initiatorId &&
            !mine,
          canVeto: mayVeto(op, release, viewer, mine !== undefined, now),
          // Waiting never expires: its initiator may cancel it until its release approves it (cancel.ts).
          canCancel: (open || row.state === "waiting") && input.viewer.id === row.initiatorId,
        };
      },
    ),
  );
}

/** The operation's payload names this key (`keyId`, or one of `keyIds`): any kind acting on an existing key. */
function namesKey(keyId: string) {
  return or(
    sql`${operations.payload} ->> 'keyId' = ${keyId}`,
    sql`jsonb_typeof(${operations.payload} -> 'keyIds') = 'array' AND jsonb_exists(${operations.payload} -> 'keyIds', ${keyId})`,
  );
}

/** Operations still open (pending, waiting, approved, executing) whose payload names the key, newest first. */
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
  const [service] =
    op.serviceAccountId === null
      ? []
      : await db
          .select({ name: serviceAccounts.name })
          .from(serviceAccounts)
          .where(eq(serviceAccounts.id, op.serviceAccountId));
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
  const policy = await policyVersion(db, judgedVersionOf(op));
  const evaluation = await judgeWith(db, {
    op,
    cast: await castVotes(db, [op.id]),
    policy: policy.document,
    now: input.now,
  });
  const release = releaseOf(op, policy.document, evaluation);
  const viewerRow = await viewerNow(db, viewer);
  const counted = new Set([
    ...evaluation.tally.flatMap((t) => t.voterIds),
    ...evaluation.rejections.voterIds,
    ...(evaluation.vetoes?.voterIds ?? []),
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
      name: initiatorName({
        memberName: initiator?.name ?? null,
        systemInitiator: op.systemInitiator,
        serviceAccountName: service?.name ?? null,
      }),
    },
    policyVersion: op.policyVersion,
    ruleId: op.ruleId,
    // Set when re-judged under a newer policy (null: as proposed).
    judgedVersion: op.judgedVersion,
    judgedRuleId: op.judgedRuleId,
    quorumAt: op.quorumAt,
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
    release,
    votes: cast.map((v) => ({ ...v, counts: counted.has(v.voterId) })),
    myVote: mine?.decision ?? null,
    canVote:
      open && mayApprove(viewer.roles, groupsAsked(evaluation)) && viewer.id !== op.initiatorId && !mine,
    canVeto: mayVeto(op, release, viewerRow, mine !== undefined, input.now),
    canCancel: (open || op.state === "waiting") && viewer.id === op.initiatorId,
  };
}
