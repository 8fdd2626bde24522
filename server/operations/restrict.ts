// Restricting is immediate, loosening needs the quorum (ARCHITECTURE.md). Any active admin or approver can
// suspend an active key at once with one fresh tap: beginRestriction issues a challenge of its own (purpose
// "restrict", five minutes, single use) bound to the action, the key and the member; suspendKey consumes it,
// verifies the member's own token signed it (verifyTokenAssertion), and moves the key active → suspended with
// key.suspended in one transaction. No operation record: a suspension is not a quorum decision, and writing one
// as "executed" would fake a pending → approved → executing story the state machine never ran. The key's
// timeline reads the trail by the key's subject (key:<id>), where key.suspended names who and with which token.
// Every refusal burns the tap's challenge and is recorded (restriction.refused) in a transaction of its own.
import "server-only";
import type { PublicKeyCredentialRequestOptionsJSON } from "@simplewebauthn/server";
import { and, eq } from "drizzle-orm";
import type { Db, DbOrTx } from "@/db/client";
import { keys } from "@/db/schema";
import { appendAudit } from "@/server/audit/append";
import type { TapResponse } from "@/server/auth/tap-refusal";
import type { AssertionRefusedError } from "@/server/auth/assertion";
import type { WebAuthnConfig } from "@/server/auth/config";
import { ASSERTION_MESSAGES, type AssertionRefusal } from "@/server/auth/refusals";
import type { AuthenticationResponse } from "@/server/auth/schemas";
import { AppError } from "@/server/errors";
import type { Acting } from "@/server/members/guards";
import { memberWithRole } from "./actors";
import { confirmRestrictionTap, issueRestrictionTap, withRestrictionRefusal } from "./restriction-tap";

/** Who may restrict at once: the people who hold the console's brakes. */
export const RESTRICTORS = ["admin", "approver"] as const;
export type RestrictAction = "key.suspend";

export type RestrictionRefusal =
  | AssertionRefusal
  | "challenge_invalid"
  | "wrong_binding"
  | "not_allowed"
  | "key_not_found"
  | "key_not_active";

const MESSAGES: Record<RestrictionRefusal, string> = {
  ...ASSERTION_MESSAGES,
  wrong_member: "That token belongs to someone else. Confirm with one of your own tokens.",
  challenge_invalid: "This confirmation was already used or has expired. Press Suspend again and tap once.",
  wrong_binding: "This tap was made for another key, another action or another person. Start again here.",
  not_allowed: "Suspending a key needs the admin or approver role.",
  key_not_found: "No such key.",
  key_not_active: "This key is not active, so there is nothing to suspend. Reload to see its state.",
};

const CODES: Partial<Record<RestrictionRefusal, AppError["code"]>> = {
  challenge_invalid: "EXPIRED",
  verification_failed: "UNAUTHENTICATED",
  user_verification_missing: "UNAUTHENTICATED",
  token_revoked: "UNAUTHENTICATED",
  counter_regressed: "UNAUTHENTICATED",
  key_not_found: "NOT_FOUND",
  key_not_active: "CONFLICT",
};

export class RestrictionRefusedError extends AppError {
  constructor(
    readonly reason: RestrictionRefusal,
    readonly evidence: AssertionRefusedError["evidence"] = null,
  ) {
    super(CODES[reason] ?? "FORBIDDEN", MESSAGES[reason]);
  }
}

/** The challenge subject: one action, on one target, by one member. */
export function restrictionSubject(action: RestrictAction, target: string, memberId: string): string {
  return `restrict:${action}:${target}:${memberId}`;
}

async function restrictor(db: DbOrTx, memberId: string) {
  try {
    return await memberWithRole(db, memberId, RESTRICTORS, "suspend a key");
  } catch (e) {
    if (e instanceof AppError && e.code === "FORBIDDEN") throw new RestrictionRefusedError("not_allowed");
    throw e;
  }
}

async function keyState(db: Db, keyId: string) {
  const [row] = await db.select({ state: keys.state }).from(keys).where(eq(keys.id, keyId));
  return row?.state ?? null;
}

/** Issues the tap for suspending `keyId`: refused at once for a non-restrictor or a key that is not active. */
export async function beginSuspendKey(
  db: Db,
  config: WebAuthnConfig,
  input: { actor: Acting; keyId: string; now: Date },
): Promise<{ options: PublicKeyCredentialRequestOptionsJSON }> {
  const action: RestrictAction = "key.suspend";
  return withRefusalAudit(db, { ...input, action, target: input.keyId, response: null }, async () => {
    await restrictor(db, input.actor.id);
    const state = await keyState(db, input.keyId);
    if (state === null) throw new RestrictionRefusedError("key_not_found");
    if (state !== "active") throw new RestrictionRefusedError("key_not_active");
    return issueRestrictionTap(db, config, {
      memberId: input.actor.id,
      subject: restrictionSubject(action, input.keyId, input.actor.id),
      now: input.now,
      refuse: (reason, evidence) => new RestrictionRefusedError(reason, evidence),
    });
  });
}

/**
 * Suspends `keyId` with the tap beginSuspendKey asked for: the key goes active → suspended with key.suspended
 * (who, which token) in one transaction. The move is a conditional update (WHERE state = 'active'), so of two
 * people suspending at once one wins and the other gets CONFLICT, and nothing of theirs is written.
 */
export async function suspendKey(
  db: Db,
  config: WebAuthnConfig,
  input: { actor: Acting; keyId: string; response: AuthenticationResponse; now: Date },
): Promise<{ keyId: string; state: "suspended"; credentialId: string }> {
  const action: RestrictAction = "key.suspend";
  return withRefusalAudit(db, { ...input, action, target: input.keyId }, () =>
    db.transaction(async (tx) => {
      const { tokenId } = await confirmRestrictionTap(tx, config, {
        memberId: input.actor.id,
        subject: restrictionSubject(action, input.keyId, input.actor.id),
        response: input.response,
        now: input.now,
        refuse: (reason, evidence) => new RestrictionRefusedError(reason, evidence),
        // Re-read now: a member suspended or demoted since the tap was issued restricts nothing.
        recheck: () => restrictor(tx, input.actor.id),
      });
      const [moved] = await tx
        .update(keys)
        .set({ state: "suspended", stateChangedAt: input.now })
        .where(and(eq(keys.id, input.keyId), eq(keys.state, "active")))
        .returning({ id: keys.id });
      if (!moved) {
        const [row] = await tx.select({ state: keys.state }).from(keys).where(eq(keys.id, input.keyId));
        throw new RestrictionRefusedError(row ? "key_not_active" : "key_not_found");
      }
      await appendAudit(tx, {
        action: "key.suspended",
        actor: `member:${input.actor.id}`,
        subject: `key:${input.keyId}`,
        at: input.now,
        data: {
          keyId: input.keyId,
          memberId: input.actor.id,
          credentialId: tokenId,
          previousState: "active",
        },
      });
      return { keyId: input.keyId, state: "suspended" as const, credentialId: tokenId };
    }),
  );
}

/**
 * Runs a restriction step; a refusal burns the challenge its response answered (a refused tap cannot be sent
 * again, not even after the key's state changes) and is recorded as restriction.refused in a transaction of
 * its own (the step rolled back), then rethrown.
 */
function withRefusalAudit<T>(
  db: Db,
  meta: { actor: Acting; action: RestrictAction; target: string; response: TapResponse | null; now: Date },
  run: () => Promise<T>,
): Promise<T> {
  return withRestrictionRefusal(
    db,
    {
      of: RestrictionRefusedError,
      memberId: meta.actor.id,
      action: meta.action,
      target: meta.target,
      subject: `key:${meta.target}`,
      response: meta.response,
      now: meta.now,
    },
    run,
  );
}
