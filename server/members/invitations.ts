// Invitations: an admin invites a person by a single-use, expiring link carrying roles and groups; the
// person accepts by registering a hardware token. Only the link secret's hash is stored. An invitation is
// only as good as its creator: it works while they are an active admin, and suspending or demoting them
// revokes their open invitations in the same transaction. Once Keyward is live an invitation is a member.invite
// operation (server/operations/kinds/member-invite.ts), created by insertInvitation when executed; invitations
// made in setup mode stop working when it goes live.
import "server-only";
import { and, desc, eq, gt, gte, isNull } from "drizzle-orm";
import type { Db, Tx } from "@/db/client";
import { invitations, members, type Role } from "@/db/schema";
import { appendAudit } from "@/server/audit/append";
import type { Actor } from "@/server/audit/events";
import type { WebAuthnConfig } from "@/server/auth/config";
import {
  addVerifiedToken,
  beginRegistration,
  newUserHandle,
  verifyRegistration,
  withRefusalAudit,
} from "@/server/auth/registration";
import type { RegistrationResponse } from "@/server/auth/schemas";
import { newInvitationSecret, sha256Hex } from "@/server/auth/secrets";
import { AppError } from "@/server/errors";
import { installationMode, requireSetupMode } from "@/server/governance/mode";
import { lockAsAdmin, takeAdminLock } from "./admin-lock";
import { type Acting, requireAdmin } from "./guards";

export async function createInvitation(
  db: Db,
  input: { actor: Acting; name: string; roles: Role[]; groups: string[]; ttlMs: number; now: Date },
) {
  requireAdmin(input.actor, "invite members");
  const secret = newInvitationSecret();
  const expiresAt = new Date(input.now.getTime() + input.ttlMs);
  return db.transaction(async (tx) => {
    // Under the admin lock, so no invitation slips in after a suspension or demotion swept the creator's.
    await lockAsAdmin(tx, input.actor, "invite members");
    // Once live, a new member (and their roles) needs the quorum: a member.invite operation creates it.
    await requireSetupMode(tx, "inviting a member");
    const { id } = await insertInvitation(tx, {
      secretHash: sha256Hex(secret),
      name: input.name,
      roles: input.roles,
      groups: input.groups,
      createdBy: input.actor.id,
      actor: `member:${input.actor.id}`,
      expiresAt,
      now: input.now,
    });
    // The secret leaves the server once, in this response; it is never stored or logged.
    return { id, secret, expiresAt };
  });
}

/**
 * Stores an invitation by the hash of its link secret, with invitation.created (naming the operation when a
 * member.invite made it), in the caller's transaction under the admin lock.
 */
export async function insertInvitation(
  tx: Tx,
  input: {
    secretHash: string;
    name: string;
    roles: Role[];
    groups: string[];
    createdBy: string;
    actor: Actor;
    operationId?: string;
    expiresAt: Date;
    now: Date;
  },
): Promise<{ id: string }> {
  const [row] = await tx
    .insert(invitations)
    .values({
      secretHash: input.secretHash,
      name: input.name,
      roles: input.roles,
      groups: input.groups,
      createdBy: input.createdBy,
      createdAt: input.now,
      expiresAt: input.expiresAt,
    })
    .returning({ id: invitations.id });
  if (!row) throw new AppError("INTERNAL", "Could not store the invitation");
  await appendAudit(tx, {
    action: "invitation.created",
    actor: input.actor,
    subject: `invitation:${row.id}`,
    at: input.now,
    data: {
      invitationId: row.id,
      name: input.name,
      roles: input.roles,
      groups: input.groups,
      expiresAt: input.expiresAt.toISOString(),
      ...(input.operationId !== undefined ? { operationId: input.operationId } : {}),
    },
  });
  return { id: row.id };
}

export async function listOpenInvitations(db: Db, now: Date) {
  const mode = await installationMode(db);
  return db
    .select({
      id: invitations.id,
      name: invitations.name,
      roles: invitations.roles,
      groups: invitations.groups,
      createdAt: invitations.createdAt,
      expiresAt: invitations.expiresAt,
    })
    .from(invitations)
    .where(
      and(
        isNull(invitations.acceptedAt),
        isNull(invitations.revokedAt),
        gt(invitations.expiresAt, now),
        // Made in setup mode and no longer usable once live (openInvitation).
        mode.mode === "live" ? gte(invitations.createdAt, mode.since) : undefined,
      ),
    )
    .orderBy(desc(invitations.createdAt));
}

export async function revokeInvitation(db: Db, input: { actor: Acting; invitationId: string; now: Date }) {
  requireAdmin(input.actor, "revoke invitations");
  await db.transaction(async (tx) => {
    // Invitation rows change only under the admin lock (see revokeOpenInvitationsBy).
    await lockAsAdmin(tx, input.actor, "revoke invitations");
    const revoked = await tx
      .update(invitations)
      .set({ revokedAt: input.now })
      .where(
        and(
          eq(invitations.id, input.invitationId),
          isNull(invitations.acceptedAt),
          isNull(invitations.revokedAt),
        ),
      )
      .returning({ id: invitations.id });
    if (revoked.length === 0) throw new AppError("CONFLICT", "This invitation was already used or revoked.");
    await appendAudit(tx, {
      action: "invitation.revoked",
      actor: `member:${input.actor.id}`,
      subject: `invitation:${input.invitationId}`,
      at: input.now,
      data: { invitationId: input.invitationId },
    });
  });
}

export type InvitationRevokeReason = "creator-suspended" | "creator-demoted";

/**
 * Revokes every open invitation `creatorId` made, in the caller's transaction (a suspension or a demotion,
 * under the admin lock), and records each as `invitation.revoked` with the reason. Returns how many.
 * Invitation rows change only under the admin lock, so these row locks never wait on a holder of the audit lock.
 */
export async function revokeOpenInvitationsBy(
  tx: Tx,
  input: { creatorId: string; reason: InvitationRevokeReason; actor: Actor; now: Date },
): Promise<number> {
  const revoked = await tx
    .update(invitations)
    .set({ revokedAt: input.now })
    .where(
      and(
        eq(invitations.createdBy, input.creatorId),
        isNull(invitations.acceptedAt),
        isNull(invitations.revokedAt),
        gt(invitations.expiresAt, input.now),
      ),
    )
    .returning({ id: invitations.id });
  const ids = revoked.map((r) => r.id).sort();
  for (const invitationId of ids) {
    await appendAudit(tx, {
      action: "invitation.revoked",
      actor: input.actor,
      subject: `invitation:${invitationId}`,
      at: input.now,
      data: { invitationId, reason: input.reason },
    });
  }
  return ids.length;
}

const SETUP_INVITATION =
  "This invitation was made before Keyward went live; a new member now needs the quorum. Ask an admin to propose a new invitation.";

const CREATOR_GONE =
  "This invitation was made by someone who is no longer an active admin, so it cannot be used. Ask an admin for a new one.";

/**
 * Finds the open invitation behind a link secret, or says clearly why it cannot be used. With `lock` (inside
 * acceptance, under the admin lock) the row is locked, so two acceptances of one link run one after the other.
 */
async function openInvitation(db: Db | Tx, secret: string, now: Date, lock = false) {
  const query = db
    .select()
    .from(invitations)
    .where(eq(invitations.secretHash, sha256Hex(secret)));
  const [row] = lock ? await query.for("update") : await query;
  if (!row) throw new AppError("NOT_FOUND", "This invitation link is not valid. Ask an admin for a new one.");
  if (row.acceptedAt) throw new AppError("CONFLICT", "This invitation was already used. Sign in instead.");
  if (row.revokedAt)
    throw new AppError("EXPIRED", "This invitation was revoked. Ask an admin for a new one.");
  if (row.expiresAt.getTime() <= now.getTime()) {
    throw new AppError("EXPIRED", "This invitation has expired. Ask an admin for a new one.");
  }
  // An invitation one admin made alone in setup mode does not outlive going live: from then on a new member
  // needs the quorum (member.invite), whose invitations are created when executed, after going live.
  const mode = await installationMode(db);
  if (mode.mode === "live" && row.createdAt.getTime() < mode.since.getTime()) {
    throw new AppError("EXPIRED", SETUP_INVITATION);
  }
  const [creator] = await db
    .select({ roles: members.roles, status: members.status })
    .from(members)
    .where(eq(members.id, row.createdBy));
  if (creator?.status !== "active" || !creator.roles.includes("admin")) {
    throw new AppError("FORBIDDEN", CREATOR_GONE);
  }
  return row;
}

export async function describeInvitation(db: Db, secret: string, now: Date) {
  const row = await openInvitation(db, secret, now);
  return { name: row.name, roles: row.roles, groups: row.groups, expiresAt: row.expiresAt };
}

export async function beginAcceptInvitation(
  db: Db,
  config: WebAuthnConfig,
  input: { secret: string; now: Date },
) {
  const row = await openInvitation(db, input.secret, input.now);
  return beginRegistration(db, config, {
    purpose: "invitation",
    subject: row.id,
    userHandle: newUserHandle(),
    userName: row.name,
    now: input.now,
  });
}

export async function completeAcceptInvitation(
  db: Db,
  config: WebAuthnConfig,
  input: { secret: string; tokenName: string; response: RegistrationResponse; now: Date },
) {
  return withRefusalAudit(db, { actor: "anonymous", purpose: "invitation", now: input.now }, async (tx) => {
    // The admin lock first: acceptance may add an admin, and its creator check must not race a suspension.
    await takeAdminLock(tx);
    const invitation = await openInvitation(tx, input.secret, input.now, true);
    const token = await verifyRegistration(tx, config, {
      purpose: "invitation",
      subject: invitation.id,
      response: input.response,
      now: input.now,
    });
    const [member] = await tx
      .insert(members)
      .values({
        name: invitation.name,
        roles: invitation.roles,
        groups: invitation.groups,
        userHandle: token.userHandle,
        createdAt: input.now,
      })
      .returning({ id: members.id });
    if (!member) throw new AppError("INTERNAL", "Could not create the member");
    await tx
      .update(invitations)
      .set({ acceptedAt: input.now, acceptedBy: member.id })
      .where(eq(invitations.id, invitation.id));
    const actor = `member:${member.id}` as const;
    await appendAudit(tx, {
      action: "invitation.accepted",
      actor,
      subject: `invitation:${invitation.id}`,
      at: input.now,
      data: { invitationId: invitation.id, memberId: member.id },
    });
    await addVerifiedToken(tx, {
      memberId: member.id,
      nickname: input.tokenName,
      token,
      actor,
      now: input.now,
    });
    return { memberId: member.id };
  });
}
