// Stored policy documents parsed once: every proposal reads the version in force and every execution the version
// it was judged under, and parsing the same document through the zod schema again each time was CPU for nothing.
// Keyed by the stored JSON's exact text (JSON.stringify, so only the same document gives the same answer: a row
// edited in place, even under its old digest, is a new key and parsed afresh), and frozen, so no caller can
// change what the next one gets. Never caches a document that does not validate: that throws every time.
import { type PolicyDocument, parsePolicyDocument } from "./document";

/** Enough for every version a process judges under at once; cleared, not evicted one by one, when full. */
const MAX_ENTRIES = 64;
const parsed = new Map<string, PolicyDocument>();

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object" && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** parsePolicyDocument for a stored document (a policy_versions row's): the same, frozen, answer per text. */
export function parseStoredPolicyDocument(json: unknown): PolicyDocument {
  const text = JSON.stringify(json);
  const hit = text === undefined ? undefined : parsed.get(text);
  if (hit !== undefined) return hit;
  const document = deepFreeze(parsePolicyDocument(json));
  if (text !== undefined) {
    if (parsed.size >= MAX_ENTRIES) parsed.clear();
    parsed.set(text, document);
  }
  return document;
}
