// The policy document: which approvals an operation needs, as versioned JSON validated here and nowhere else.
// Pure: no database, no HSM, no clock. A document that does not parse is never judged, stored or digested.
// The schema itself lives in schema.ts (browser-safe); this file adds the seed and the digest (node:crypto).
import { createHash } from "node:crypto";
import canonicalize from "canonicalize";
import { DEFAULT_EXPIRES_IN_HOURS, DEFAULT_REJECTIONS, DEFAULT_RULE_ID } from "./constants";
import { type PolicyDocument, policyDocumentSchema } from "./schema";

export * from "./schema";

/** Parses stored or submitted JSON into a document, or throws the ZodError naming the field. */
export function parsePolicyDocument(json: unknown): PolicyDocument {
  return policyDocumentSchema.parse(json);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object") {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** What setup seeds: no rules, and a default of two approvals from the approvers. */
export const DEFAULT_POLICY: PolicyDocument = deepFreeze({
  version: 1,
  rules: [],
  default: {
    id: DEFAULT_RULE_ID,
    description: "Two approvals from the approvers",
    require: [{ group: "approvers", approvals: 2 }],
    rejections: DEFAULT_REJECTIONS,
    expiresInHours: DEFAULT_EXPIRES_IN_HOURS,
  },
});

/**
 * Refuses anything JSON (and so jsonb) would not keep as it is: canonicalize would silently turn a Date into a
 * string, undefined in an array into null, and drop functions, so two different values could share a digest.
 * Properties whose value is undefined are skipped, as JSON.stringify and jsonb do (an absent optional field).
 */
function assertPlainJson(value: unknown, path: string, seen: Set<object>): void {
  if (value === null || typeof value === "string" || typeof value === "boolean") return;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new TypeError(`Not JSON at ${path}: ${value}`);
    return;
  }
  if (typeof value !== "object") throw new TypeError(`Not JSON at ${path}: a ${typeof value}`);
  if (seen.has(value)) throw new TypeError(`Not JSON at ${path}: a circular reference`);
  seen.add(value);
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      if (v === undefined) throw new TypeError(`Not JSON at ${path}[${i}]: undefined`);
      assertPlainJson(v, `${path}[${i}]`, seen);
    });
  } else {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null)
      throw new TypeError(`Not JSON at ${path}: not a plain object`);
    if (Object.getOwnPropertySymbols(value).length > 0)
      throw new TypeError(`Not JSON at ${path}: symbol keys`);
    for (const [k, v] of Object.entries(value)) if (v !== undefined) assertPlainJson(v, `${path}.${k}`, seen);
  }
  seen.delete(value);
}

/**
 * SHA-256 hex of the document's RFC 8785 (JCS) canonical JSON: what policy_versions.digest holds and what a vote
 * on a policy change binds. The document is validated first; an invalid one or a non-JSON value throws.
 */
export function policyDigest(doc: PolicyDocument): string {
  assertPlainJson(doc, "$", new Set());
  const parsed = policyDocumentSchema.parse(doc);
  const json = canonicalize(parsed);
  if (json === undefined) throw new TypeError("The policy document has no JSON form");
  return createHash("sha256").update(json, "utf8").digest("hex");
}
