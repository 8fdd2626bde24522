// A member's hardware tokens: list, add another one, revoke. Adding a token needs a fresh tap of one of the
// member's own live tokens first (see step-up.ts): a session alone, stolen or not, cannot add one. Revoking
// another person's token, or anyone's last live token, needs an admin; revoking a token ends the sessions
// signed in with it.
import "server-only";
import type {
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
} from "@simplewebauthn/server";
import { and, asc, eq, inArray, isNull } from "drizzle-orm";
import type { Db, Tx } from "@/db/client";
import { auditEvents, members, tokens } from "@/db/schema";
import { appendAudit } from "@/server/audit/append";
import { type Actor, auditEventSchema } from "@/server/audit/events";
import type { WebAuthnConfig } from "@/server/auth/config";
import {
  beginRegistration,
  insertCredential,
  registrationDigests,
  verifyRegistration,
  withRefusalAudit,
} from "@/server/auth/registration";
import type { AuthenticationResponse, RegistrationResponse } from "@/server/auth/schemas";
import { endSessionsWhere } from "@/server/auth/sessions";
import { AppError } from "@/server/errors";
import { requireSetupMode } from "@/server/governance/mode";
import { lockAndReloadActing } from "./admin-lock";
import { type Acting, isAdmin, liveTokenCount, otherUsableAdmins } from "./guards";
import {
  additionSubject,
  approveStepUp,
  beginStepUp,
  requireStepUpApproval,
  withStepUpRefusalAudit,
} from "./step-up";

/** A member's tokens, oldest first, each with the token whose tap approved adding it (null for the first). */
export async function listTokens(db: Db, memberId: string) {
  const rows = await db
    .select({
      id: tokens.id,
      nickname: tokens.nickname,
      aaguid: tokens.aaguid,
      attestationFormat: tokens.attestationFormat,
      transports: tokens.transports,
      createdAt: tokens.createdAt,
      lastUsedAt: tokens.lastUsedAt,
      revokedAt: tokens.revokedAt,
    })
    .from(tokens)
    .where(eq(tokens.memberId, memberId))
    .orderBy(asc(tokens.createdAt), asc(tokens.id));
  const approvals = await approvalsOf(
    db,
    rows.map((t) => t.id),
  );
  const nicknames = new Map(rows.map((t) => [t.id, t.nickname]));
  return rows.map((t) => {
    const approver = approvals.get(t.id);
    // The nickname of the token whose tap approved this one; null for a token added at setup or invitation.
    const approvedBy =
      approver === undefined ? null : (nicknames.get(approver) ?? "a token no longer on file");
    return { ...t, approvedBy };
  });
}

/** Which token approved each addition, as the audit trail records it (`token.added`). */
async function approvalsOf(db: Db, tokenIds: string[]): Promise<Map<string, string>> {
  if (tokenIds.length === 0) return new Map();
  const rows = await db
    .select({ action: auditEvents.action, data: auditEvents.data })
    .from(auditEvents)
    .where(
      and(
        eq(auditEvents.action, "token.added"),
        inArray(
          auditEvents.subject,
          tokenIds.map((id) => `token:${id}`),
        ),
      ),
    );
  const approvals = new Map<string, string>();
  for (const row of rows) {
    const event = auditEventSchema.parse(row);
    if (event.action === "token.added") approvals.set(event.data.credentialId, event.data.approvedBy);
  }
  return approvals;
}

/** Step 1 of adding a token: a step-up challenge for a new addition, answerable by the member's live tokens. */
export async function beginAddToken(
  db: Db,
  config: WebAuthnConfig,
  input: { memberId: string; now: Date },
): Promise<{ additionId: string; options: PublicKeyCredentialRequestOptionsJSON }> {
  return beginStepUp(db, config, input);
}

/**
 * Step 2: verifies the step-up tap (consumed once, this member's own live token, user verified) and only then
 * issues the registration options for the new token, bound to the same addition.
 */
export async function approveAddToken(
  db: Db,
  config: WebAuthnConfig,
  input: { memberId: string; additionId: string; response: AuthenticationResponse; now: Date },
): Promise<PublicKeyCredentialCreationOptionsJSON> {
  return withStepUpRefusalAudit(db, input, () =>
    db.transaction(async (tx) => {
      await approveStepUp(tx, config, input);
      const [member] = await tx.select().from(members).where(eq(members.id, input.memberId));
      if (!member) throw new AppError("NOT_FOUND", "No such member.");
      const existing = await tx.select({ id: tokens.id }).from(tokens).where(eq(tokens.memberId, member.id));
      return beginRegistration(tx, config, {
        purpose: "add-token",
        subject: additionSubject(member.id, input.additionId),
        userHandle: member.userHandle,
        userName: member.name,
        // The browser refuses to register a token that is already on file for this person.
        excludeCredentialIds: existing.map((c) => c.id),
        now: input.now,
      });
    }),
  );
}

/**
 * Step 3: registers the new token, if this registration answers the challenge of an addition whose step-up
 * was approved for this member by a token that is still live. Recorded as `token.added` with its approver.
 */
export async function completeAddToken(
  db: Db,
  config: WebAuthnConfig,
  input: {
    memberId: string;
    additionId: string;
    nickname: string;
    response: RegistrationResponse;
    now: Date;
  },
) {
  const actor = `member:${input.memberId}` as const;
  return withStepUpRefusalAudit(db, input, () =>
    withRefusalAudit(db, { actor, purpose: "add-token", now: input.now }, async (tx) => {
      const { approvedBy } = await requireStepUpApproval(tx, input);
      const token = await verifyRegistration(tx, config, {
        purpose: "add-token",
        subject: additionSubject(input.memberId, input.additionId),
        response: input.response,
        now: input.now,
      });
      await insertCredential(tx, input.memberId, input.nickname, token);
      await appendAudit(tx, {
        action: "token.added",
        actor,
        subject: `token:${token.id}`,
        at: input.now,
        data: {
          memberId: input.memberId,
          credentialId: token.id,
          additionId: input.additionId,
          approvedBy,
          aaguid: token.aaguid,
          attestationFormat: token.attestationFormat,
          transports: token.transports,
          ...registrationDigests(token),
        },
      });
      return { credentialId: token.id, approvedBy };
    }),
  );
}

export async function revokeToken(db: Db, input: { actor: Acting; credentialId: string; now: Date }) {
  return db.transaction(async (tx) => {
    // Under the admin lock, with the actor's roles as they are now (not the session's): revocations can take
    // away an admin's last way in, so they are serialised with each other and with every admin change.
    const acting = await lockAndReloadActing(tx, input.actor, "revoke tokens");
    const [token] = await tx.select().from(tokens).where(eq(tokens.id, input.credentialId)).for("update");
    // A non-admin learns nothing about other people's tokens: same answer as for a token that does not exist.
    if (!token || (token.memberId !== acting.id && !isAdmin(acting))) {
      throw new AppError("NOT_FOUND", "No such token.");
    }
    // Once live, taking another member's token away changes who can approve: a token.revoke operation does it.
    // Your own token stays yours to revoke.
    if (token.memberId !== acting.id) await requireSetupMode(tx, "revoking another member's token");
    if (token.revokedAt) throw new AppError("CONFLICT", "This token is already revoked.");
    const live = await liveTokenCount(tx, token.memberId);
    if (live <= 1 && !isAdmin(acting)) {
      throw new AppError(
        "FORBIDDEN",
        "This is your last token: add another token first, or ask an admin to revoke it.",
      );
    }
    await refuseLastAdminToken(tx, token.memberId, live);
    return writeTokenRevocation(tx, token.id, {
      memberId: token.memberId,
      revokedBy: input.actor.id,
      actor: `member:${input.actor.id}`,
      now: input.now,
    });
  });
}

/** Refuses revoking the last live token of the last usable admin (`live`: the owner's live tokens now). */
export async function refuseLastAdminToken(tx: Tx, ownerId: string, live: number): Promise<void> {
  if (live > 1) return;
  const [owner] = await tx.select().from(members).where(eq(members.id, ownerId));
  if (
    owner?.roles.includes("admin") &&
    owner.status === "active" &&
    (await otherUsableAdmins(tx, owner.id)) === 0
  ) {
    throw new AppError(
      "CONFLICT",
      "This is the last token of the last admin: Keyward would have no admin who can sign in.",
    );
  }
}

/**
 * The revocation itself, in the caller's transaction under the admin lock with the token row locked: revoked,
 * the sessions signed in with it ended, token.revoked (naming the operation when one revoked it).
 */
export async function writeTokenRevocation(
  tx: Tx,
  tokenId: string,
  input: { memberId: string; revokedBy: string | null; actor: Actor; operationId?: string; now: Date },
): Promise<{ sessionsEnded: number }> {
  await tx
    .update(tokens)
    .set({ revokedAt: input.now, revokedBy: input.revokedBy })
    .where(and(eq(tokens.id, tokenId), isNull(tokens.revokedAt)));
  const sessionsEnded = await endSessionsWhere(tx, {
    tokenId,
    reason: "token-revoked",
    actor: input.actor,
    now: input.now,
  });
  await appendAudit(tx, {
    action: "token.revoked",
    actor: input.actor,
    subject: `token:${tokenId}`,
    at: input.now,
    data: {
      memberId: input.memberId,
      credentialId: tokenId,
      sessionsEnded,
      ...(input.operationId !== undefined ? { operationId: input.operationId } : {}),
    },
  });
  return { sessionsEnded };
}
