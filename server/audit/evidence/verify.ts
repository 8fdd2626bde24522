// The offline verifier of an evidence bundle (bundle.ts): it trusts nothing Keyward runs, only the audit
// verifier key (and, when given, a checkpoint the reader kept). It checks every checkpoint's signature, the
// consistency of consecutive checkpoints (and with the trusted one), every event's leaf recomputed from its
// content and its inclusion proof, the hash chain between consecutive events and that no event is missing or
// out of order, every operation's digest, every vote's WebAuthn signature and its binding to the operation
// digest and decision, each voter token's registration and its registration event in the log (proven, and
// recording that key and registration), and the policy digests. Every failing item is reported by name with its reason.
// Pure: no Node built-ins, no "server-only" — the CLI (scripts/keyward-verify.mjs) and the /verify page share it.
// It never throws: a malformed bundle is one named failure.
import { sha256 as nobleSha256 } from "@noble/hashes/sha2";
import { bytesToHex } from "@noble/hashes/utils";
import {
  type Hash,
  ProofError,
  RangeVerifier,
  type Sha256,
  verifyConsistency,
  verifyInclusion,
} from "../log/merkle";
import { base64Decode, NoteError, openCheckpoint } from "../log/note";
import {
  BUNDLE_FORMAT,
  BUNDLE_FORMAT_V1,
  type BundleEvent,
  type BundleEventContent,
  type BundleOperation,
  bundleEventContentSchema,
  bundleEventSchema,
  bundleSchema,
  bundleV1Schema,
  bundleV2Schema,
} from "./bundle";
import type { z } from "zod";
import { eventCanonical, sha256OfCanonical } from "./entry";
import { readCrls } from "./certificate-status";
import { checkRegistration, extraRoots, shippedRoots } from "./registration-check";
import { type LoggedRegistration, REGISTRATION_ACTIONS, registrationBinding } from "./registration-event";
import type { Check, CheckKind, VerifyReport } from "./report";
import { recomputeOperationDigest, voteProblems } from "./vote-check";

// The report's shape lives in report.ts, so the page can show a report without loading the verifier.
export { CHECK_KINDS, type Check, type CheckKind, type VerifyReport } from "./report";

export type VerifyOptions = {
  /** A signed checkpoint the reader kept from before (a note): the bundle must extend it. */
  trustedCheckpoint?: string;
  /** The audit verifier key the reader trusts (published): the bundle's must be this one. */
  verifierKey?: string;
  /**
   * Attestation roots (DER) the reader trusts besides the shipped Yubico ones (yubico-roots.ts): a token's
   * attestation chain leading to one proves its model.
   */
  attestationRoots?: readonly Uint8Array[];
  /**
   * X.509 CRLs (DER; certificate-status.ts crlDers reads PEM or DER files) the reader got from the token vendors:
   * a chain certificate one lists as revoked by its registration fails it. Used only when signed by the issuer's
   * key in the chain; without one, the report says revocation was not checked (the verifier fetches nothing).
   */
  crls?: readonly Uint8Array[];
  /** Another SHA-256 for the events' leaves, chain hashes and range proof (the CLI: node:crypto). Default noble. */
  sha256?: Sha256;
  /**
   * Each check as it is made. When given, the report's `checks` keeps only the failures (a million events make
   * two million passing checks: the CLI prints them as they come instead of holding them).
   */
  onCheck?: (check: Check) => void;
  /** With onCheck: hand over only the failures; passes are only counted (the CLI's --quiet). */
  failuresOnly?: boolean;
};

const reasonOf = (e: unknown) =>
  e instanceof ProofError || e instanceof NoteError || e instanceof Error ? e.message : String(e);

const hashOf = (b64: string): Hash | null => {
  const h = base64Decode(b64);
  return h !== null && h.length === 32 ? h : null;
};

function proofHashes(proof: readonly string[]): Hash[] | null {
  const out: Hash[] = [];
  for (const p of proof) {
    const h = hashOf(p);
    if (h === null) return null;
    out.push(h);
  }
  return out;
}

const FORMATS = `${BUNDLE_FORMAT} (or v1)`;

function malformed(issue: { path: PropertyKey[]; message: string } | undefined, prefix: PropertyKey[] = []) {
  const path = issue === undefined ? "" : [...prefix, ...issue.path].map(String).join(".");
  return `not a ${FORMATS} bundle: ${issue ? `${path || "(top)"}: ${issue.message}` : "invalid"}`;
}

/** A bundle without its events: what a streaming reader has before the events (every other field). */
export type BundleHeader =
  | Omit<z.infer<typeof bundleV2Schema>, "events">
  | Omit<z.infer<typeof bundleV1Schema>, "events">;

const headerV2Schema = bundleV2Schema.omit({ events: true });
const headerV1Schema = bundleV1Schema.omit({ events: true });

/** Checks an evidence bundle given whole (parsed JSON): the /verify page, tests. Never throws. */
export function verifyBundle(input: unknown, options: VerifyOptions = {}): VerifyReport {
  let parsed: ReturnType<typeof bundleSchema.safeParse>;
  try {
    parsed = bundleSchema.safeParse(input);
  } catch (e) {
    return failedReport(`the verifier could not finish: ${reasonOf(e)}`, options);
  }
  if (!parsed.success) return failedReport(malformed(parsed.error.issues[0]), options);
  const { events, ...header } = parsed.data;
  const run = startVerification(header, options);
  for (const e of events) run.eventParsed(e);
  return run.finish();
}

function failedReport(reason: string, options: VerifyOptions): VerifyReport {
  const check: Check = { kind: "bundle", item: "bundle", ok: false, reason };
  options.onCheck?.(check);
  return {
    ok: false,
    checks: [check],
    failures: [check],
    verifierKey: null,
    head: null,
    counts: { bundle: { passed: 0, failed: 1 } },
  };
}

export type StreamVerifier = {
  /** The next event of `events`, as parsed JSON (checked against the bundle's event schema here). */
  event(e: unknown): void;
  /** After the last event: the report, as verifyBundle gives it for the whole bundle. */
  finish(): VerifyReport;
};

/**
 * Checks a bundle read a piece at a time: `header` is every field but `events` (parsed JSON), then each event
 * in file order, then finish(). Holds O(1) events (plus the ids operations and votes are checked against).
 * verifyBundle is this with every event at hand. Never throws; a malformed header or event makes the report
 * that one failure, as verifyBundle's.
 */
export function createStreamVerifier(header: unknown, options: VerifyOptions = {}): StreamVerifier {
  let failed: string | null = null;
  let run: ReturnType<typeof startVerification> | null = null;
  let eventSchema: typeof bundleEventSchema | typeof bundleEventContentSchema = bundleEventContentSchema;
  try {
    const format =
      typeof header === "object" && header !== null ? (header as { format?: unknown }).format : undefined;
    const parsed = (format === BUNDLE_FORMAT_V1 ? headerV1Schema : headerV2Schema).safeParse(header);
    if (!parsed.success) failed = malformed(parsed.error.issues[0]);
    else {
      eventSchema = parsed.data.format === BUNDLE_FORMAT_V1 ? bundleEventSchema : bundleEventContentSchema;
      run = startVerification(parsed.data, options);
    }
  } catch (e) {
    failed = `the verifier could not finish: ${reasonOf(e)}`;
  }
  let index = 0;
  return {
    event(e) {
      const at = index++;
      if (failed !== null || run === null) return;
      try {
        if (eventSchema === bundleEventContentSchema && plainEvent(e)) {
          run.eventParsed(e);
          return;
        }
        const parsed = eventSchema.safeParse(e);
        if (!parsed.success) failed = malformed(parsed.error.issues[0], ["events", at]);
        else run.eventParsed(parsed.data as BundleEvent);
      } catch (err) {
        failed = `the verifier could not finish: ${reasonOf(err)}`;
      }
    },
    finish() {
      if (failed !== null || run === null) return failedReport(failed ?? "invalid", options);
      return run.finish();
    },
  };
}

type Record_ = (kind: CheckKind, item: string, reason: string) => void;

/** What is kept of an event once it has been checked. */
type Seen = { seq: number; prevHash: string; hash: string };

function startVerification(bundle: BundleHeader, options: VerifyOptions) {
  const sha = options.sha256 ?? ((d: Uint8Array) => nobleSha256(d));
  const checks: Check[] = [];
  const counts: NonNullable<VerifyReport["counts"]> = {};
  const record = (kind: CheckKind, item: string, ok: boolean, reason: string) => {
    const check: Check = { kind, item, ok, reason };
    const c = counts[kind] ?? { passed: 0, failed: 0 };
    if (ok) c.passed++;
    else c.failed++;
    counts[kind] = c;
    if (options.onCheck !== undefined) {
      if (ok && options.failuresOnly === true) return;
      options.onCheck(check);
      if (!ok) checks.push(check);
    } else checks.push(check);
  };
  const pass: Record_ = (kind, item, reason) => record(kind, item, true, reason);
  // Passes nobody will see (onCheck with failuresOnly): counted without making the check.
  const quietPasses = options.onCheck !== undefined && options.failuresOnly === true;
  const counted = (kind: CheckKind) => {
    const c = counts[kind] ?? { passed: 0, failed: 0 };
    c.passed++;
    counts[kind] = c;
  };
  const fail: Record_ = (kind, item, reason) => record(kind, item, false, reason);
  let verifierKey: string | null = null;
  let head: VerifyReport["head"] = null;
  let roots = new Map<number, Hash>();
  let broken = false;
  const crashed = (e: unknown) => {
    // A bug or an input no check foresaw: still a named failure, never an exception.
    if (!broken) fail("bundle", "bundle", `the verifier could not finish: ${reasonOf(e)}`);
    broken = true;
  };
  try {
    verifierKey = bundle.log.verifierKey;
    if (options.verifierKey !== undefined && options.verifierKey !== bundle.log.verifierKey)
      fail(
        "bundle",
        "audit key",
        `the bundle's audit key ${bundle.log.verifierKey} is not the one you trust`,
      );
    else pass("bundle", "bundle", `format ${bundle.format}, log ${bundle.log.origin}`);
    roots = checkCheckpoints(bundle, pass, fail, options);
    const last = bundle.checkpoints.at(-1);
    const lastRoot = last === undefined ? undefined : roots.get(last.size);
    if (last !== undefined && lastRoot !== undefined)
      head = { size: last.size, rootHash: bytesToHex(lastRoot) };
  } catch (e) {
    crashed(e);
  }

  // v2: the range proof, fed each event's leaf as it comes.
  const v2 = bundle.format === BUNDLE_FORMAT ? bundle.inclusion : undefined;
  let range: RangeVerifier | null = null;
  let rangeProblem: string | null = null;
  const facts = {
    proposed: new Map<string, { seq: number; digest: unknown }>(),
    cast: new Map<string, { seq: number; data: Record<string, unknown> }>(),
    registered: new Map<string, LoggedRegistration[]>(),
  };
  let first: Seen | undefined;
  let prev: Seen | undefined;
  let count = 0;

  const eventParsed = (e: BundleEvent | BundleEventContent) => {
    if (broken) return;
    try {
      count++;
      const hashed = eventHashes(e, sha);
      if (v2 !== undefined) {
        if (first === undefined) range = startRange(e.seq - 1);
        if (hashed.leaf === null) rangeProblem ??= `event ${e.seq}'s content cannot be canonicalised`;
        else if (range !== null) range.leaf(hashed.leaf);
        if (hashed.problems.length > 0) fail("event", `event ${e.seq}`, hashed.problems.join("; "));
        else if (quietPasses) counted("event");
        else
          pass(
            "event",
            `event ${e.seq}`,
            `its content gives its hash; its leaf is position ${e.seq} of the range proved to checkpoint ${v2?.size}`,
          );
      } else {
        const problems = ownProofProblems(e as BundleEvent, hashed, roots);
        const size = (e as BundleEvent).inclusion.size;
        if (problems.length > 0) fail("event", `event ${e.seq}`, problems.join("; "));
        else pass("event", `event ${e.seq}`, `in the log at position ${e.seq} of checkpoint ${size}`);
      }
      if (prev !== undefined) {
        if (e.seq <= prev.seq)
          fail("chain", `events ${prev.seq}, ${e.seq}`, "out of order: the events must be in seq order");
        else if (e.seq > prev.seq + 1)
          fail(
            "chain",
            `events ${prev.seq}→${e.seq}`,
            `event${e.seq - prev.seq > 2 ? `s ${prev.seq + 1}-${e.seq - 1} are` : ` ${prev.seq + 1} is`} missing from the period`,
          );
        else if (e.prevHash !== prev.hash)
          fail(
            "chain",
            `chain ${prev.seq}→${e.seq}`,
            `event ${e.seq}'s previous hash is not event ${prev.seq}'s hash`,
          );
        else if (quietPasses) counted("chain");
        else pass("chain", `chain ${prev.seq}→${e.seq}`, "linked");
      }
      prev = { seq: e.seq, prevHash: e.prevHash, hash: e.hash };
      first ??= prev;
      collectFacts(e, facts);
    } catch (err) {
      crashed(err);
    }
  };

  function startRange(start: number): RangeVerifier | null {
    if (v2 === undefined || v2 === null) {
      rangeProblem = "the bundle has events but no range proof";
      return null;
    }
    const left = proofHashes(v2.left);
    if (left === null) {
      rangeProblem = "a range proof element is not a 32-byte base64 hash";
      return null;
    }
    try {
      return new RangeVerifier(start, left, { sha256: sha });
    } catch (err) {
      rangeProblem = reasonOf(err);
      return null;
    }
  }

  function checkRange() {
    if (v2 === undefined) return;
    if (first === undefined || prev === undefined) {
      if (v2 !== null) fail("inclusion", "inclusion", "the bundle has a range proof but no events");
      return;
    }
    const item = `inclusion of events ${first.seq}-${prev.seq}`;
    if (v2 === null) return fail("inclusion", item, "the bundle has events but no range proof");
    const root = roots.get(v2.size);
    const right = proofHashes(v2.right);
    if (root === undefined)
      return fail(
        "inclusion",
        item,
        `the range proof is to checkpoint ${v2.size}, which the bundle does not hold verified`,
      );
    if (rangeProblem !== null || range === null)
      return fail("inclusion", item, `cannot be checked: ${rangeProblem ?? "no range"}`);
    if (right === null) return fail("inclusion", item, "a range proof element is not a 32-byte base64 hash");
    try {
      (range as RangeVerifier).finish(right, v2.size, root);
      pass(
        "inclusion",
        item,
        `all ${count} events, their leaves recomputed from their content, are positions ${first.seq}-${prev.seq} of checkpoint ${v2.size}`,
      );
    } catch (err) {
      fail(
        "inclusion",
        item,
        `the events' leaves, recomputed from their content, with the range proof do not give the root of checkpoint ${v2.size}: an event was changed, left out, added or moved, or the proof is wrong (${reasonOf(err)})`,
      );
    }
  }

  const finish = (): VerifyReport => {
    if (!broken)
      try {
        checkRange();
        checkEdges(bundle, first, prev, roots, sha, pass, fail);
        checkVotes(bundle, facts, pass, fail);
        checkRegistrations(bundle, facts, roots, sha, pass, fail, options);
      } catch (e) {
        crashed(e);
      }
    const failures = checks.filter((c) => !c.ok);
    const total = Object.values(counts).reduce((n, c) => n + c.passed + c.failed, 0);
    return { ok: failures.length === 0 && total > 0, checks, failures, verifierKey, head, counts };
  };
  return { eventParsed, finish };
}

/** Signatures, order and consistency of the bundle's checkpoints; returns the verified roots by size. */
function checkCheckpoints(bundle: BundleHeader, pass: Record_, fail: Record_, options: VerifyOptions) {
  const key = options.verifierKey ?? bundle.log.verifierKey;
  const roots = new Map<number, Hash>();
  let previous = -1;
  for (const c of bundle.checkpoints) {
    const item = `checkpoint ${c.size}`;
    if (c.size <= previous) fail("checkpoint", item, `out of order: it follows checkpoint ${previous}`);
    previous = Math.max(previous, c.size);
    try {
      const opened = openCheckpoint(c.note, [key], { origin: bundle.log.origin });
      if (opened.checkpoint.size !== c.size)
        fail("checkpoint", item, `its signed note is of size ${opened.checkpoint.size}`);
      else {
        roots.set(c.size, opened.checkpoint.rootHash);
        pass("checkpoint", item, "signature verifies under the audit key");
      }
    } catch (e) {
      const why =
        e instanceof NoteError && (e.reason === "no-known-signature" || e.reason === "bad-signature")
          ? `signature does not verify under the audit key (${e.message})`
          : reasonOf(e);
      fail("checkpoint", item, why);
    }
  }
  // A consistency proof between each pair of consecutive checkpoints, and no proof about a checkpoint the
  // bundle does not hold (what a checkpoint dropped from an export leaves behind).
  const sizes = new Set(bundle.checkpoints.map((c) => c.size));
  const proved = new Set<string>();
  for (const p of bundle.consistency) {
    const item = `consistency ${p.from}→${p.to}`;
    if (!sizes.has(p.from) || !sizes.has(p.to)) {
      fail("consistency", item, `checkpoint ${sizes.has(p.from) ? p.to : p.from} is not in the bundle`);
      continue;
    }
    const oldRoot = roots.get(p.from);
    const newRoot = roots.get(p.to);
    if (oldRoot === undefined || newRoot === undefined) {
      fail("consistency", item, "a checkpoint it links did not verify");
      continue;
    }
    const proof = proofHashes(p.proof);
    if (proof === null) {
      fail("consistency", item, "a proof element is not a 32-byte base64 hash");
      continue;
    }
    try {
      verifyConsistency(p.from, p.to, proof, oldRoot, newRoot);
      proved.add(`${p.from}/${p.to}`);
      pass("consistency", item, "the newer tree extends the older one");
    } catch (e) {
      fail("consistency", item, `the log was not only appended to: ${reasonOf(e)}`);
    }
  }
  for (let i = 1; i < bundle.checkpoints.length; i++) {
    const a = bundle.checkpoints[i - 1];
    const b = bundle.checkpoints[i];
    if (a === undefined || b === undefined || a.size >= b.size) continue;
    if (!bundle.consistency.some((p) => p.from === a.size && p.to === b.size))
      fail(
        "consistency",
        `consistency ${a.size}→${b.size}`,
        "the bundle has no proof between these consecutive checkpoints",
      );
  }
  if (bundle.checkpoints.length === 0) fail("checkpoint", "checkpoints", "the bundle has no checkpoint");
  if (options.trustedCheckpoint !== undefined)
    checkTrusted(bundle, roots, key, options.trustedCheckpoint, pass, fail);
  return roots;
}

/** The checkpoint the reader kept must be one of the bundle's, with the same root (or the bundle is refused). */
function checkTrusted(
  bundle: BundleHeader,
  roots: Map<number, Hash>,
  key: string,
  note: string,
  pass: Record_,
  fail: Record_,
) {
  let size: number;
  let root: Hash;
  try {
    const opened = openCheckpoint(note, [key], { origin: bundle.log.origin });
    size = opened.checkpoint.size;
    root = opened.checkpoint.rootHash;
  } catch (e) {
    fail("trusted", "trusted checkpoint", `it does not verify under the bundle's audit key: ${reasonOf(e)}`);
    return;
  }
  const item = `trusted checkpoint ${size}`;
  const first = bundle.checkpoints[0];
  const last = bundle.checkpoints.at(-1);
  const mine = roots.get(size);
  if (mine !== undefined) {
    if (bytesToHex(mine) === bytesToHex(root))
      pass(
        "trusted",
        item,
        `the bundle's checkpoint ${size} is the one you kept, and the bundle's later ones extend it`,
      );
    else
      fail(
        "trusted",
        item,
        `the bundle's checkpoint ${size} has another root than the one you kept: the log was rewritten`,
      );
  } else if (bundle.checkpoints.some((c) => c.size === size))
    fail("trusted", item, `the bundle's checkpoint ${size} does not verify`);
  else if (first !== undefined && last !== undefined && size > first.size && size < last.size)
    fail(
      "trusted",
      item,
      `the bundle leaves it out, though it lies between its checkpoints ${first.size} and ${last.size}: a checkpoint was dropped`,
    );
  else if (last !== undefined && size > last.size)
    fail(
      "trusted",
      item,
      `the log you saw had ${size} events; this bundle's newest checkpoint has ${last.size}: the log was truncated, or ask for a newer bundle`,
    );
  else if (first !== undefined && size < first.size) {
    const firstRoot = roots.get(first.size);
    const kept = bundle.keptConsistency.find((p) => p.from === size && p.to === first.size);
    const proof = kept === undefined ? null : proofHashes(kept.proof);
    if (kept !== undefined && proof !== null && firstRoot !== undefined) {
      try {
        verifyConsistency(size, first.size, proof, root, firstRoot);
        pass("trusted", item, `the bundle's checkpoint ${first.size} extends the one you kept`);
      } catch (e) {
        fail(
          "trusted",
          item,
          `the bundle's checkpoint ${first.size} does not extend the one you kept: the log was rewritten (${reasonOf(e)})`,
        );
      }
      return;
    }
    fail(
      "trusted",
      item,
      `it is older than the bundle's first checkpoint ${first.size}: the bundle cannot prove it extends it; export with it kept (a proof from ${size}), or a period that begins before event ${size}`,
    );
  } else fail("trusted", item, "the bundle has no checkpoint to compare it with");
}

type Facts = {
  proposed: Map<string, { seq: number; digest: unknown }>;
  cast: Map<string, { seq: number; data: Record<string, unknown> }>;
  /** The period's token.registered and token.added events by credential id (proven by the range proof). */
  registered: Map<string, LoggedRegistration[]>;
};

/** What the signed log says about operations, votes and tokens: each proposal's digest, each vote cast, each registration. */
function collectFacts(e: BundleEventContent, facts: Facts) {
  if (typeof e.data !== "object" || e.data === null) return;
  const data = e.data as Record<string, unknown>;
  if (e.action === "operation.proposed" && typeof data.operationId === "string")
    facts.proposed.set(data.operationId, { seq: e.seq, digest: data.digest });
  if (e.action === "vote.cast" && typeof data.voteId === "string")
    facts.cast.set(data.voteId, { seq: e.seq, data });
  if (REGISTRATION_ACTIONS.includes(e.action) && typeof data.credentialId === "string")
    facts.registered.set(data.credentialId, [
      ...(facts.registered.get(data.credentialId) ?? []),
      { seq: e.seq, at: e.at, action: e.action, data, unproven: [], proof: "an event of the period" },
    ]);
}

const utf8 = new TextEncoder();
let scratch = new Uint8Array(4096);

/**
 * The event's leaf SHA-256(0x00 ‖ JCS(entry)) and whether its chain hash SHA-256(prevHash ‖ JCS(entry)) holds
 * (entry.ts; one canonicalisation, one UTF-8 encoding: prevHash's 64 characters then the entry in one buffer,
 * the leaf's 0x00 written over prevHash's last byte once the chain hash is taken).
 */
function eventHashes(e: BundleEventContent, sha: Sha256): { leaf: Hash | null; problems: string[] } {
  let canonical: string;
  try {
    canonical = eventCanonical(e);
  } catch (err) {
    return { leaf: null, problems: [`its content cannot be canonicalised (${reasonOf(err)})`] };
  }
  const need = 64 + canonical.length * 3;
  if (scratch.length < need) scratch = new Uint8Array(Math.max(need, scratch.length * 2));
  const head = utf8.encodeInto(e.prevHash, scratch.subarray(0, 64));
  if (head.written !== 64 || head.read !== e.prevHash.length)
    return { leaf: null, problems: ["its previous hash is not 64 hex characters"] };
  const end = 64 + utf8.encodeInto(canonical, scratch.subarray(64)).written;
  const chainOk = bytesToHex(sha(scratch.subarray(0, end))) === e.hash;
  scratch[63] = 0x00;
  const leaf = sha(scratch.subarray(63, end)).slice();
  return { leaf, problems: chainOk ? [] : ["its hash is not SHA-256 of its previous hash and its content"] };
}

const HEX64 = /^[0-9a-f]{64}$/;
const str = (v: unknown, max: number) => typeof v === "string" && v.length <= max;

/**
 * A v2 event that zod's bundleEventContentSchema surely accepts (the plain case), checked without copying it;
 * anything else goes through zod (its output drops unknown keys, which no check reads).
 */
function plainEvent(e: unknown): e is BundleEventContent {
  if (typeof e !== "object" || e === null) return false;
  const x = e as Record<string, unknown>;
  return (
    Number.isSafeInteger(x.seq) &&
    (x.seq as number) > 0 &&
    str(x.at, 40) &&
    str(x.actor, 100_000) &&
    str(x.action, 100_000) &&
    str(x.subject, 100_000) &&
    typeof x.prevHash === "string" &&
    HEX64.test(x.prevHash) &&
    typeof x.hash === "string" &&
    HEX64.test(x.hash)
  );
}

/** Why an event's own inclusion proof (v1 events, edges) does not hold (empty: it does). */
function inclusionProblems(e: BundleEvent, leaf: Hash | null, roots: Map<number, Hash>): string[] {
  const problems: string[] = [];
  const root = roots.get(e.inclusion.size);
  const proof = proofHashes(e.inclusion.proof);
  if (root === undefined)
    problems.push(
      `its inclusion proof is to checkpoint ${e.inclusion.size}, which the bundle does not hold verified`,
    );
  else if (proof === null) problems.push("an inclusion proof element is not a 32-byte base64 hash");
  else if (leaf !== null) {
    try {
      verifyInclusion(leaf, e.seq - 1, e.inclusion.size, proof, root);
    } catch (err) {
      problems.push(
        `its data does not give the leaf the inclusion proof proves to checkpoint ${e.inclusion.size} (${reasonOf(err)})`,
      );
    }
  }
  return problems;
}

/** Why an event with its own inclusion proof does not hold (empty: it does). */
function eventProblems(e: BundleEvent, roots: Map<number, Hash>, sha: Sha256): string[] {
  return ownProofProblems(e, eventHashes(e, sha), roots);
}

/** In v1's order: content that cannot be canonicalised, else the proof's problems, then the chain hash's. */
function ownProofProblems(
  e: BundleEvent,
  hashed: { leaf: Hash | null; problems: string[] },
  roots: Map<number, Hash>,
): string[] {
  const proof = inclusionProblems(e, hashed.leaf, roots);
  return hashed.leaf === null ? [...hashed.problems, ...proof] : [...proof, ...hashed.problems];
}

/**
 * The period was not cut at either end: the event before its first is logged before `from` and links to it,
 * the event after its last is logged after `to` and links from it (or the newest checkpoint ends there).
 */
function checkEdges(
  bundle: BundleHeader,
  first: Seen | undefined,
  last: Seen | undefined,
  roots: Map<number, Hash>,
  sha: Sha256,
  pass: Record_,
  fail: Record_,
) {
  if (first === undefined || last === undefined) return;
  const { before, after } = bundle.edges;
  const from = Date.parse(bundle.period.from);
  const to = Date.parse(bundle.period.to);
  const start = "period start";
  if (before === null) {
    if (first.seq === 1) pass("period", start, "the period starts with the log's first event");
    else
      fail(
        "period",
        start,
        `the bundle does not show event ${first.seq - 1}, the one before the period's first`,
      );
  } else {
    const problems = eventProblems(before, roots, sha).map((p) => `event ${before.seq}: ${p}`);
    if (before.seq !== first.seq - 1)
      problems.push(`event ${before.seq} is not the one before the period's first event ${first.seq}`);
    else if (before.hash !== first.prevHash)
      problems.push(`event ${first.seq}'s previous hash is not event ${before.seq}'s hash`);
    if (!(Date.parse(before.at) < from))
      problems.push(
        `event ${before.seq} was logged at ${before.at}, within the period: the period's start was cut`,
      );
    if (problems.length > 0) fail("period", start, problems.join("; "));
    else pass("period", start, `event ${before.seq}, just before, was logged before the period`);
  }
  const end = "period end";
  const newest = bundle.checkpoints.at(-1)?.size;
  if (after === null) {
    if (newest === last.seq)
      pass("period", end, `the newest checkpoint ends with the period's last event ${last.seq}`);
    else
      fail("period", end, `the bundle does not show event ${last.seq + 1}, the one after the period's last`);
  } else {
    const problems = eventProblems(after, roots, sha).map((p) => `event ${after.seq}: ${p}`);
    if (after.seq !== last.seq + 1)
      problems.push(`event ${after.seq} is not the one after the period's last event ${last.seq}`);
    else if (after.prevHash !== last.hash)
      problems.push(`event ${after.seq}'s previous hash is not event ${last.seq}'s hash`);
    if (!(Date.parse(after.at) > to))
      problems.push(
        `event ${after.seq} was logged at ${after.at}, within the period: the period's end was cut`,
      );
    if (problems.length > 0) fail("period", end, problems.join("; "));
    else pass("period", end, `event ${after.seq}, just after, was logged after the period`);
  }
}

function checkVotes(bundle: BundleHeader, facts: Facts, pass: Record_, fail: Record_) {
  const operations = new Map<string, BundleOperation>(bundle.operations.map((o) => [o.id, o]));
  for (const p of bundle.policies) {
    const item = `policy ${p.version}`;
    try {
      const digest = bytesToHex(sha256OfCanonical(p.document));
      if (digest === p.digest) {
        pass("policy", item, "its document gives its digest");
      } else fail("policy", item, `its document gives digest ${digest}, not ${p.digest}`);
    } catch (e) {
      fail("policy", item, `its document cannot be canonicalised (${reasonOf(e)})`);
    }
  }
  const { proposed, cast } = facts;
  for (const op of bundle.operations) {
    const item = `operation ${op.id}`;
    const problems: string[] = [];
    try {
      const digest = recomputeOperationDigest(op);
      if (digest !== op.digest) problems.push(`its content gives digest ${digest}, not ${op.digest}`);
    } catch (e) {
      problems.push(`its digest cannot be recomputed (${reasonOf(e)})`);
    }
    const event = proposed.get(op.id);
    if (event !== undefined && event.digest !== op.digest)
      problems.push(`event ${event.seq} (operation.proposed) records digest ${String(event.digest)}`);
    if (!bundle.policies.some((p) => p.version === op.policyVersion))
      problems.push(`policy version ${op.policyVersion} it was proposed under is not in the bundle`);
    if (problems.length > 0) fail("operation", item, problems.join("; "));
    else pass("operation", item, "its content gives its digest");
  }
  const voteIds = new Set<string>();
  for (const v of bundle.votes) {
    voteIds.add(v.id);
    const item = `vote on operation ${v.operationId} by ${v.voterId}`;
    const problems = voteProblems(v, operations.get(v.operationId), bundle.webauthn);
    const event = cast.get(v.id);
    if (event === undefined) problems.push("no vote.cast event of the bundle records it");
    else {
      const d = event.data;
      if (
        d.operationId !== v.operationId ||
        d.voterId !== v.voterId ||
        d.decision !== v.decision ||
        d.credentialId !== v.credential.id
      )
        problems.push(
          `event ${event.seq} (vote.cast) records ${String(d.decision)} by ${String(d.voterId)} with token ${String(d.credentialId)} on ${String(d.operationId)}`,
        );
    }
    if (problems.length > 0) fail("vote", item, problems.join("; "));
    else pass("vote", item, `${v.decision}, signed by the voter's token over the operation digest`);
  }
  for (const [voteId, event] of cast)
    if (!voteIds.has(voteId))
      fail(
        "vote",
        `vote ${voteId}`,
        `event ${event.seq} (vote.cast) records it, but the bundle leaves it out`,
      );
}

/**
 * The bundle's registrationEvents, each through its own inclusion proof and chain hash (as the edges are), by the
 * credential they name; one that is not a registration of a voter token of the bundle is named.
 */
function provenRegistrationEvents(
  bundle: BundleHeader,
  roots: Map<number, Hash>,
  sha: Sha256,
  fail: Record_,
): Map<string, LoggedRegistration[]> {
  const byCredential = new Map<string, LoggedRegistration[]>();
  const voters = new Set(bundle.votes.map((v) => v.credential.id));
  for (const e of bundle.registrationEvents ?? []) {
    const data = typeof e.data === "object" && e.data !== null ? (e.data as Record<string, unknown>) : {};
    const credentialId = data.credentialId;
    if (
      !REGISTRATION_ACTIONS.includes(e.action) ||
      typeof credentialId !== "string" ||
      !voters.has(credentialId)
    ) {
      fail(
        "registration",
        `registration event ${e.seq}`,
        `it is ${e.action} for ${String(credentialId)}, not the token.registered or token.added of a voter token of the bundle`,
      );
      continue;
    }
    const logged: LoggedRegistration = {
      seq: e.seq,
      at: e.at,
      action: e.action,
      data,
      unproven: eventProblems(e, roots, sha),
      proof: `proved to checkpoint ${e.inclusion.size}`,
    };
    byCredential.set(credentialId, [...(byCredential.get(credentialId) ?? []), logged]);
  }
  return byCredential;
}

/**
 * Each voter token's registration, once per token: its attestationObject must attest the credential id and key
 * the votes were checked under (registration-check.ts), and its registration event in the log (the bundle's
 * registrationEvents, proven each, or one among the period's events) must record that key and registration
 * (registration-event.ts). A token given with two different keys or registrations in one bundle is a failure.
 * Its attestation certificates are checked at the time its registration event records, against the reader's CRLs.
 */
function checkRegistrations(
  bundle: BundleHeader,
  facts: Facts,
  auditRoots: Map<number, Hash>,
  sha: Sha256,
  pass: Record_,
  fail: Record_,
  options: VerifyOptions,
) {
  const extra = extraRoots(options.attestationRoots ?? []);
  if (extra.unreadable > 0)
    fail("registration", "attestation roots", `${extra.unreadable} of the roots you gave cannot be read`);
  const { crls, unreadable } = readCrls(options.crls ?? []);
  if (unreadable > 0) fail("registration", "CRLs", `${unreadable} of the CRLs you gave cannot be read`);
  const roots = [...shippedRoots(), ...extra.roots];
  const proven = provenRegistrationEvents(bundle, auditRoots, sha, fail);
  const byId = new Map<string, BundleHeader["votes"][number]["credential"][]>();
  for (const v of bundle.votes) {
    const seen = byId.get(v.credential.id) ?? [];
    const same = (c: (typeof seen)[number]) =>
      c.memberId === v.credential.memberId &&
      c.publicKey === v.credential.publicKey &&
      (c.registration ?? null)?.attestationObject ===
        (v.credential.registration ?? null)?.attestationObject &&
      (c.registration ?? null)?.clientDataJSON === (v.credential.registration ?? null)?.clientDataJSON;
    if (!seen.some(same)) seen.push(v.credential);
    byId.set(v.credential.id, seen);
  }
  for (const [id, variants] of byId) {
    const item = `registration of token ${id}`;
    if (variants.length > 1) {
      fail(
        "registration",
        item,
        `the bundle gives this token ${variants.length} different owners, keys or registrations`,
      );
      continue;
    }
    const credential = variants[0];
    if (credential === undefined) continue;
    const binding = registrationBinding(
      credential,
      [...(proven.get(id) ?? []), ...(facts.registered.get(id) ?? [])],
      { carriesEvents: bundle.registrationEvents !== undefined },
    );
    const result = checkRegistration(credential, bundle.webauthn, roots, {
      registered: binding.registered,
      crls,
    });
    if (!result.ok || binding.problems.length > 0)
      fail(
        "registration",
        item,
        `member ${credential.memberId}: ${[...(result.ok ? [] : [result.reason]), ...binding.problems].join("; ")}`,
      );
    else
      pass(
        "registration",
        item,
        `member ${credential.memberId}: ${[result.reason, ...binding.notes].join("; ")}`,
      );
  }
}
