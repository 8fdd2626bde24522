// The policy document's schema refuses everything a careless or hostile edit could slip in, naming the field;
// the digest is the SHA-256 of exactly the RFC 8785 form and refuses values JSON would not keep.
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  DEFAULT_POLICY,
  MAX_RULES,
  type PolicyDocument,
  parsePolicyDocument,
  policyDigest,
  policyDocumentSchema,
  shadowedRules,
} from "./document";

const sha256 = (s: string) => createHash("sha256").update(s, "utf8").digest("hex");

const hot = {
  id: "hot-withdrawals",
  description: "Hot wallet withdrawals",
  match: { kinds: ["withdrawal"], keyTags: ["hot"] },
  require: [
    { group: "treasury", approvals: 2 },
    { group: "compliance", approvals: 1 },
  ],
};
const valid: PolicyDocument = {
  version: 2,
  rules: [hot],
  default: { require: [{ group: "approvers", approvals: 2 }] },
};

/** The first issue's path and message, for a document that must be refused. */
function refusal(doc: unknown): { path: string; message: string } {
  const r = policyDocumentSchema.safeParse(doc);
  if (r.success) throw new Error(`accepted: ${JSON.stringify(doc)}`);
  const issue = r.error.issues[0];
  return { path: issue?.path.join(".") ?? "", message: issue?.message ?? "" };
}
const withRule = (rule: Record<string, unknown>) => ({ ...valid, rules: [{ ...hot, ...rule }] });

describe("DEFAULT_POLICY", () => {
  it("is one default rule of two approvals from the approvers, valid, with no other rule", () => {
    expect(parsePolicyDocument(DEFAULT_POLICY)).toEqual(DEFAULT_POLICY);
    expect(DEFAULT_POLICY.rules).toEqual([]);
    expect(DEFAULT_POLICY.default).toMatchObject({ require: [{ group: "approvers", approvals: 2 }] });
  });
  it("cannot be changed by a caller that shares it", () => {
    expect(Object.isFrozen(DEFAULT_POLICY.default)).toBe(true);
    expect(() => {
      (DEFAULT_POLICY.rules as unknown[]).push(hot);
    }).toThrow(TypeError);
  });
});

describe("policyDocumentSchema accepts", () => {
  it("a document with rules, deny rules and a deny default", () => {
    const doc = {
      version: 7,
      rules: [
        hot,
        {
          id: "cold",
          description: "",
          match: { keyTags: ["cold"] },
          deny: true,
          reason: "Cold keys never sign",
        },
        {
          id: "any",
          description: "",
          match: {},
          deny: false,
          require: [{ group: "security", approvals: 1 }],
        },
      ],
      default: { id: "fallback", deny: true, reason: "Not allowed" },
    };
    expect(parsePolicyDocument(doc)).toEqual(doc);
  });
  it(`up to ${MAX_RULES} rules`, () => {
    const rules = Array.from({ length: MAX_RULES }, (_, i) => ({
      ...hot,
      id: `r${i}`,
      match: { kinds: [`k${i}`] },
    }));
    expect(policyDocumentSchema.safeParse({ ...valid, rules }).success).toBe(true);
  });
  it("a later rule with more tags than an earlier one (it is narrower, not shadowed)", () => {
    const later = { ...hot, id: "hot-eth", match: { kinds: ["withdrawal"], keyTags: ["hot", "eth"] } };
    expect(policyDocumentSchema.safeParse({ ...valid, rules: [later, hot] }).success).toBe(true);
  });
});

describe("policyDocumentSchema refuses, naming the field", () => {
  const cases: [string, unknown, string, RegExp?][] = [
    ["a document without its default rule", { version: 1, rules: [] }, "default"],
    ["an unknown top-level field", { ...valid, owner: "x" }, ""],
    ["version 0", { ...valid, version: 0 }, "version"],
    ["a fractional version", { ...valid, version: 1.5 }, "version"],
    ["an unknown field in a rule", withRule({ priority: 1 }), "rules.0"],
    ["an unknown match field", withRule({ match: { chain: "bitcoin" } }), "rules.0.match"],
    [
      "0 approvals",
      withRule({ require: [{ group: "treasury", approvals: 0 }] }),
      "rules.0.require.0.approvals",
    ],
    ["fractional approvals", withRule({ require: [{ group: "treasury", approvals: 1.5 }] }), "rules.0"],
    ["no group at all", withRule({ require: [] }), "rules.0"],
    ["a group twice in a rule", withRule({ require: [hot.require[0], hot.require[0]] }), "rules.0"],
    [
      "an upper-case group",
      withRule({ require: [{ group: "Treasury", approvals: 1 }] }),
      "rules.0.require.0.group",
    ],
    ["a one-letter group", withRule({ require: [{ group: "t", approvals: 1 }] }), "rules.0"],
    ["a group with a space", withRule({ require: [{ group: "tre asury", approvals: 1 }] }), "rules.0"],
    ["a 41-character group", withRule({ require: [{ group: "a".repeat(41), approvals: 1 }] }), "rules.0"],
    ["a rule id with a slash", withRule({ id: "a/b" }), "rules.0.id"],
    ["an empty rule id", withRule({ id: "" }), "rules.0"],
    ["an empty kinds list", withRule({ match: { kinds: [] } }), "rules.0"],
    ["a tag twice", withRule({ match: { keyTags: ["hot", "hot"] } }), "rules.0"],
    ["an upper-case tag", withRule({ match: { keyTags: ["Hot"] } }), "rules.0.match.keyTags.0"],
    ["a malformed kind", withRule({ match: { kinds: ["Key Create"] } }), "rules.0"],
    ["a description of 501 characters", withRule({ description: "x".repeat(501) }), "rules.0"],
    ["a newline in a description", withRule({ description: "a\nb" }), "rules.0.description"],
    [
      "a bidi override in a reason",
      { ...valid, rules: [{ id: "x", description: "", match: {}, deny: true, reason: "ok\u202e" }] },
      "rules.0.reason",
    ],
    ["a deny rule without its reason", { ...valid, default: { deny: true } }, "default.reason"],
    [
      "a deny rule that also requires approvals",
      { ...valid, default: { deny: true, reason: "x", require: [] } },
      "",
    ],
    ["expiry of 0 hours", withRule({ expiresInHours: 0 }), "rules.0"],
    ["expiry over 30 days", withRule({ expiresInHours: 721 }), "rules.0.expiresInHours"],
    ["0 rejections", withRule({ rejections: 0 }), "rules.0"],
    [
      "a string where a number belongs",
      withRule({ require: [{ group: "treasury", approvals: "2" }] }),
      "rules.0",
    ],
    [`more than ${MAX_RULES} rules`, { ...valid, rules: Array(MAX_RULES + 1).fill(hot) }, "rules"],
    [
      "two rules with one id",
      { ...valid, rules: [hot, { ...hot, match: { kinds: ["key.create"] } }] },
      "rules.1.id",
    ],
    ["a rule named like the default", withRule({ id: "default" }), "default.id", /used twice/],
    [
      "a rule that can never apply (an earlier one matches all it matches)",
      { ...valid, rules: [{ ...hot, id: "w", match: { kinds: ["withdrawal"] } }, hot] },
      "rules.1.match",
      /can never apply/,
    ],
    [
      "a rule after one that matches everything",
      { ...valid, rules: [{ ...hot, id: "all", match: {} }, hot] },
      "rules.1.match",
      /can never apply/,
    ],
    ["a document that is not an object", "policy", ""],
  ];
  it.each(cases)("%s", (_, doc, path, message) => {
    const r = refusal(doc);
    expect(r.path.startsWith(path)).toBe(true);
    if (message) expect(r.message).toMatch(message);
  });
});

describe("shadowedRules", () => {
  const rule = (id: string, match: object) => ({ ...hot, id, match });
  it.each([
    [{}, { kinds: ["withdrawal"] }, true],
    [{ kinds: ["withdrawal", "key.create"] }, { kinds: ["withdrawal"] }, true],
    [{ kinds: ["withdrawal"] }, { kinds: ["withdrawal", "key.create"] }, false],
    [{ keyTags: ["hot"] }, { keyTags: ["hot", "eth"] }, true],
    [{ keyTags: ["hot", "eth"] }, { keyTags: ["hot"] }, false],
    [{ kinds: ["withdrawal"] }, {}, false],
    [{ keyTags: ["hot"] }, { kinds: ["withdrawal"] }, false],
    [{ kinds: ["withdrawal"] }, { kinds: ["withdrawal"], keyTags: ["hot"] }, true],
  ])("earlier %j, later %j → shadowed %s", (earlier, later, shadowed) => {
    const found = shadowedRules({ rules: [rule("a", earlier), rule("b", later)] });
    expect(found).toEqual(shadowed ? [{ rule: 1, by: 0 }] : []);
  });
});

describe("policyDigest", () => {
  it("is the SHA-256 of the RFC 8785 canonical JSON (keys sorted, no spaces)", () => {
    const jcs =
      '{"default":{"description":"Two approvals from the approvers","expiresInHours":48,"id":"default",' +
      '"rejections":1,"require":[{"approvals":2,"group":"approvers"}]},"rules":[],"version":1}';
    expect(policyDigest(DEFAULT_POLICY)).toBe(sha256(jcs));
  });
  it("does not depend on key order or a JSON round trip (what jsonb gives back)", () => {
    const reordered = JSON.parse(
      '{"rules":[{"require":[{"approvals":2,"group":"treasury"},{"group":"compliance","approvals":1}],' +
        '"match":{"keyTags":["hot"],"kinds":["withdrawal"]},"description":"Hot wallet withdrawals","id":"hot-withdrawals"}],' +
        '"default":{"require":[{"group":"approvers","approvals":2}]},"version":2}',
    );
    expect(policyDigest(reordered)).toBe(policyDigest(valid));
    expect(policyDigest(JSON.parse(JSON.stringify(valid)))).toBe(policyDigest(valid));
  });
  it("changes with any change that matters: a number, a group, the order of rules", () => {
    const other: PolicyDocument = {
      ...valid,
      rules: [{ ...hot, id: "keys", match: { kinds: ["key.create"] } }],
    };
    const digests = new Set([
      policyDigest(valid),
      policyDigest({ ...valid, version: 3 }),
      policyDigest({ ...valid, default: { require: [{ group: "approvers", approvals: 3 }] } }),
      policyDigest({ ...valid, default: { require: [{ group: "treasury", approvals: 2 }] } }),
      policyDigest(other),
      policyDigest({ ...valid, rules: [...other.rules, ...valid.rules] }),
      policyDigest({ ...valid, rules: [...valid.rules, ...other.rules] }),
    ]);
    expect(digests.size).toBe(7);
  });
  it("treats an optional field set to undefined as absent, as JSON and jsonb do", () => {
    const withUndefined = { ...valid, default: { ...valid.default, rejections: undefined } };
    expect(policyDigest(withUndefined)).toBe(policyDigest(valid));
  });
  it("refuses an invalid document", () => {
    expect(() => policyDigest({ ...valid, version: -1 })).toThrow();
    expect(() => policyDigest({ version: 1, rules: [] } as unknown as PolicyDocument)).toThrow();
  });
  it.each<[string, (d: PolicyDocument) => unknown]>([
    ["a class instance", (d) => Object.assign(Object.create({ inherited: 1 }), d)],
    ["a toJSON method", (d) => ({ ...d, toJSON: () => DEFAULT_POLICY })],
    ["a symbol key", (d) => ({ ...d, [Symbol("x")]: 1 })],
    ["undefined in an array", (d) => ({ ...d, rules: [undefined] })],
    ["a bigint", (d) => ({ ...d, version: 2n })],
    ["NaN", (d) => ({ ...d, version: Number.NaN })],
    ["a Date", (d) => ({ ...d, default: { ...d.default, description: new Date(0) } })],
    [
      "a circular reference",
      (d) => {
        const c: Record<string, unknown> = { ...d.default };
        c.self = c;
        return { ...d, default: c };
      },
    ],
  ])("refuses a value JSON would not keep: %s", (_, make) => {
    expect(() => policyDigest(make(valid) as PolicyDocument)).toThrow(/Not JSON|Invalid|expected/i);
  });
});
