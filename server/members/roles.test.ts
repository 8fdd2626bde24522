// Roles are defined in one place, ROLES in db/schema/members.ts: the input schemas, the audit events and the
// role checkboxes all take them from there. Scans every source file, so a second hand-written list of roles
// (one that would drift when a role is added) fails here. Tests may list roles to try them one by one.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ROLES } from "@/db/schema/members";
import { auditEventSchema } from "@/server/audit/events";
import { roleSchema } from "@/server/auth/schemas";

const ROOT = path.resolve(__dirname, "../..");
const SKIP = new Set([
  "node_modules",
  ".next",
  ".git",
  "data",
  "test-results",
  "playwright-report",
  "migrations",
]);
const SOURCE = /\.(ts|tsx|mts|cts|js|mjs|cjs|jsx)$/;
const TEST = /\.(test|spec)\.[a-z]+$/;
const THE_PLACE = path.join("db", "schema", "members.ts");

/**
 * A bracketed list naming every role — ["admin", "operator", …], also inside z.enum([...]) — is a second
 * definition that would drift when a role is added. A subset (who may propose a kind) is a rule, not a list.
 */
const ROLE_LIST = {
  test: (text: string) =>
    (text.match(/\[[^\][]*\]/g) ?? []).some((list) =>
      ROLES.every((role) => new RegExp(`["']${role}["']`).test(list)),
    ),
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (SKIP.has(entry.name) || entry.name.startsWith(".")) return [];
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sources(full);
    return SOURCE.test(entry.name) && !TEST.test(entry.name) ? [full] : [];
  });
}

const listers = sources(ROOT)
  .filter((file) => ROLE_LIST.test(readFileSync(file, "utf8")))
  .map((file) => path.relative(ROOT, file));

describe("roles, defined once", () => {
  it("finds the one list in db/schema/members.ts (the scan itself works)", () => {
    expect(listers).toContain(THE_PLACE);
  });

  it("has no other hand-written list of roles in the sources", () => {
    expect(listers.filter((file) => file !== THE_PLACE)).toEqual([]);
  });

  it("gives the input schema and the audit events exactly ROLES", () => {
    expect(roleSchema.options).toEqual([...ROLES]);
    const updated = (roles: string[]) =>
      auditEventSchema.safeParse({
        action: "member.updated",
        data: { memberId: "m", roles, groups: [], previousRoles: [], previousGroups: [] },
      }).success;
    for (const role of ROLES) expect(updated([role])).toBe(true);
    expect(updated(["owner"])).toBe(false);
  });
});
