// key.create's payload: a single key keeps the shape (and so the digest) it always had; a batch says exactly
// what it makes, and bad input is refused naming the field.
import { describe, expect, it } from "vitest";
import { operationDigest } from "../digest";
import { keyBatchOf, keyCreate, keyCreatePayloadSchema } from "./key-create";

const single = {
  label: "Treasury hot",
  curve: "secp256k1",
  tags: ["treasury"],
  exportable: "never",
} as const;
const batch = {
  label: "acct-{n}",
  curve: "secp256k1",
  tags: ["customer"],
  exportable: "never",
  batch: { count: 10_000, first: 1 },
} as const;

function issuesOf(payload: unknown): { path: string; message: string }[] {
  const parsed = keyCreatePayloadSchema.safeParse(payload);
  if (parsed.success) return [];
  return parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message }));
}

describe("key.create payload", () => {
  it("keeps a single key's payload as it was, so operations proposed before batches keep their digest", () => {
    const parsed = keyCreatePayloadSchema.parse(single);
    expect(parsed).toStrictEqual(single);
    expect(Object.keys(parsed)).toEqual(["label", "curve", "tags", "exportable"]);
    // The digest of an operation stored before this change (computed from the schema as it was then).
    const digest = operationDigest({
      id: "3f2b2f4e-5a0e-4c1e-9d51-8f1d2c3b4a59",
      kind: "key.create",
      payload: parsed,
      initiatorId: "0d9b7c1a-2e3f-4a5b-8c6d-7e8f9a0b1c2d",
      createdAt: new Date("2026-12-01T10:00:00.000Z"),
      expiresAt: new Date("2026-12-03T10:00:00.000Z"),
      policyVersion: 1,
      ruleId: "default",
    });
    expect(digest).toBe(SINGLE_DIGEST);
    expect(keyCreate.describe(parsed).title).toBe("Create the key “Treasury hot”");
  });

  it("shows a batch as exactly what is made", () => {
    const parsed = keyCreatePayloadSchema.parse(batch);
    const shown = keyCreate.describe(parsed);
    expect(shown.title).toBe("Create 10,000 keys “acct-00001” … “acct-10000”");
    expect(shown.lines[0]).toEqual({
      label: "What is made",
      value: "10,000 secp256k1 keys acct-00001 … acct-10000, tags customer, never exportable",
    });
    expect(shown.lines.find((l) => l.label === "Labels")?.value).toBe(
      "acct-{n} with {n} = 00001 … 10000: acct-00001, acct-00002, … acct-10000",
    );
    expect(keyCreate.facts(parsed)).toEqual({ keyTags: ["customer"] });
  });

  it("numbers keys zero-padded to the last number's width, from the first number", () => {
    const plan = keyBatchOf(
      keyCreatePayloadSchema.parse({ ...batch, label: "c/{n}/eth", batch: { count: 3, first: 98 } }),
    );
    expect(plan?.count).toBe(3);
    expect([0, 1, 2].map((i) => plan?.labelOf(i))).toEqual(["c/098/eth", "c/099/eth", "c/100/eth"]);
    expect(keyBatchOf(keyCreatePayloadSchema.parse(single))).toBeNull();
  });

  it("refuses a bad batch, naming the field", () => {
    expect(issuesOf({ ...batch, batch: { count: 1, first: 1 } })).toEqual([
      { path: "batch.count", message: "a batch has at least 2 keys (propose a single key otherwise)" },
    ]);
    expect(issuesOf({ ...batch, batch: { count: 10_001, first: 1 } })).toEqual([
      { path: "batch.count", message: "a batch has at most 10,000 keys" },
    ]);
    expect(issuesOf({ ...batch, batch: { count: 2.5, first: 1 } })[0]?.path).toBe("batch.count");
    expect(issuesOf({ ...batch, batch: { count: 10, first: -1 } })[0]?.path).toBe("batch.first");
    expect(issuesOf({ ...batch, label: "acct" })).toEqual([
      {
        path: "label",
        message:
          "a batch's label pattern needs {n} exactly once, where each key's number goes (e.g. acct-{n})",
      },
    ]);
    expect(issuesOf({ ...batch, label: "{n}-{n}" })[0]?.path).toBe("label");
    expect(issuesOf({ ...batch, batch: { count: 10, first: 99_999_995 } })[0]?.path).toBe("batch.count");
    expect(issuesOf({ ...batch, label: `${"a".repeat(196)}{n}` })[0]?.message).toBe(
      "each key's label would be 201 characters, above 200: shorten the pattern",
    );
    expect(issuesOf({ ...batch, batch: { count: 10, first: 1, size: 3 } })[0]?.path).toBe("batch");
  });
});

const SINGLE_DIGEST = "96932677794dd0fcd8647a3f39303091e63a7edd0a60307bff5da80268c2f96b";
