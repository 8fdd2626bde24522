// Every audit event Keyward writes: one discriminated union, named resource.verb, each with its own payload.
// Payloads are plain JSON (no Date, no bigint): they are canonicalised (RFC 8785) and hashed.
import { z } from "zod";

const id = z.string().min(1);
const roles = z.array(z.enum(["admin", "operator", "approver", "auditor"]));
const groups = z.array(z.string());

export const auditEventSchema = z.discriminatedUnion("action", [
  z.object({ action: z.literal("setup.code_issued"), data: z.object({ setupCodeId: id, expiresAt: z.string() }) }),
  z.object({
    action: z.literal("setup.code_failed"),
    data: z.object({ setupCodeId: id.nullable(), failedAttempts: z.number().int(), voided: z.boolean() }),
  }),
  z.object({ action: z.literal("setup.completed"), data: z.object({ memberId: id, credentialId: id }) }),
  z.object({
    action: z.literal("invitation.created"),
    data: z.object({ invitationId: id, name: z.string(), roles, groups, expiresAt: z.string() }),
  }),
  z.object({ action: z.literal("invitation.revoked"), data: z.object({ invitationId: id }) }),
  z.object({ action: z.literal("invitation.accepted"), data: z.object({ invitationId: id, memberId: id }) }),
  z.object({
    action: z.literal("member.updated"),
    data: z.object({ memberId: id, roles, groups, previousRoles: roles, previousGroups: groups }),
  }),
  z.object({ action: z.literal("member.suspended"), data: z.object({ memberId: id, sessionsEnded: z.number().int() }) }),
  z.object({ action: z.literal("member.reactivated"), data: z.object({ memberId: id }) }),
  z.object({
    action: z.literal("token.registered"),
    data: z.object({
      memberId: id,
      credentialId: id,
      aaguid: z.string(),
      attestationFormat: z.string(),
      transports: z.array(z.string()),
    }),
  }),
  z.object({
    action: z.literal("token.refused"),
    data: z.object({ reason: z.string(), aaguid: z.string().nullable(), purpose: z.string() }),
  }),
  z.object({
    action: z.literal("token.revoked"),
    data: z.object({ memberId: id, credentialId: id, sessionsEnded: z.number().int() }),
  }),
  z.object({ action: z.literal("auth.signed_in"), data: z.object({ sessionId: id, credentialId: id }) }),
  z.object({
    action: z.literal("auth.sign_in_failed"),
    data: z.object({ reason: z.string(), credentialId: z.string().nullable() }),
  }),
  z.object({
    action: z.literal("auth.counter_regressed"),
    data: z.object({ credentialId: id, storedCounter: z.number(), receivedCounter: z.number() }),
  }),
  z.object({ action: z.literal("session.ended"), data: z.object({ sessionId: id, reason: z.string() }) }),
  z.object({
    action: z.literal("access.denied"),
    data: z.object({ memberId: id.max(64), procedure: z.string().min(1).max(100), requiredRoles: roles.max(4) }),
  }),
]);

export type AuditEvent = z.infer<typeof auditEventSchema>;
export type AuditAction = AuditEvent["action"];

/** Who did it: a member, the system itself, or someone not signed in. */
export type Actor = `member:${string}` | "system" | "anonymous";
