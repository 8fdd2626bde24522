// The policy's fixed values, in a file with no imports so pages can read them without node:crypto or zod.

/** Operations expire after this many hours unless their rule says otherwise. */
export const DEFAULT_EXPIRES_IN_HOURS = 48;
/** This many rejections from people the rule counts end an operation unless the rule says otherwise. */
export const DEFAULT_REJECTIONS = 1;
/** The default rule's id when the document does not name it. */
export const DEFAULT_RULE_ID = "default";
/**
 * Groups that are not lists of members but roles: "approvers" is everyone holding the approver role, "admins"
 * everyone holding the admin role. A policy names them like any group; quorum.ts's `approvingMembership` says
 * where each member's approvals count (an admin without the approver role: in "admins" only).
 */
export const ROLE_GROUPS: Readonly<Record<string, string>> = Object.freeze({
  approvers: "approver",
  admins: "admin",
});

/** The role whose holders' approvals count in every group they are in. */
export const APPROVER_ROLE = "approver";

/**
 * Who proposed an operation, as a rule's `match.initiators` names it: a member (a person, through the pages or
 * tRPC), a service account (the HTTP API, with an API key) or the system (Keyward itself, e.g. a due rotation).
 */
export const INITIATOR_TYPES = ["member", "service", "system"] as const;
export type InitiatorType = (typeof INITIATOR_TYPES)[number];
