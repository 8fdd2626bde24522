// The offline verifier of an evidence bundle (bundle.ts): it trusts nothing Keyward runs, only the audit
// verifier key (and, when given, a checkpoint the reader kept). It checks every checkpoint's signature, the
// consistency of consecutive checkpoints (and with the trusted one), every event's leaf recomputed from its
// content and its inclusion proof, the hash chain between consecutive events and that no event is missing or
// out of order, every operation's digest, every vote's WebAuthn signature and its binding to the operation
// digest and decision, and the policy digests. Every failing item is reported by name with its reason.
// Pure: no Node built-ins, no "server-only" — the CLI (scripts/keyward-verify.mjs) and the /verify page share it.
// It never throws: a malformed bundle is one named failure.
import { bytesToHex } from "@noble/hashes/utils";
import { type Hash, ProofError, verifyConsistency, verifyInclusion } from "../log/merkle";
import { base64Decode, NoteError, openCheckpoint } from "../log/note";
import { type Bundle, type BundleEvent, type BundleOperation, bundleSchema } from "./bundle";
import { eventChainHash, eventLeafOf, sha256OfCanonical } from "./entry";
import { checkRegistration, extraRoots, shippedRoots } from "./registration-check";
import { recomputeOperationDigest, voteProblems } from "./vote-check";

export const CHECK_KINDS = [
  "bundle",
  "checkpoint",
  "consistency",
  "trusted",
  "event",
  "chain",
  "period",
  "operation",
  "vote",
  "registration",
  "policy",
] as const;
export type CheckKind = (typeof CHECK_KINDS)[number];

/** One item checked: `item` names it ("event 17", "checkpoint 40", "consistency 40→80", …). */
export type Check = { kind: CheckKind; item: string; ok: boolean; reason: string };

export type VerifyReport = {
  ok: boolean;
  checks: Check[];
  failures: Check[];
  /** The audit key the bundle's checkpoints were checked under: compare it with the published one. */
  verifierKey: string | null;
  /** The newest checkpoint that verified: what the events were proved against. */
  head: { size: number; rootHash: string } | null;
};

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

export function verifyBundle(input: unknown, options: VerifyOptions = {}): VerifyReport {
  const checks: Check[] = [];
  const pass = (kind: CheckKind, item: string, reason: string) =>
    checks.push({ kind, item, ok: true, reason });
  const fail = (kind: CheckKind, item: string, reason: string) =>
    checks.push({ kind, item, ok: false, reason });
  let verifierKey: string | null = null;
  let head: VerifyReport["head"] = null;
  try {
    const parsed = bundleSchema.safeParse(input);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      fail(
        "bundle",
        "bundle",
        `not a keyward-evidence/v1 bundle: ${issue ? `${issue.path.join(".") || "(top)"}: ${issue.message}` : "invalid"}`,
      );
    } else {
      const bundle = parsed.data;
      verifierKey = bundle.log.verifierKey;
      if (options.verifierKey !== undefined && options.verifierKey !== bundle.log.verifierKey)
        fail(
          "bundle",
          "audit key",
          `the bundle's audit key ${bundle.log.verifierKey} is not the one you trust`,
        );
      else pass("bundle", "bundle", `format ${bundle.format}, log ${bundle.log.origin}`);
      const roots = checkCheckpoints(bundle, pass, fail, options);
      const last = bundle.checkpoints.at(-1);
      const lastRoot = last === undefined ? undefined : roots.get(last.size);
      if (last !== undefined && lastRoot !== undefined)
        head = { size: last.size, rootHash: bytesToHex(lastRoot) };
      checkEvents(bundle, roots, pass, fail);
      checkVotes(bundle, pass, fail);
      checkRegistrations(bundle, pass, fail, options);
    }
  } catch (e) {
    // A bug or an input no check foresaw: still a named failure, never an exception.
    fail("bundle", "bundle", `the verifier could not finish: ${reasonOf(e)}`);
  }
  const failures = checks.filter((c) => !c.ok);
  return { ok: failures.length === 0 && checks.length > 0, checks, failures, verifierKey, head };
}

type Record_ = (kind: CheckKind, item: string, reason: string) => void;

/** Signatures, order and consistency of the bundle's checkpoints; returns the verified roots by size. */
function checkCheckpoints(bundle: Bundle, pass: Record_, fail: Record_, options: VerifyOptions) {
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
  bundle: Bundle,
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

/** Why an event's content, hash or inclusion proof does not hold (empty: it does). */
function eventProblems(e: BundleEvent, roots: Map<number, Hash>): string[] {
  const problems: string[] = [];
  let leaf: Hash | null = null;
  try {
    leaf = eventLeafOf(e);
  } catch (err) {
    problems.push(`its content cannot be canonicalised (${reasonOf(err)})`);
  }
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
  try {
    if (eventChainHash(e.prevHash, e) !== e.hash)
      problems.push("its hash is not SHA-256 of its previous hash and its content");
  } catch {
    // Reported above (the content cannot be canonicalised).
  }
  return problems;
}

function checkEvents(bundle: Bundle, roots: Map<number, Hash>, pass: Record_, fail: Record_) {
  let prev: BundleEvent | undefined;
  for (const e of bundle.events) {
    const item = `event ${e.seq}`;
    const problems = eventProblems(e, roots);
    if (problems.length > 0) fail("event", item, problems.join("; "));
    else pass("event", item, `in the log at position ${e.seq} of checkpoint ${e.inclusion.size}`);

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
      else pass("chain", `chain ${prev.seq}→${e.seq}`, "linked");
    }
    prev = e;
  }
  checkEdges(bundle, roots, pass, fail);
}

/**
 * The period was not cut at either end: the event before its first is logged before `from` and links to it,
 * the event after its last is logged after `to` and links from it (or the newest checkpoint ends there).
 */
function checkEdges(bundle: Bundle, roots: Map<number, Hash>, pass: Record_, fail: Record_) {
  const first = bundle.events[0];
  const last = bundle.events.at(-1);
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
    const problems = eventProblems(before, roots).map((p) => `event ${before.seq}: ${p}`);
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
    const problems = eventProblems(after, roots).map((p) => `event ${after.seq}: ${p}`);
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

function checkVotes(bundle: Bundle, pass: Record_, fail: Record_) {
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
  // What the signed log says about operations and votes: each proposal's digest, each vote cast.
  const proposed = new Map<string, { seq: number; digest: unknown }>();
  const cast = new Map<string, { seq: number; data: Record<string, unknown> }>();
  for (const e of bundle.events) {
    if (typeof e.data !== "object" || e.data === null) continue;
    const data = e.data as Record<string, unknown>;
    if (e.action === "operation.proposed" && typeof data.operationId === "string")
      proposed.set(data.operationId, { seq: e.seq, digest: data.digest });
    if (e.action === "vote.cast" && typeof data.voteId === "string")
      cast.set(data.voteId, { seq: e.seq, data });
  }
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
 * Each voter token's registration, once per token: its attestationObject must attest the credential id and key
 * the votes were checked under (registration-check.ts). A token given with two different keys or registrations
 * in one bundle is a failure.
 */
function checkRegistrations(bundle: Bundle, pass: Record_, fail: Record_, options: VerifyOptions) {
  const extra = extraRoots(options.attestationRoots ?? []);
  if (extra.unreadable > 0)
    fail("registration", "attestation roots", `${extra.unreadable} of the roots you gave cannot be read`);
  const roots = [...shippedRoots(), ...extra.roots];
  const byId = new Map<string, Bundle["votes"][number]["credential"][]>();
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
    const result = checkRegistration(credential, bundle.webauthn, roots);
    (result.ok ? pass : fail)("registration", item, `member ${credential.memberId}: ${result.reason}`);
  }
}
