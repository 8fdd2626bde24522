"use client";
// Role checkboxes and the groups field, shared by the invitation form and member editing.
import { ROLES, type Role } from "@/db/schema/members";

export const ROLE_HELP: Record<Role, string> = {
  admin: "invites and suspends members, changes policy",
  operator: "proposes withdrawals and key operations",
  approver: "votes on operations with a token tap",
  auditor: "reads everything, exports reports",
};

export function RoleFields({ idPrefix, roles, groups }: { idPrefix: string; roles?: string[]; groups?: string[] }) {
  return (
    <>
      <fieldset>
        <legend className="label">Roles</legend>
        <div className="mt-1 grid gap-1 sm:grid-cols-2">
          {ROLES.map((role) => (
            <label key={role} className="flex items-start gap-2 text-sm">
              <input
                type="checkbox"
                name="roles"
                value={role}
                defaultChecked={roles?.includes(role)}
                id={`${idPrefix}-role-${role}`}
                className="mt-1"
              />
              <span>
                <strong>{role}</strong> — {ROLE_HELP[role]}
              </span>
            </label>
          ))}
        </div>
      </fieldset>
      <div>
        <label htmlFor={`${idPrefix}-groups`} className="label">
          Approver groups (comma-separated, e.g. treasury, compliance)
        </label>
        <input id={`${idPrefix}-groups`} name="groups" className="input" defaultValue={groups?.join(", ")} />
      </div>
    </>
  );
}

export function readRoleFields(form: FormData) {
  const checked = form.getAll("roles").map(String);
  const roles: Role[] = ROLES.filter((role) => checked.includes(role));
  const groups = String(form.get("groups") ?? "")
    .split(",")
    .map((g) => g.trim().toLowerCase())
    .filter(Boolean);
  return { roles, groups };
}
