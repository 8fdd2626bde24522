// policy.update's payload and how approvers read it (pure): the payload binds the base and the new document with
// versions baseVersion and baseVersion + 1 (refused otherwise), and `describe` shows the change rule by rule in
// words — added, removed, changed (before and now), moved, the default rule — and nothing for unchanged rules.
import { describe, expect, it } from "vitest";
import { DEFAULT_POLICY, type PolicyDocument, type Rule } from "@/server/policy/document";
import { policyUpdate, policyUpdatePayloadSchema } from "./policy-update";

const rule = (id: string, tag: string, approvals = 2): Rule => ({
  id,
  description: "",
  match: { kinds: ["key.create"], keyTags: [tag] },
  require: [{ group: "approvers", approvals }],
});

const base: PolicyDocument = {
  ...DEFAULT_POLICY,
  version: 4,
  rules: [rule("a", "a"), rule("b", "b"), rule("c", "c")],
};

describe("policy.update payload", () => {
  it("needs base.version = baseVersion and document.version = baseVersion + 1", () => {
    const ok = { baseVersion: 4, base, document: { ...base, version: 5 } };
    expect(policyUpdatePayloadSchema.safeParse(ok).success).toBe(true);
    const wrongNew = policyUpdatePayloadSchema.safeParse({ ...ok, document: { ...base, version: 6 } });
    expect(wrongNew.error?.issues.map((i) => i.path.join("."))).toEqual(["document.version"]);
    const wrongBase = policyUpdatePayloadSchema.safeParse({ ...ok, baseVersion: 3 });
    expect(wrongBase.error?.issues.map((i) => i.path.join("."))).toEqual([
      "base.version",
      "document.version",
    ]);
    expect(policyUpdatePayloadSchema.safeParse({ ...ok, extra: 1 }).success).toBe(false);
  });
});

describe("policy.update in words", () => {
  it("lists each rule that changes, the default rule, and counts the unchanged ones", () => {
    const document: PolicyDocument = {
      ...base,
      version: 5,
      rules: [rule("c", "c"), rule("a", "a", 3), rule("d", "d")],
      default: {
        id: "default",
        description: "Three approvals",
        require: [{ group: "approvers", approvals: 3 }],
      },
    };
    const shown = policyUpdate.describe(policyUpdatePayloadSchema.parse({ baseVersion: 4, base, document }));
    expect(shown.title).toBe("Change the policy from version 4 to 5");
    const byLabel = new Map(shown.lines.map((l) => [l.label, l.value]));
    expect(byLabel.get("Rule “a” changed")).toMatch(/^was: .*2 approvals.* — now: .*3 approvals/);
    expect(byLabel.get("Rule “b” removed")).toMatch(/^was: /);
    expect(byLabel.get("Rule “d” added")).toMatch(/^judged 3rd: /);
    expect(shown.lines.some((l) => l.label === "Also" && l.value.includes("default rule"))).toBe(true);
    // c before a now: the fewest moves explaining the order keep c in place, and a's line says where it went.
    expect(byLabel.get("Rule “a” changed")).toContain("(judged 1st before, 2nd now)");
    expect(shown.lines.filter((l) => l.label.startsWith("Rule “")).length).toBe(3);
    expect(byLabel.get("Unchanged")).toBe("1 rule");
    expect(byLabel.get("Effect")).toContain("version 5 comes into force in place of version 4");
  });

  it("shows only the unchanged count when only the default's description changed", () => {
    const document: PolicyDocument = {
      ...base,
      version: 5,
      default: { ...base.default, description: "Two" },
    };
    const shown = policyUpdate.describe({ baseVersion: 4, base, document });
    expect(shown.lines.map((l) => l.label)).toEqual(["Also", "Unchanged", "Effect"]);
    expect(shown.lines[1]?.value).toBe("3 rules");
  });
});
