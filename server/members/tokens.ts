// A member's hardware tokens: list, add a second one, revoke. Revoking another person's token, or anyone's
// last live token, needs an admin; revoking a token ends the sessions signed in with it.
import "server-only";
import { and, asc, eq, isNull } from "drizzle-orm";
import type { Db } from "@/db/client";
import { tokens, members } from "@/db/schema";
import { appendAudit } from "@/server/audit/append";
import type { WebAuthnConfig } from "@/server/auth/config";
import { addVerifiedToken, beginRegistration, verifyRegistration, withRefusalAudit } from "@/server/auth/registration";
import type { RegistrationResponse } from "@/server/auth/schemas";
import { endSessionsWhere } from "@/server/auth/sessions";
import { AppError } from "@/server/errors";
import { type Acting, isAdmin, liveTokenCount, otherUsableAdmins } from "./guards";

export async function listTokens(db: Db, memberId: string) {
  return db
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
    .orderBy(asc(tokens.createdAt));
}

export async function beginAddToken(db: Db, config: WebAuthnConfig, input: { memberId: string; now: Date }) {
  const [member] = await db.select().from(members).where(eq(members.id, input.memberId));
  if (!member) throw new AppError("NOT_FOUND", "No such member.");
  const existing = await db
    .select({ id: tokens.id })
    .from(tokens)
    .where(eq(tokens.memberId, member.id));
  return beginRegistration(db, config, {
    purpose: "add-token",
    subject: member.id,
    userHandle: member.userHandle,
    userName: member.name,
    // The browser refuses to register a token that is already on file for this person.
    excludeCredentialIds: existing.map((c) => c.id),
    now: input.now,
  });
}

export async function completeAddToken(
  db: Db,
  config: WebAuthnConfig,
  input: { memberId: string; nickname: string; response: RegistrationResponse; now: Date },
) {
  const actor = `member:${input.memberId}` as const;
  return withRefusalAudit(db, { actor, purpose: "add-token", now: input.now }, async (tx) => {
    const token = await verifyRegistration(tx, config, {
      purpose: "add-token",
      subject: input.memberId,
      response: input.response,
      now: input.now,
    });
    await addVerifiedToken(tx, { memberId: input.memberId, nickname: input.nickname, token, actor, now: input.now });
    return { credentialId: token.id };
  });
}

export async function revokeToken(db: Db, input: { actor: Acting; credentialId: string; now: Date }) {
  return db.transaction(async (tx) => {
    const [token] = await tx
      .select()
      .from(tokens)
      .where(eq(tokens.id, input.credentialId))
      .for("update");
    // A non-admin learns nothing about other people's tokens: same answer as for a token that does not exist.
    if (!token || (token.memberId !== input.actor.id && !isAdmin(input.actor))) {
      throw new AppError("NOT_FOUND", "No such token.");
    }
    if (token.revokedAt) throw new AppError("CONFLICT", "This token is already revoked.");
    const live = await liveTokenCount(tx, token.memberId);
    if (live <= 1 && !isAdmin(input.actor)) {
      throw new AppError(
        "FORBIDDEN",
        "This is your last token: add another token first, or ask an admin to revoke it.",
      );
    }
    if (live <= 1) {
      const [owner] = await tx.select().from(members).where(eq(members.id, token.memberId));
      if (owner?.roles.includes("admin") && owner.status === "active" && (await otherUsableAdmins(tx, owner.id)) === 0) {
        throw new AppError(
          "CONFLICT",
          "This is the last token of the last admin: Keyward would have no admin who can sign in.",
        );
      }
    }
    const actor = `member:${input.actor.id}` as const;
    await tx
      .update(tokens)
      .set({ revokedAt: input.now, revokedBy: input.actor.id })
      .where(and(eq(tokens.id, token.id), isNull(tokens.revokedAt)));
    const sessionsEnded = await endSessionsWhere(tx, {
      tokenId: token.id,
      reason: "token-revoked",
      actor,
      now: input.now,
    });
    await appendAudit(tx, {
      action: "token.revoked",
      actor,
      subject: `token:${token.id}`,
      at: input.now,
      data: { memberId: token.memberId, credentialId: token.id, sessionsEnded },
    });
    return { sessionsEnded };
  });
}
