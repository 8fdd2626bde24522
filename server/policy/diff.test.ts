// diff.ts: a proposed policy against the one in force, rule by rule in words.
import { describe, expect, it } from "vitest";
import { DEFAULT_POLICY, type PolicyDocument, type Rule } from "./document";
import { diffPolicies, ruleInWords } from "./diff";

const rule = (id: string, r: Partial<Rule> = {}): Rule =>
  ({
    id,
    description: "",
    match: { kinds: [id] },
    require: [{ group: "treasury", approvals: 1 }],
    ...r,
  }) as Rule;
const doc = (rules: Rule[], extra: Partial<PolicyDocument> = {}): PolicyDocument => ({
  version: 1,
  rules,
  default: DEFAULT_POLICY.default,
  ...extra,
});
const changes = (before: PolicyDocument, after: PolicyDocument) =>
  diffPolicies(before, after).rules.map((r) => [r.ruleId, r.change]);

describe("diffPolicies", () => {
  it("reports every rule unchanged and nothing else for the same document", () => {
    const d = doc([rule("a"), rule("b")]);
    expect(diffPolicies(d, structuredClone({ ...d, version: 2 }))).toEqual({
      rules: [
        {
          ruleId: "a",
          change: "unchanged",
          before: ruleInWords(rule("a")),
          after: ruleInWords(rule("a")),
          position: { before: 1, after: 1 },
        },
        {
          ruleId: "b",
          change: "unchanged",
          before: ruleInWords(rule("b")),
          after: ruleInWords(rule("b")),
          position: { before: 2, after: 2 },
        },
      ],
      other: [],
    });
  });

  it("does not depend on key order in the documents", () => {
    const a = rule("a");
    const reordered = Object.fromEntries(Object.entries(a).reverse()) as Rule;
    expect(changes(doc([a]), doc([reordered]))).toEqual([["a", "unchanged"]]);
  });

  it("says a rule is added, with its words, and null before", () => {
    const added = rule("withdrawal", {
      match: { kinds: ["withdrawal"] },
      require: [
        { group: "treasury", approvals: 2 },
        { group: "compliance", approvals: 1 },
      ],
    });
    const d = diffPolicies(doc([]), doc([added]));
    expect(d.rules).toEqual([
      {
        ruleId: "withdrawal",
        change: "added",
        before: null,
        after: ["Withdrawals", "2 approvals from treasury and 1 from compliance", "expires after 48 h"],
        position: { before: null, after: 1 },
      },
    ]);
  });

  it("keeps a removed rule where it stood, with null after", () => {
    const d = diffPolicies(doc([rule("a"), rule("b"), rule("c")]), doc([rule("a"), rule("c")]));
    expect(d.rules.map((r) => [r.ruleId, r.change, r.after === null])).toEqual([
      ["a", "unchanged", false],
      ["b", "removed", true],
      ["c", "unchanged", false],
    ]);
    expect(d.rules[1]?.position).toEqual({ before: 2, after: null });
    expect(changes(doc([rule("a"), rule("b")]), doc([rule("b")]))).toEqual([
      ["a", "removed"],
      ["b", "unchanged"],
    ]);
  });

  it("says what changed in a rule clause by clause, the description included", () => {
    const before = rule("big", { match: { kinds: ["withdrawal"] } });
    const after = rule("big", {
      match: { kinds: ["withdrawal"] },
      description: "Large withdrawals",
      delay: { hours: 24, vetoGroup: "security" },
    });
    const [d] = diffPolicies(doc([before]), doc([after])).rules;
    expect(d?.change).toBe("changed");
    expect(d?.before).toEqual(["Withdrawals", "1 approval from treasury", "expires after 48 h"]);
    expect(d?.after).toEqual([
      "Withdrawals",
      "1 approval from treasury",
      "runs 24 h after its approvals, and security can veto it until then",
      "expires after 48 h",
      "Described as: Large withdrawals",
    ]);
    expect(changes(doc([before]), doc([{ ...before, description: "x" }]))).toEqual([["big", "changed"]]);
  });

  it("says which rules moved, the fewest that explain the new order (first match wins)", () => {
    const [a, b, c, d] = ["a", "b", "c", "d"].map((id) => rule(id));
    if (!a || !b || !c || !d) throw new Error("rules");
    expect(changes(doc([a, b, c, d]), doc([d, a, b, c]))).toEqual([
      ["d", "moved"],
      ["a", "unchanged"],
      ["b", "unchanged"],
      ["c", "unchanged"],
    ]);
    const moved = diffPolicies(doc([a, b, c, d]), doc([d, a, b, c])).rules[0];
    expect(moved?.position).toEqual({ before: 4, after: 1 });
    expect(changes(doc([a, b]), doc([b, a]))).toEqual([
      ["b", "unchanged"],
      ["a", "moved"],
    ]);
  });

  it("reads a rule both changed and moved as changed, its position showing the move", () => {
    const a = rule("a");
    const b = rule("b");
    const d = diffPolicies(doc([a, b]), doc([b, rule("a", { expiresInHours: 12 })])).rules;
    expect(d.map((r) => [r.ruleId, r.change, r.position])).toEqual([
      ["b", "unchanged", { before: 2, after: 1 }],
      ["a", "changed", { before: 1, after: 2 }],
    ]);
  });

  it("reads an added rule placed first as added, not as every other rule moving", () => {
    expect(changes(doc([rule("a"), rule("b")]), doc([rule("x"), rule("a"), rule("b")]))).toEqual([
      ["x", "added"],
      ["a", "unchanged"],
      ["b", "unchanged"],
    ]);
  });

  it("puts changes to the default rule in other, in words", () => {
    const after = doc([], {
      default: { id: "default", require: [{ group: "approvers", approvals: 3 }], description: "Three" },
    });
    expect(diffPolicies(doc([]), after)).toEqual({
      rules: [],
      other: [
        "The default rule (every operation no rule matches) changes from “2 approvals from the approvers; expires after 48 h” to “3 approvals from the approvers; expires after 48 h”",
        "The default rule is described as “Three” (was “Two approvals from the approvers”)",
      ],
    });
    const renamed = doc([], {
      default: {
        id: "fallback",
        description: "Two approvals from the approvers",
        require: [{ group: "approvers", approvals: 2 }],
        rejections: 1,
        expiresInHours: 48,
      },
    });
    expect(diffPolicies(doc([]), renamed).other).toEqual([
      "The default rule is renamed from default to fallback",
    ]);
  });

  it("puts rotation periods added, removed and changed in other", () => {
    const before = doc([], {
      rotation: [
        { tag: "hot", everyDays: 90 },
        { tag: "cold", everyDays: 365 },
      ],
    });
    const after = doc([], {
      rotation: [
        { tag: "hot", everyDays: 30 },
        { tag: "eth", everyDays: 1 },
      ],
    });
    expect(diffPolicies(before, after).other).toEqual([
      "Keys tagged hot: rotation proposed every 30 days instead of every 90 days",
      "Removed: Keys tagged cold: Keyward proposes their rotation every 365 days (it still needs its approvals); keys tagged cold are no longer rotated by time",
      "Added: Keys tagged eth: Keyward proposes their rotation every day (it still needs its approvals)",
    ]);
    expect(diffPolicies(before, structuredClone(before)).other).toEqual([]);
  });

  it("treats a renamed rule as one removed and one added", () => {
    expect(changes(doc([rule("a")]), doc([{ ...rule("a"), id: "b" }]))).toEqual([
      ["a", "removed"],
      ["b", "added"],
    ]);
  });
});
