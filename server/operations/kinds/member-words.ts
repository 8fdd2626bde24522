// Words and schemas the membership kinds share (member.invite, member.update, member.reinstate, token.revoke).
// Browser-safe: the members page and the operation page read them too.
import { z } from "zod";
import { ROLES, type Role } from "@/db/schema/members";
import { groupNameSchema, personNameSchema } from "@/server/auth/schemas";

/** Roles as stored in a payload: at least one, each once, in ROLES order (so one change has one digest). */
export const payloadRolesSchema = z
  .array(z.enum(ROLES))
  .min(1)
  .max(ROLES.length)
  .refine(
    (r) => r.every((x, i) => i === 0 || ROLES.indexOf(r[i - 1] as Role) < ROLES.indexOf(x)),
    "roles in order, each once",
  );

/** Groups as stored in a payload: each once, sorted by code point. */
export const payloadGroupsSchema = z
  .array(groupNameSchema)
  .max(20)
  .refine((g) => g.every((x, i) => i === 0 || (g[i - 1] as string) < x), "groups sorted, each once");

export const payloadNameSchema = personNameSchema;

export const sortedRoles = (roles: readonly Role[]): Role[] => ROLES.filter((r) => roles.includes(r));
export const sortedGroups = (groups: readonly string[]): string[] =>
  [...new Set(groups)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

export const listInWords = (list: readonly string[]) => (list.length === 0 ? "none" : list.join(", "));

/** "operator → operator, approver", or "operator (unchanged)". */
export function beforeAfter(before: readonly string[], after: readonly string[]): string {
  const same = before.length === after.length && before.every((x, i) => x === after[i]);
  return same ? `${listInWords(after)} (unchanged)` : `${listInWords(before)} → ${listInWords(after)}`;
}

/** "adds the approver role and the group treasury; removes the group ops", or "" when nothing changes. */
export function changeInWords(
  before: { roles: readonly string[]; groups: readonly string[] },
  after: { roles: readonly string[]; groups: readonly string[] },
): string {
  const added = (a: readonly string[], b: readonly string[]) => b.filter((x) => !a.includes(x));
  const part = (roles: string[], groups: string[]) =>
    [
      ...(roles.length > 0 ? [`the ${roles.join(", ")} role${roles.length > 1 ? "s" : ""}`] : []),
      ...(groups.length > 0 ? [`the group${groups.length > 1 ? "s" : ""} ${groups.join(", ")}`] : []),
    ].join(" and ");
  const adds = part(added(before.roles, after.roles), added(before.groups, after.groups));
  const removes = part(added(after.roles, before.roles), added(after.groups, before.groups));
  return [...(adds ? [`adds ${adds}`] : []), ...(removes ? [`removes ${removes}`] : [])].join("; ");
}
