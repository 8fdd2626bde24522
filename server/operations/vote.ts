// Votes bound to content (ARCHITECTURE.md, "A withdrawal, end to end", step 3). beginVote issues a challenge
// that is SHA-256(JCS({ v: 1, op: digest, decision, voter, nonce })), single use, stored with a subject naming
// the operation, decision, voter and nonce. completeVote consumes it once, checks it was made for exactly this
// operation, decision and voter, verifies the voter's own token signed it (verifyTokenAssertion), stores the
// vote with the whole assertion, and counts the quorum under the operation's row lock, in that transaction.
// Judging is the full policy (judgement.ts), and its answer is acted on by settle.ts: approved, rejected,
// waiting (a delay, a closed window, a full velocity cap) or cancelled when the policy now denies it.
// A veto is a vote too (decision "veto", bound in the challenge like the others): only while the operation waits
// out its rule's delay, before release_at, by an active member of the rule's veto group other than the initiator.
import "server-only";
import { randomBytes } from "node:crypto";
import type { PublicKeyCredentialRequestOptionsJSON } from "@simplewebauthn/server";
import { generateAuthenticationOptions } from "@simplewebauthn/server";
import { and, eq, isNull } from "drizzle-orm";
import type { Db, Tx } from "@/db/client";
import { members, operations, tokens, type VoteDecision, votes } from "@/db/schema";
import { appendAudit } from "@/server/audit/append";
import { type TapResponse, withTapRefusal } from "@/server/auth/tap-refusal";
import { AssertionRefusedError, verifyTokenAssertion } from "@/server/auth/assertion";
import { challengeFromClientData, consumeChallenge, storeChallenge } from "@/server/auth/challenges";
import type { WebAuthnConfig } from "@/server/auth/config";
import { ASSERTION_MESSAGES, type AssertionRefusal } from "@/server/auth/refusals";
import type { AuthenticationResponse } from "@/server/auth/schemas";
import { AppError } from "@/server/errors";
import type { Acting } from "@/server/members/guards";
import { matchRule, type PolicyEvaluation } from "@/server/policy/evaluate";
import { APPROVER_ROLE } from "@/server/policy/constants";
import { inGroup, mayApprove } from "@/server/policy/quorum";
import { approvalSets, type Rule, type RuleBody } from "@/server/policy/schema";
import { voteChallenge, voteChallengeBytes } from "./digest";
import { allowListsFor, judgedVersionOf, judgeOperation, policyOperation } from "./judgement";
import { policyVersion } from "./policy-store";
import { settleJudgement } from "./settle";
import { type OperationRow, operationSubject } from "./transitions";

const VOTE_PURPOSE = "vote";

/** Why a vote was refused; recorded as vote.refused. */
export type VoteRefusal =
  | AssertionRefusal
  | "challenge_invalid"
  | "wrong_operation"
  | "wrong_decision"
  | "wrong_voter"
  | "not_found"
  | "not_pending"
  | "expired"
  | "initiator"
  | "already_voted"
  | "not_approver"
  | "not_in_delay"
  | "veto_too_late"
  | "not_in_veto_group";

const VOTE_MESSAGES: Record<VoteRefusal, string> = {
  ...ASSERTION_MESSAGES,
  wrong_member: "That token belongs to someone else. Vote with one of your own tokens.",
  challenge_invalid:
    "This vote request was already used or has expired. Press Approve or Reject again and tap once.",
  wrong_operation: "This tap was made for another operation. Open the operation again and vote there.",
  wrong_decision: "This tap was made for the other decision. Press the button you mean and tap again.",
  wrong_voter: "This tap was requested by someone else. Vote from your own session.",
  not_found: "No such operation.",
  not_pending: "This operation is no longer waiting for votes.",
  expired: "This operation has expired: votes are no longer accepted.",
  initiator: "You proposed this operation: someone else must approve it.",
  already_voted: "You have already voted on this operation (one vote per person, whatever tokens you hold).",
  not_approver:
    "Voting needs the approver role (an admin votes only on operations whose rule asks for the admins' approvals).",
  not_in_delay: "A veto is possible only while an operation waits out its rule's delay.",
  veto_too_late: "The delay has ended: a veto is no longer possible.",
  not_in_veto_group: "Only members of the rule's veto group can veto this operation.",
};

const REFUSAL_CODES: Partial<Record<VoteRefusal, AppError["code"]>> = {
  challenge_invalid: "EXPIRED",
  verification_failed: "UNAUTHENTICATED",
  user_verification_missing: "UNAUTHENTICATED",
  token_revoked: "UNAUTHENTICATED",
  member_suspended: "FORBIDDEN",
  counter_regressed: "UNAUTHENTICATED",
  not_found: "NOT_FOUND",
  not_pending: "CONFLICT",
  expired: "CONFLICT",
  already_voted: "CONFLICT",
  not_in_delay: "CONFLICT",
  veto_too_late: "CONFLICT",
};

export class VoteRefusedError extends AppError {
  constructor(
    readonly reason: VoteRefusal,
    /** What to append besides vote.refused in the refusal's own transaction (a regressed counter's evidence). */
    readonly evidence: AssertionRefusedError["evidence"] = null,
  ) {
    super(REFUSAL_CODES[reason] ?? "FORBIDDEN", VOTE_MESSAGES[reason]);
  }
}

/** The challenge subject: operation, decision, voter and the nonce hashed into the challenge. */
export function voteSubject(s: {
  operationId: string;
  decision: VoteDecision;
  voterId: string;
  nonce: string;
}) {
  return `vote:${s.operationId}:${s.decision}:${s.voterId}:${s.nonce}`;
}

function parseVoteSubject(subject: string | null) {
  const parts = subject?.split(":") ?? [];
  const [tag, operationId, decision, voterId, nonce] = parts;
  if (parts.length !== 5 || tag !== "vote" || !operationId || !voterId || !nonce) return null;
  if (decision !== "approve" && decision !== "reject" && decision !== "veto") return null;
  return { operationId, decision, voterId, nonce };
}

/** The refusals the operation gives this voter before any tap (also re-checked under the row lock). */
function refusalFor(
  op: OperationRow,
  voterId: string,
  decision: VoteDecision,
  now: Date,
): VoteRefusal | null {
  if (decision === "veto") {
    // Waiting operations do not expire: a veto is bounded by the delay's end instead.
    if (op.state !== "waiting" || op.hold !== "delay") return "not_in_delay";
    if (op.releaseAt === null || now >= op.releaseAt) return "veto_too_late";
    if (op.initiatorId === voterId) return "initiator";
    return null;
  }
  if (op.state !== "pending") return "not_pending";
  if (now >= op.expiresAt) return "expired";
  if (op.initiatorId === voterId) return "initiator";
  return null;
}

/**
 * Loads the voter as they are now: for a veto (`vetoing` is the operation) active and a member of the veto group
 * of the rule it is judged under; for an approval or rejection active and an approver, or an admin where that
 * rule (of `op`) names the admins (server/policy/quorum.ts mayApprove); else a refusal.
 */
async function currentVoter(
  tx: Tx,
  voterId: string,
  vetoing: OperationRow | null = null,
  op: OperationRow | null = null,
) {
  const [row] = await tx
    .select({ status: members.status, roles: members.roles, groups: members.groups })
    .from(members)
    .where(eq(members.id, voterId));
  if (row?.status !== "active") throw new VoteRefusedError("member_suspended");
  if (vetoing !== null) {
    const vetoGroup = await vetoGroupOf(tx, vetoing);
    if (vetoGroup === null || !inGroup({ roles: new Set(row.roles), groups: new Set(row.groups) }, vetoGroup))
      throw new VoteRefusedError("not_in_veto_group");
    return;
  }
  if (row.roles.includes(APPROVER_ROLE)) return;
  const groups =
    op === null
      ? []
      : approvalSets(await judgedRuleOf(tx, op))
          .flat()
          .map((r) => r.group);
  if (!mayApprove(row.roles, groups)) throw new VoteRefusedError("not_approver");
}

/** The rule the operation is judged under now (its judged version, its facts, the allow-lists). */
async function judgedRuleOf(tx: Tx | Db, op: OperationRow): Promise<Rule | RuleBody> {
  const policy = await policyVersion(tx, judgedVersionOf(op));
  const operation = policyOperation(op);
  return matchRule(policy.document, operation, await allowListsFor(tx, policy.document, operation)).rule;
}

/** The veto group of the rule the operation is judged under now, or null when that rule has no delay. */
export async function vetoGroupOf(tx: Tx | Db, op: OperationRow): Promise<string | null> {
  const rule = await judgedRuleOf(tx, op);
  return rule.deny ? null : (rule.delay?.vetoGroup ?? null);
}

async function hasVoted(tx: Tx, operationId: string, voterId: string): Promise<boolean> {
  const [row] = await tx
    .select({ id: votes.id })
    .from(votes)
    .where(and(eq(votes.operationId, operationId), eq(votes.voterId, voterId)));
  return row !== undefined;
}

/**
 * Starts a vote: refuses the initiator, a second vote, an operation not pending or past expiry; otherwise
 * returns WebAuthn options whose challenge binds this operation's digest, the decision, the voter and a nonce.
 */
export async function beginVote(
  db: Db,
  config: WebAuthnConfig,
  input: { voter: Acting; operationId: string; decision: VoteDecision; now: Date },
): Promise<{ options: PublicKeyCredentialRequestOptionsJSON; digest: string }> {
  return withVoteRefusalAudit(db, { ...input, response: null }, () =>
    db.transaction(async (tx) => {
      const [op] = await tx.select().from(operations).where(eq(operations.id, input.operationId));
      await currentVoter(tx, input.voter.id, input.decision === "veto" && op ? op : null, op ?? null);
      if (!op) throw new VoteRefusedError("not_found");
      const refusal = refusalFor(op, input.voter.id, input.decision, input.now);
      if (refusal) throw new VoteRefusedError(refusal);
      if (await hasVoted(tx, op.id, input.voter.id)) throw new VoteRefusedError("already_voted");
      const live = await tx
        .select({ id: tokens.id })
        .from(tokens)
        .where(and(eq(tokens.memberId, input.voter.id), isNull(tokens.revokedAt)));
      if (live.length === 0) throw new VoteRefusedError("token_revoked");
      const nonce = randomBytes(32).toString("base64url");
      const binding = { digest: op.digest, decision: input.decision, voterId: input.voter.id, nonce };
      const options = await generateAuthenticationOptions({
        rpID: config.rpId,
        challenge: voteChallengeBytes(binding),
        userVerification: "required",
        allowCredentials: live.map((t) => ({ id: t.id })),
        timeout: config.challengeTtlMs,
      });
      if (options.challenge !== voteChallenge(binding))
        throw new AppError("INTERNAL", "vote challenge encoding");
      await storeChallenge(tx, {
        purpose: VOTE_PURPOSE,
        challenge: options.challenge,
        subject: voteSubject({
          operationId: op.id,
          decision: input.decision,
          voterId: input.voter.id,
          nonce,
        }),
        expiresAt: new Date(input.now.getTime() + config.challengeTtlMs),
      });
      return { options, digest: op.digest };
    }),
  );
}

export type VoteOutcome = { voteId: string; state: OperationRow["state"]; evaluation: PolicyEvaluation };

/**
 * Completes a vote (see the file comment). The operation moves to approved or rejected in the transaction
 * that stored the deciding vote, counted from every vote read under the row lock, with each voter's status,
 * roles and groups as they are now: a member suspended since their vote no longer counts.
 */
export async function completeVote(
  db: Db,
  config: WebAuthnConfig,
  input: {
    voter: Acting;
    operationId: string;
    decision: VoteDecision;
    response: AuthenticationResponse;
    now: Date;
  },
): Promise<VoteOutcome> {
  return withVoteRefusalAudit(db, input, () =>
    db.transaction(async (tx) => {
      const challenge = challengeFromClientData(input.response.response.clientDataJSON);
      let subject: string | null;
      try {
        ({ subject } = await consumeChallenge(tx, VOTE_PURPOSE, challenge, input.now));
      } catch {
        throw new VoteRefusedError("challenge_invalid");
      }
      const bound = parseVoteSubject(subject);
      if (!bound || bound.operationId !== input.operationId) throw new VoteRefusedError("wrong_operation");
      if (bound.voterId !== input.voter.id) throw new VoteRefusedError("wrong_voter");
      if (bound.decision !== input.decision) throw new VoteRefusedError("wrong_decision");

      // Every vote on this operation waits here for the one before it: the count below sees them all.
      const [op] = await tx
        .select()
        .from(operations)
        .where(eq(operations.id, input.operationId))
        .for("update");
      if (!op) throw new VoteRefusedError("not_found");
      // The challenge must be this operation's digest as stored now (defence in depth: digests never change).
      if (
        voteChallenge({
          digest: op.digest,
          decision: bound.decision,
          voterId: bound.voterId,
          nonce: bound.nonce,
        }) !== challenge
      ) {
        throw new VoteRefusedError("wrong_operation");
      }
      const refusal = refusalFor(op, input.voter.id, input.decision, input.now);
      if (refusal) throw new VoteRefusedError(refusal);
      await currentVoter(tx, input.voter.id, input.decision === "veto" ? op : null, op);

      let tokenId: string;
      try {
        ({ tokenId } = await verifyTokenAssertion(tx, {
          response: input.response,
          expectedChallenge: challenge,
          expectedMemberId: input.voter.id,
          now: input.now,
          config,
        }));
      } catch (e) {
        if (e instanceof AssertionRefusedError) throw new VoteRefusedError(e.reason, e.evidence);
        throw e;
      }
      if (await hasVoted(tx, op.id, input.voter.id)) throw new VoteRefusedError("already_voted");
      const [vote] = await tx
        .insert(votes)
        .values({
          operationId: op.id,
          voterId: input.voter.id,
          tokenId,
          decision: input.decision,
          challenge,
          nonce: bound.nonce,
          assertion: input.response,
          castAt: input.now,
        })
        .returning({ id: votes.id });
      if (!vote) throw new AppError("INTERNAL", "Could not store the vote.");
      const actor = `member:${input.voter.id}` as const;
      await appendAudit(tx, {
        action: "vote.cast",
        actor,
        subject: operationSubject(op.id),
        at: input.now,
        data: {
          operationId: op.id,
          voteId: vote.id,
          voterId: input.voter.id,
          decision: input.decision,
          credentialId: tokenId,
        },
      });

      // Judged under the row lock, with this vote; settle moves it on in this transaction (a veto: rejected).
      const evaluation = await judgeOperation(tx, op, input.now);
      const state = await settleJudgement(tx, op, evaluation, { actor, at: input.now });
      return { voteId: vote.id, state, evaluation };
    }),
  );
}

/**
 * The operation judged now under the full policy (judgement.ts): the version it is judged under, its kind's
 * facts, when its votes met the rule, every vote with the voter's current status, roles and groups (suspended
 * members' votes are ineligible). Read in the caller's transaction; under the row lock when the answer moves it.
 */
export async function judge(tx: Tx | Db, op: OperationRow, now: Date): Promise<PolicyEvaluation> {
  return judgeOperation(tx, op, now);
}

/**
 * Runs a vote step (`run` owns its transaction); a refused vote burns the challenge its response answered and
 * is recorded as vote.refused in a transaction of its own (the step rolled back), then rethrown.
 */
function withVoteRefusalAudit<T>(
  db: Db,
  meta: {
    voter: Acting;
    operationId: string;
    decision: VoteDecision;
    response: TapResponse | null;
    now: Date;
  },
  run: () => Promise<T>,
): Promise<T> {
  return withTapRefusal(
    db,
    {
      of: VoteRefusedError,
      response: meta.response,
      now: meta.now,
      record: (e, credentialId) => ({
        action: "vote.refused",
        actor: `member:${meta.voter.id}`,
        subject: operationSubject(meta.operationId),
        at: meta.now,
        data: {
          operationId: meta.operationId,
          voterId: meta.voter.id,
          decision: meta.decision,
          reason: e.reason,
          credentialId,
        },
      }),
    },
    run,
  );
}
