// The hash chain, as pure functions shared by the writer, the verifier and (later) the offline report checker:
// hash = SHA-256(prev_hash || JCS(entry)), entry = { seq, at, actor, action, subject, data }.
import { createHash } from "node:crypto";
import canonicalize from "canonicalize";

export const GENESIS_HASH = "0".repeat(64);

export type ChainEntry = {
  seq: number;
  at: string; // ISO 8601 UTC with milliseconds
  actor: string;
  action: string;
  subject: string;
  data: unknown;
};

export type ChainedEntry = ChainEntry & { prevHash: string; hash: string };

/** RFC 8785 canonical JSON. Refuses values JSON cannot carry faithfully (Date, bigint, undefined at top level). */
export function canonicalJson(value: unknown): string {
  const text = canonicalize(assertPlainJson(value));
  if (text === undefined) throw new TypeError("value cannot be canonicalised");
  return text;
}

function assertPlainJson(value: unknown): unknown {
  if (value === null || typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new TypeError("non-finite number in audit data");
    return value;
  }
  if (Array.isArray(value)) {
    for (const v of value) assertPlainJson(v);
    return value;
  }
  if (typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) assertPlainJson(v);
    return value;
  }
  throw new TypeError(
    `audit data must be plain JSON, got ${typeof value === "object" ? "an object of a class" : typeof value}`,
  );
}

/**
 * The entry's canonical form, JCS({seq, at, actor, action, subject, data}): what the chain hashes after the
 * previous hash, and (UTF-8 encoded) the entry's leaf in the RFC 9162 tree (server/audit/log/tree.ts).
 */
export function entryCanonical(entry: ChainEntry): string {
  return canonicalJson({
    seq: entry.seq,
    at: entry.at,
    actor: entry.actor,
    action: entry.action,
    subject: entry.subject,
    data: entry.data,
  });
}

export function entryHash(prevHash: string, entry: ChainEntry): string {
  return entryHashOf(prevHash, entryCanonical(entry));
}

/** entryHash from an entry already in canonical form (the integrator computes it once for chain and tree). */
export function entryHashOf(prevHash: string, canonical: string): string {
  return createHash("sha256").update(prevHash, "utf8").update(canonical, "utf8").digest("hex");
}

export type ChainProblem = { seq: number; problem: "gap" | "prev_hash" | "hash" };

/** Checks a run of consecutive entries. `startPrevHash` is the hash before the first one (genesis by default). */
export function verifyChain(entries: readonly ChainedEntry[], startPrevHash = GENESIS_HASH): ChainProblem[] {
  const problems: ChainProblem[] = [];
  let prev = startPrevHash;
  let expectedSeq = entries[0]?.seq ?? 1;
  for (const e of entries) {
    if (e.seq !== expectedSeq) problems.push({ seq: e.seq, problem: "gap" });
    if (e.prevHash !== prev) problems.push({ seq: e.seq, problem: "prev_hash" });
    if (entryHash(e.prevHash, e) !== e.hash) problems.push({ seq: e.seq, problem: "hash" });
    prev = e.hash;
    expectedSeq = e.seq + 1;
  }
  return problems;
}
