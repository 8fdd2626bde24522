import { describe, expect, it } from "vitest";
import { DEFAULT_POLICY, parsePolicyDocument } from "./document";
import { parseStoredPolicyDocument } from "./document-cache";

const stored = () => JSON.parse(JSON.stringify(DEFAULT_POLICY)) as unknown;
const withRule = (description: string) => ({
  ...DEFAULT_POLICY,
  rules: [
    {
      id: "r1",
      description,
      match: { kinds: ["withdrawal"] },
      require: [{ group: "approvers", approvals: 1 }],
    },
  ],
});

describe("parseStoredPolicyDocument", () => {
  it("answers what parsePolicyDocument answers, once per stored text", () => {
    const a = parseStoredPolicyDocument(stored());
    expect(a).toEqual(parsePolicyDocument(stored()));
    // Another row object with the same text: the same parsed document, not parsed again.
    expect(parseStoredPolicyDocument(stored())).toBe(a);
  });

  it("gives another text its own answer, even one that differs in one description", () => {
    const one = parseStoredPolicyDocument(withRule("one"));
    const two = parseStoredPolicyDocument(withRule("two"));
    expect(one.rules[0]?.description).toBe("one");
    expect(two.rules[0]?.description).toBe("two");
  });

  it("hands out a frozen document: a caller cannot change what the next caller judges under", () => {
    const doc = parseStoredPolicyDocument(withRule("frozen"));
    expect(() => {
      (doc.rules as unknown[]).push({});
    }).toThrow(TypeError);
    expect(() => {
      (doc.default as unknown as { require: unknown }).require = [];
    }).toThrow(TypeError);
    expect(parseStoredPolicyDocument(withRule("frozen")).rules).toHaveLength(1);
  });

  it("refuses a document that does not validate every time (never cached)", () => {
    const broken = { ...DEFAULT_POLICY, default: { require: "all" } };
    expect(() => parseStoredPolicyDocument(broken)).toThrow();
    expect(() => parseStoredPolicyDocument(broken)).toThrow();
  });
});
