// The membership kinds' words and payload order: what approvers read, and one payload (one digest) per change.
import { describe, expect, it } from "vitest";
import { memberUpdate } from "./member-update";
import {
  beforeAfter,
  changeInWords,
  payloadGroupsSchema,
  payloadRolesSchema,
  sortedGroups,
  sortedRoles,
} from "./member-words";

describe("membership words", () => {
  it("says before → after, or unchanged", () => {
    expect(beforeAfter(["operator"], ["operator", "approver"])).toBe("operator → operator, approver");
    expect(beforeAfter([], ["treasury"])).toBe("none → treasury");
    expect(beforeAfter(["ops"], ["ops"])).toBe("ops (unchanged)");
  });

  it("says what is added and what is removed", () => {
    expect(
      changeInWords(
        { roles: ["operator"], groups: ["ops"] },
        { roles: ["operator", "approver"], groups: ["treasury"] },
      ),
    ).toBe("adds the approver role and the group treasury; removes the group ops");
    expect(
      changeInWords({ roles: ["admin", "approver"], groups: [] }, { roles: ["operator"], groups: [] }),
    ).toBe("adds the operator role; removes the admin, approver roles");
    expect(changeInWords({ roles: ["operator"], groups: [] }, { roles: ["operator"], groups: [] })).toBe("");
  });

  it("stores roles in ROLES order and groups sorted, each once, and refuses any other order", () => {
    expect(sortedRoles(["approver", "admin", "approver"])).toEqual(["admin", "approver"]);
    expect(sortedGroups(["treasury", "ops", "treasury"])).toEqual(["ops", "treasury"]);
    expect(payloadRolesSchema.safeParse(["approver", "admin"]).success).toBe(false);
    expect(payloadRolesSchema.safeParse(["admin", "admin"]).success).toBe(false);
    expect(payloadGroupsSchema.safeParse(["treasury", "ops"]).success).toBe(false);
    expect(payloadGroupsSchema.safeParse(["ops", "treasury"]).success).toBe(true);
  });

  it("shows a member.update to approvers line by line", () => {
    const shown = memberUpdate.describe({
      memberId: "00000000-0000-4000-8000-000000000001",
      name: "Otto Operator",
      before: { roles: ["operator"], groups: [] },
      after: { roles: ["operator", "approver"], groups: ["treasury"] },
    });
    expect(shown.title).toBe("Change the roles and groups of Otto Operator");
    expect(shown.lines.map((l) => `${l.label}: ${l.value}`)).toEqual([
      "Member: Otto Operator (00000000-0000-4000-8000-000000000001)",
      "Roles: operator → operator, approver",
      "Groups: none → treasury",
      "Effect: adds the approver role and the group treasury",
    ]);
  });
});
