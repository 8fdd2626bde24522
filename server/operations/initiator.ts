// Who proposed an operation, in words and in the digest: a member, Keyward itself when a sweep proposes (a due
// rotation), or a service account over the HTTP API. Browser-safe: the pages name the initiator with it too.
import type { SystemInitiator } from "@/db/schema/operations";

/** How each system initiator is shown to approvers. */
export const SYSTEM_INITIATOR_NAMES: Record<SystemInitiator, string> = {
  "rotation-due": "Keyward (rotation due)",
  "rotation-sweep": "Keyward (sweep after a rotation)",
};

/**
 * The initiator as the digest binds it: the member's id, "system:<name>" or "service:<account id>" (a uuid never
 * has either form).
 */
export function digestInitiator(op: {
  initiatorId: string | null;
  systemInitiator?: SystemInitiator | null;
  serviceAccountId?: string | null;
}): string {
  if (op.initiatorId !== null) return op.initiatorId;
  if (op.serviceAccountId !== null && op.serviceAccountId !== undefined)
    return `service:${op.serviceAccountId}`;
  if (op.systemInitiator === null || op.systemInitiator === undefined)
    throw new TypeError("an operation needs an initiator: a member or the system");
  return `system:${op.systemInitiator}`;
}

/** The initiator's name as pages show it. */
export function initiatorName(op: {
  memberName: string | null;
  systemInitiator: SystemInitiator | null;
  /** The proposing service account's name, when one proposed it (readers join service_accounts). */
  serviceAccountName?: string | null;
}): string {
  if (op.systemInitiator !== null) return SYSTEM_INITIATOR_NAMES[op.systemInitiator];
  if (op.serviceAccountName !== null && op.serviceAccountName !== undefined)
    return `Service account ${op.serviceAccountName}`;
  return op.memberName ?? "";
}
