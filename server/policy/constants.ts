// The policy's fixed values, in a file with no imports so pages can read them without node:crypto or zod.

/** Operations expire after this many hours unless their rule says otherwise. */
export const DEFAULT_EXPIRES_IN_HOURS = 48;
/** This many rejections from people the rule counts end an operation unless the rule says otherwise. */
export const DEFAULT_REJECTIONS = 1;
/** The default rule's id when the document does not name it. */
export const DEFAULT_RULE_ID = "default";
/**
 * Groups that are not lists of members but roles: "approvers" is everyone holding the approver role.
 * Issue 13 may add e.g. admins → admin here; nothing else in this folder needs to change for it.
 */
export const ROLE_GROUPS: Readonly<Record<string, string>> = Object.freeze({ approvers: "approver" });
