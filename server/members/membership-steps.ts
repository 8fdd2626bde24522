// The server side of the membership operations (server/operations/kinds/member-*.ts, token-revoke.ts): what the
// proposing transaction reads and checks, and what the executor does in the completing transaction. One check
// (checkChange) decides both times whether a change can be made: the member or token still exists, the change is
// not already done, it takes no last usable admin's role or last token, and it leaves every reachable rule of
// the policy in force reachable (membership-check.ts). The writes are the same cores the direct procedures use
// in setup mode (writeMemberUpdate, writeReactivation, writeTokenRevocation, insertInvitation), so an operation's
// change and its audit events are exactly those of the direct change, plus the operation's id.
import "server-only";
import { and, asc, count, eq, gt, inArray, isNull, or } from "drizzle-orm";
import type { Db, Tx } from "@/db/client";
import { invitations, members, type OperationState, operations, tokens } from "@/db/schema";
import { AppError } from "@/server/errors";
import { rejudgeUnderPolicyInForce } from "@/server/governance/rejudge";
import type {
  MembershipChange,
  MembershipReader,
  MembershipSteps,
} from "@/server/operations/kinds/member-context";
import { StepRefusedError } from "@/server/operations/executor/step-refused";
import { lockPolicies } from "@/server/operations/policy-store";
import { takeAdminLock } from "./admin-lock";
import { liveTokenCount, loadMemberForUpdate, otherUsableAdmins } from "./guards";
import { insertInvitation } from "./invitations";
import { type EligibilityChange, reachabilityAfter, refusalOf } from "./membership-check";
import { writeMemberUpdate, writeReactivation } from "./members";
import { refuseLastAdminToken, writeTokenRevocation } from "./tokens";

const HOUR = 3_600_000;

type Verdict = { done: string | null; refusal: string | null };

const words = (list: readonly string[]) => (list.length === 0 ? "none" : [...list].sort().join(", "));

const sameSet = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && [...a].sort().join("\n") === [...b].sort().join("\n");

async function memberRow(tx: Tx, id: string, lock: boolean) {
  const query = tx.select().from(members).where(eq(members.id, id));
  const [row] = lock ? await query.for("update") : await query;
  return row;
}

/**
 * Whether `change` can be made now, read in `tx` (under the admin lock at execution, `lock` then locks the rows
 * it changes): `done` says why it is already done (nothing to write), `refusal` why it cannot be made.
 */
async function checkChange(
  tx: Tx,
  change: MembershipChange,
  /** The proposing admin at execution; undefined at proposal, where propose.ts checks the proposer's roles. */
  initiatorId: string | null | undefined,
  lock: boolean,
): Promise<Verdict> {
  let eligibility: EligibilityChange = null;
  switch (change.change) {
    case "invite": {
      const [used] = await tx
        .select({ id: invitations.id })
        .from(invitations)
        .where(eq(invitations.secretHash, change.secretHash));
      if (used) return { done: "the invitation exists already", refusal: null };
      // An invitation is only as good as its creator (invitations.ts): made for one who is no longer an active
      // admin, it could never be accepted.
      if (initiatorId !== undefined) {
        const creator = initiatorId === null ? undefined : await memberRow(tx, initiatorId, false);
        if (creator?.status !== "active" || !creator.roles.includes("admin"))
          return {
            done: null,
            refusal: "the admin who proposed the invitation is no longer an active admin",
          };
      }
      // Someone invited holds no token yet: the invitation adds nobody eligible, so it cannot make a rule unreachable.
      break;
    }
    case "update": {
      const member = await memberRow(tx, change.memberId, lock);
      if (!member) return { done: null, refusal: `there is no member ${change.memberId}` };
      if (sameSet(member.roles, change.roles) && sameSet(member.groups, change.groups))
        return { done: `${member.name} has these roles and groups already`, refusal: null };
      if (!sameSet(member.roles, change.before.roles) || !sameSet(member.groups, change.before.groups))
        return {
          done: null,
          refusal: `${member.name}'s roles or groups changed since the proposal (now ${words(member.roles)}; groups ${words(member.groups)}): propose the change again`,
        };
      const losesAdmin = member.roles.includes("admin") && !change.roles.includes("admin");
      if (losesAdmin && (await otherUsableAdmins(tx, member.id)) === 0)
        return {
          done: null,
          refusal: `taking the admin role from ${member.name} would leave Keyward without an active admin who can sign in`,
        };
      eligibility = { memberId: member.id, change: { roles: change.roles, groups: change.groups } };
      break;
    }
    case "reinstate": {
      const member = await memberRow(tx, change.memberId, lock);
      if (!member) return { done: null, refusal: `there is no member ${change.memberId}` };
      if (member.status === "active") return { done: `${member.name} is active already`, refusal: null };
      eligibility = { memberId: member.id, change: { active: true } };
      break;
    }
    case "revoke-token": {
      const query = tx.select().from(tokens).where(eq(tokens.id, change.credentialId));
      const [token] = lock ? await query.for("update") : await query;
      if (!token || token.memberId !== change.memberId)
        return { done: null, refusal: `the member has no token ${change.credentialId}` };
      if (token.revokedAt) return { done: `the token “${token.nickname}” is revoked already`, refusal: null };
      const live = await liveTokenCount(tx, token.memberId);
      const lastAdmin = await refuseLastAdminToken(tx, token.memberId, live).then(
        () => null,
        (e: unknown) => (e instanceof AppError ? e.message : Promise.reject(e)),
      );
      if (lastAdmin !== null) return { done: null, refusal: lastAdmin };
      eligibility = { memberId: token.memberId, change: { liveTokens: live - 1 } };
      break;
    }
  }
  return {
    done: null,
    refusal: eligibility === null ? null : refusalOf(await reachabilityAfter(tx, eligibility)),
  };
}

/** ProposeReader.members for the proposing transaction `tx` (propose.ts). */
export function membershipReader(tx: Tx): MembershipReader {
  return {
    async member(id) {
      const [row] = await tx
        .select({
          id: members.id,
          name: members.name,
          roles: members.roles,
          groups: members.groups,
          status: members.status,
        })
        .from(members)
        .where(eq(members.id, id));
      if (!row)
        throw new AppError("NOT_FOUND", `payload.memberId: no member ${id}.`, { field: "payload.memberId" });
      const [live] = await tx
        .select({ n: count() })
        .from(tokens)
        .where(and(eq(tokens.memberId, id), isNull(tokens.revokedAt)));
      return { ...row, roles: [...row.roles], groups: [...row.groups], liveTokens: live?.n ?? 0 };
    },
    async token(memberId, credentialId) {
      const [row] = await tx.select().from(tokens).where(eq(tokens.id, credentialId));
      if (!row || row.memberId !== memberId)
        throw new AppError("NOT_FOUND", "payload.credentialId: no such token of this member.", {
          field: "payload.credentialId",
        });
      return { id: row.id, nickname: row.nickname, memberId: row.memberId, revoked: row.revokedAt !== null };
    },
    async check(change) {
      const verdict = await checkChange(tx, change, undefined, false);
      if (verdict.done !== null) throw new AppError("CONFLICT", `Nothing to propose: ${verdict.done}.`);
      if (verdict.refusal !== null)
        throw new AppError("CONFLICT", `Refused before anyone votes: ${verdict.refusal}.`);
    },
  };
}

/** ExecuteContext.members for the executor (executor/execute.ts). */
export function membershipSteps(db: Db): MembershipSteps {
  return {
    refusal: (change, op) =>
      db.transaction(async (tx) => {
        const [row] = await tx
          .select({ initiatorId: operations.initiatorId })
          .from(operations)
          .where(eq(operations.id, op.id));
        return (await checkChange(tx, change, row?.initiatorId ?? null, false)).refusal;
      }),
    lock: lockForMembershipChange,
    async apply(tx, change, op, at) {
      // The admin lock serialises this change with every other membership change and its check, so two
      // operations executing at once cannot together make a rule unreachable that each alone leaves reachable;
      // the policy lock, so no policy.update appends a version between the check and the re-judging. Both are
      // taken first in the completing transaction (`lock`, ExecuteResult.lock); taking them again here is a no-op.
      await lockForMembershipChange(tx);
      // The open operations the re-judging below locks, locked now, before any member or token row: a vote
      // locks its operation's row, then its token's (the lock order), so taking a token row first and then an
      // operation row could deadlock with a vote cast by that token at the same moment.
      await lockOpenOperations(tx, at);
      const verdict = await checkChange(tx, change, op.initiatorId, true);
      if (verdict.done !== null) return "already-done";
      if (verdict.refusal !== null) throw new StepRefusedError(verdict.refusal);
      const write = { actor: "system" as const, operationId: op.id, now: at };
      switch (change.change) {
        case "invite": {
          if (op.initiatorId === null)
            throw new StepRefusedError("an invitation needs the admin who proposed it");
          await insertInvitation(tx, {
            ...write,
            secretHash: change.secretHash,
            name: change.name,
            roles: change.roles,
            groups: change.groups,
            createdBy: op.initiatorId,
            expiresAt: new Date(at.getTime() + change.validHours * HOUR),
          });
          break;
        }
        case "update":
          await writeMemberUpdate(tx, await loadMemberForUpdate(tx, change.memberId), {
            ...write,
            roles: change.roles,
            groups: change.groups,
          });
          break;
        case "reinstate":
          await writeReactivation(tx, await loadMemberForUpdate(tx, change.memberId), write);
          break;
        case "revoke-token":
          await writeTokenRevocation(tx, change.credentialId, {
            ...write,
            memberId: change.memberId,
            revokedBy: op.initiatorId,
          });
          break;
      }
      // Votes of people who lost eligibility stop counting, and those of people who regained it count again.
      await rejudgeUnderPolicyInForce(tx, { now: at, cause: "membership" });
      return "done";
    },
  };
}

/** The rows rejudgeOpenOperations locks (pending before its expiry, waiting, approved), in id order. */
async function lockOpenOperations(tx: Tx, at: Date): Promise<void> {
  await tx
    .select({ id: operations.id })
    .from(operations)
    .where(
      or(
        and(eq(operations.state, "pending"), gt(operations.expiresAt, at)),
        inArray(operations.state, ["waiting", "approved"] satisfies OperationState[]),
      ),
    )
    .orderBy(asc(operations.id))
    .for("update");
}

/** The admin lock, then the policy lock (the lock order: both before the operation row). */
async function lockForMembershipChange(tx: Tx): Promise<void> {
  await takeAdminLock(tx);
  await lockPolicies(tx);
}
