// The policy in words, as the pages show it: one sentence per rule, in the order rules are judged.
import { describe, expect, it } from "vitest";
import { describeKind, describePolicy, describeRule } from "./describe";
import { DEFAULT_POLICY, type PolicyDocument, type Rule } from "./document";

const rule = (r: Partial<Rule> & Pick<Rule, "match">): Rule =>
  ({ id: "r", description: "", require: [{ group: "treasury", approvals: 1 }], ...r }) as Rule;

describe("describeRule", () => {
  it("says a multi-group rule the way people say it", () => {
    const hot = rule({
      match: { kinds: ["withdrawal"], keyTags: ["hot"] },
      require: [
        { group: "treasury", approvals: 2 },
        { group: "compliance", approvals: 1 },
      ],
    });
    expect(describeRule(hot)).toBe(
      "Withdrawals tagged hot: 2 approvals from treasury and 1 from compliance; expires after 48 h",
    );
  });
  it.each<[Partial<Rule> & Pick<Rule, "match">, string]>([
    [{ match: {} }, "Every operation: 1 approval from treasury; expires after 48 h"],
    [
      { match: { keyTags: ["hot", "eth"] } },
      "Operations tagged hot and eth: 1 approval from treasury; expires after 48 h",
    ],
    [
      { match: { kinds: ["key.create", "key.destroy", "withdrawal"] }, expiresInHours: 72 },
      "Key creations, key destructions and withdrawals: 1 approval from treasury; expires after 72 h",
    ],
    [
      { match: { kinds: ["custom.kind"] } },
      "Custom.kind operations: 1 approval from treasury; expires after 48 h",
    ],
    [
      { match: { kinds: ["key.suspend"] }, require: [{ group: "approvers", approvals: 3 }], rejections: 2 },
      "Key suspensions: 3 approvals from the approvers; 2 rejections end it; expires after 48 h",
    ],
    [
      {
        match: { kinds: ["withdrawal"] },
        require: [
          { group: "treasury", approvals: 1 },
          { group: "compliance", approvals: 2 },
          { group: "security", approvals: 1 },
        ],
      },
      "Withdrawals: 1 approval from treasury, 2 from compliance and 1 from security; expires after 48 h",
    ],
  ])("%j", (r, words) => {
    expect(describeRule(rule(r))).toBe(words);
  });
  it("says a deny rule with its reason", () => {
    const cold = {
      id: "cold",
      description: "",
      match: { keyTags: ["cold"] },
      deny: true as const,
      reason: "offline",
    };
    expect(describeRule(cold)).toBe("Operations tagged cold: always denied (offline)");
  });
  it("calls the default 'every other operation' when rules precede it, 'every operation' when alone", () => {
    expect(describeRule(DEFAULT_POLICY.default, 0)).toBe(
      "Every operation: 2 approvals from the approvers; expires after 48 h",
    );
    expect(describeRule(DEFAULT_POLICY.default, 3)).toMatch(/^Every other operation: /);
  });
});

describe("describeKind", () => {
  it("names every kind the architecture lists", () => {
    for (const kind of [
      "key.create",
      "key.rotate",
      "key.backup",
      "withdrawal",
      "withdrawal.speedup",
      "policy.update",
      "token.revoke",
    ]) {
      expect(describeKind(kind)).not.toMatch(/operations$/);
    }
  });
});

describe("describePolicy", () => {
  it("lists the rules in judging order with the default last, and how the document is read", () => {
    const doc: PolicyDocument = {
      version: 4,
      rules: [
        rule({ id: "hot", description: "Hot wallet", match: { keyTags: ["hot"] } }),
        { id: "cold", description: "", match: { keyTags: ["cold"] }, deny: true, reason: "offline" },
      ],
      default: { deny: true, reason: "nothing else" },
    };
    const words = describePolicy(doc);
    expect(words.version).toBe(4);
    expect(words.rules).toEqual([
      {
        id: "hot",
        isDefault: false,
        text: "Operations tagged hot: 1 approval from treasury; expires after 48 h",
        description: "Hot wallet",
      },
      {
        id: "cold",
        isDefault: false,
        text: "Operations tagged cold: always denied (offline)",
        description: undefined,
      },
      {
        id: "default",
        isDefault: true,
        text: "Every other operation: always denied (nothing else)",
        description: undefined,
      },
    ]);
    expect(words.intro.join(" ")).toMatch(/first one that matches/);
    expect(words.intro.join(" ")).toMatch(/different person/);
  });
  it("says the seeded default in one rule", () => {
    const words = describePolicy(DEFAULT_POLICY);
    expect(words.rules).toHaveLength(1);
    expect(words.rules[0]).toMatchObject({
      id: "default",
      isDefault: true,
      text: /^Every operation: 2 approvals/,
    });
    expect(words.intro[0]).toBe("One rule, the default, judges every operation.");
  });
});
