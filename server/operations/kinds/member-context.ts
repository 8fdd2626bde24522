// What the membership kinds (member.invite, member.update, member.reinstate, token.revoke) read while proposed
// and do when executed. Browser-safe like types.ts: the server side is server/members/membership-steps.ts (the
// proposing transaction's reader and the executor's steps).
import type { Tx } from "@/db/client";
import type { Role } from "@/db/schema/members";
import { StepRefusedError } from "../executor/step-refused";
import type { ExecuteContext, ExecuteResult, JsonValue } from "../executor/types";

/** One membership change, as a proposal names it and its execution carries it out. */
export type MembershipChange =
  | {
      change: "invite";
      /** SHA-256 hex of the link secret; the secret itself is never stored, digested or shown. */
      secretHash: string;
      name: string;
      roles: Role[];
      groups: string[];
      /** Hours the link works, counted from the execution (the invitation exists only from then). */
      validHours: number;
    }
  | {
      change: "update";
      memberId: string;
      /** As approvers saw them: a member changed by someone else since is refused, not silently overwritten. */
      before: { roles: Role[]; groups: string[] };
      roles: Role[];
      groups: string[];
    }
  | { change: "reinstate"; memberId: string }
  | { change: "revoke-token"; memberId: string; credentialId: string };

/** A member as a proposal about them reads them, in the proposing transaction. */
export type ProposedMember = {
  id: string;
  name: string;
  roles: Role[];
  groups: string[];
  status: "active" | "suspended";
  liveTokens: number;
};

/** A member's token as token.revoke reads it. */
export type ProposedToken = { id: string; nickname: string; memberId: string; revoked: boolean };

/** ProposeReader.members: reads in the proposing transaction; every refusal is CONFLICT or NOT_FOUND in words. */
export type MembershipReader = {
  /** NOT_FOUND (naming payload.memberId) when there is no such member. */
  member(id: string): Promise<ProposedMember>;
  /** NOT_FOUND (naming payload.credentialId) unless it is a token of this member. */
  token(memberId: string, credentialId: string): Promise<ProposedToken>;
  /**
   * Refuses (CONFLICT, the reason in words) a change that cannot be made now: it would leave a reachable rule of
   * the policy in force unreachable, take the last usable admin's role or last token, or is already done.
   */
  check(change: MembershipChange): Promise<void>;
};

/** ExecuteContext.members: the executor's side of the membership kinds. */
export type MembershipSteps = {
  /** The admin lock, then the policy lock: taken first in the completing transaction (ExecuteResult.lock). */
  lock(tx: Tx): Promise<void>;
  /**
   * Outside any transaction: why the change can no longer be made, or null (already done is null too); the
   * operation's initiator (the invitation's creator) is read from its row.
   */
  refusal(change: MembershipChange, op: { id: string }): Promise<string | null>;
  /**
   * In the completing transaction: takes the admin lock, checks again (a refusal throws StepRefusedError, so the
   * repeated step fails the operation with the reason), makes the change with its audit events (already done
   * counts as done: nothing written), then judges open operations again (cause "membership").
   */
  apply(
    tx: Tx,
    change: MembershipChange,
    op: { id: string; initiatorId: string | null },
    at: Date,
  ): Promise<"done" | "already-done">;
};

/**
 * Every membership kind's execute step: refused (the operation fails with the reason, nothing written) when the
 * change can no longer be made; otherwise its record applies it in the completing transaction, where it is
 * checked again under the admin lock. Safe to repeat: a change already done counts as done.
 */
export async function executeMembershipChange(
  ctx: ExecuteContext,
  op: { id: string },
  change: MembershipChange,
  result: { [key: string]: JsonValue },
): Promise<ExecuteResult> {
  const refusal = await ctx.members.refusal(change, op);
  if (refusal !== null) throw new StepRefusedError(refusal);
  return {
    result,
    lock: (tx) => ctx.members.lock(tx),
    record: async (tx, row, at) => {
      await ctx.members.apply(tx, change, { id: row.id, initiatorId: row.initiatorId }, at);
    },
  };
}
