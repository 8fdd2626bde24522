// The offline verifier over bundles built in memory (testing/memory-bundle.ts): an honest bundle verifies
// item by item, and every tampering an insider with the database and the HSM's PIN could try is caught and
// named — the item and the reason.
import { describe, expect, it } from "vitest";
import { entryCanonical, entryHash } from "../chain";
import { consistencyProof, rootOf } from "../log/merkle";
import { base64Encode } from "../log/note";
import { eventLeaf } from "../log/tree";
import type { Bundle, BundleV1 } from "./bundle";
import { eventCanonical, eventChainHash, eventLeafOf } from "./entry";
import {
  assertion,
  auditSigningKey,
  memoryLog,
  ORIGIN,
  signCheckpointNote,
  softToken,
} from "./testing/memory-bundle";
import { type VerifyReport, verifyBundle } from "./verify";
import { recomputeVoteChallenge } from "./vote-check";

const copy = <B extends Bundle | BundleV1>(b: B): B => structuredClone(b);
const failed = (r: VerifyReport) => r.failures.map((f) => `${f.item}: ${f.reason}`);

/** 40 events, checkpoints every 10; the period is events 3..27, proved to checkpoint 30. */
function honest() {
  return memoryLog({ size: 40, checkpointSizes: [2, 10, 20, 30, 40], fromSeq: 3, toSeq: 27 });
}

/** The same as a keyward-evidence/v1 bundle: each event with its own inclusion proof. */
function honestV1() {
  const log = honest();
  return { ...log, bundle: log.bundleV1() };
}

function eventAt<E extends { seq: number }>(b: { events: E[] }, seq: number): E {
  const e = b.events.find((x) => x.seq === seq);
  if (e === undefined) throw new Error(`no event ${seq}`);
  return e;
}

describe("verifyBundle", () => {
  it("accepts an honest bundle and reports every item it checked", () => {
    const { bundle, key } = honest();
    const report = verifyBundle(JSON.parse(JSON.stringify(bundle)), { verifierKey: key.vkey });
    expect(failed(report)).toEqual([]);
    expect(report.ok).toBe(true);
    const count = (kind: string) => report.checks.filter((c) => c.kind === kind && c.ok).length;
    expect(bundle.checkpoints.map((c) => c.size)).toEqual([2, 10, 20, 30]);
    expect(count("checkpoint")).toBe(4);
    expect(count("consistency")).toBe(3);
    expect(count("event")).toBe(25);
    expect(count("chain")).toBe(24);
    expect(count("vote")).toBe(2);
    expect(count("operation")).toBe(1);
    expect(count("policy")).toBe(1);
    expect(report.head?.size).toBe(30);
  });

  it("recomputes an event's leaf and chain hash exactly as chain.ts and log/tree.ts do", () => {
    const entries = [
      { seq: 1, at: "2026-12-03T12:00:00.000Z", actor: "system", action: "a.b", subject: "s", data: {} },
      {
        seq: 99,
        at: "2026-12-03T12:00:00.123Z",
        actor: "member:é",
        action: "vote.cast",
        subject: "operation:x",
        data: { z: [1, 2.5, -0, null, true], a: { "€": "Łódź ₿ ✓", b: "\u2028" }, n: 1e21 },
      },
    ];
    for (const e of entries) {
      expect(eventCanonical(e)).toBe(entryCanonical(e));
      expect(eventChainHash("ab".repeat(32), e)).toBe(entryHash("ab".repeat(32), e));
      expect(eventLeafOf(e)).toEqual(eventLeaf(e));
    }
  });

  it("reports a malformed bundle as one named failure and never throws", () => {
    for (const input of [
      null,
      7,
      "bundle",
      [],
      {},
      { format: "keyward-evidence/v2" },
      { format: "keyward-evidence/v1" },
      { format: "keyward-evidence/v3" },
      { ...honestV1().bundle, events: "x" },
    ]) {
      const report = verifyBundle(input);
      expect(report.ok).toBe(false);
      expect(report.failures).toHaveLength(1);
      expect(report.failures[0]?.item).toBe("bundle");
      expect(report.failures[0]?.reason).toMatch(/not a keyward-evidence\/v2 \(or v1\) bundle/);
    }
    const b = copy(honestV1().bundle);
    const e = eventAt(b, 4);
    e.inclusion.proof = ["not base64!"];
    e.data = { deep: { value: Number.NaN } };
    expect(() => verifyBundle(b)).not.toThrow();
    expect(verifyBundle(b).failures.map((f) => f.item)).toContain("event 4");
  });

  it("names an event whose data was changed", () => {
    const b = copy(honestV1().bundle);
    eventAt(b, 17).data = { n: 1700 };
    const r = verifyBundle(b);
    expect(r.ok).toBe(false);
    expect(r.failures.map((f) => f.item)).toEqual(["event 17"]);
    expect(r.failures[0]?.reason).toMatch(/its data does not give the leaf the inclusion proof proves/);
    expect(r.failures[0]?.reason).toMatch(/its hash is not SHA-256/);
  });

  it("names an event whose data was changed and its own hash recomputed (the chain to the next breaks)", () => {
    const b = copy(honestV1().bundle);
    const e = eventAt(b, 17);
    e.data = { n: 1700 };
    e.hash = entryHash(e.prevHash, e);
    const r = verifyBundle(b);
    expect(r.failures.map((f) => f.item)).toEqual(["event 17", "chain 17→18"]);
    expect(r.failures[0]?.reason).toMatch(/inclusion proof/);
  });

  it("names two events moved in the bundle, and two events whose places were swapped", () => {
    const moved = copy(honestV1().bundle);
    const i = moved.events.findIndex((e) => e.seq === 10);
    const [a, b] = [moved.events[i], moved.events[i + 1]];
    if (a === undefined || b === undefined) throw new Error("events");
    moved.events[i] = b;
    moved.events[i + 1] = a;
    expect(failed(verifyBundle(moved))).toEqual([
      "events 9→11: event 10 is missing from the period",
      "events 11, 10: out of order: the events must be in seq order",
      "events 10→12: event 11 is missing from the period",
    ]);

    const renumbered = copy(honestV1().bundle);
    const x = eventAt(renumbered, 10);
    const y = eventAt(renumbered, 11);
    [x.seq, y.seq] = [y.seq, x.seq];
    renumbered.events.sort((p, q) => p.seq - q.seq);
    const items = verifyBundle(renumbered).failures.map((f) => f.item);
    expect(items).toEqual(expect.arrayContaining(["event 10", "event 11"]));
  });

  it("names a deleted event", () => {
    const b = copy(honestV1().bundle);
    b.events = b.events.filter((e) => e.seq !== 17);
    expect(failed(verifyBundle(b))).toEqual(["events 16→18: event 17 is missing from the period"]);
  });

  it("names a period cut at either end, also when the exporter moves the edge along", () => {
    const { bundle } = honestV1();
    const cutStart = copy(bundle);
    cutStart.events = cutStart.events.filter((e) => e.seq !== 3);
    expect(failed(verifyBundle(cutStart))).toEqual([
      "period start: event 2 is not the one before the period's first event 4",
    ]);
    const [dropped] = bundle.events;
    if (dropped === undefined) throw new Error("event");
    cutStart.edges.before = dropped;
    expect(failed(verifyBundle(cutStart))).toEqual([
      `period start: event 3 was logged at ${dropped.at}, within the period: the period's start was cut`,
    ]);
    cutStart.edges.before = null;
    expect(failed(verifyBundle(cutStart))).toEqual([
      "period start: the bundle does not show event 3, the one before the period's first",
    ]);

    const cutEnd = copy(bundle);
    const last = cutEnd.events.pop();
    if (last === undefined) throw new Error("event");
    expect(failed(verifyBundle(cutEnd))).toEqual([
      "period end: event 28 is not the one after the period's last event 26",
    ]);
    cutEnd.edges.after = last;
    expect(failed(verifyBundle(cutEnd))).toEqual([
      `period end: event 27 was logged at ${last.at}, within the period: the period's end was cut`,
    ]);
    cutEnd.edges.after = null;
    expect(failed(verifyBundle(cutEnd))).toEqual([
      "period end: the bundle does not show event 27, the one after the period's last",
    ]);
    const count = verifyBundle(bundle).checks.filter((c) => c.kind === "period" && c.ok);
    expect(count.map((c) => c.item)).toEqual(["period start", "period end"]);
  });

  it("names a vote whose decision was flipped, also with its challenge recomputed", () => {
    const { bundle } = honest();
    const b = copy(bundle);
    const vote = b.votes[0];
    if (vote === undefined) throw new Error("vote");
    vote.decision = "reject";
    const r = verifyBundle(b);
    expect(r.failures.map((f) => f.item)).toEqual([
      `vote on operation ${vote.operationId} by ${vote.voterId}`,
    ]);
    expect(r.failures[0]?.reason).toMatch(
      /its challenge is not SHA-256 of the operation digest, decision "reject"/,
    );
    expect(r.failures[0]?.reason).toMatch(/event 6 \(vote\.cast\) records approve/);

    const digest = b.operations[0]?.digest ?? "";
    vote.challenge = recomputeVoteChallenge({ ...vote, digest });
    const again = verifyBundle(b);
    expect(again.failures).toHaveLength(1);
    expect(again.failures[0]?.reason).toMatch(/the token signed another challenge than the vote's/);
  });

  it("names a vote whose approver's credential key was swapped", () => {
    const b = copy(honest().bundle);
    const vote = b.votes[1];
    if (vote === undefined) throw new Error("vote");
    vote.credential.publicKey = softToken(vote.voterId).cose;
    const r = verifyBundle(b);
    expect(failed(r)).toEqual([
      `vote on operation ${vote.operationId} by ${vote.voterId}: its signature does not verify under the credential's public key`,
    ]);
  });

  it("names a vote made without user verification, on another origin or relying party, or by another's token", () => {
    const { bundle, tokens } = honest();
    const [ann, bob] = tokens;
    if (ann === undefined || bob === undefined) throw new Error("tokens");
    const reasonsWith = (change: (b: Bundle) => void) => {
      const b = copy(bundle);
      change(b);
      return verifyBundle(b).failures.map((f) => `${f.item}: ${f.reason}`);
    };
    const first = (b: Bundle) => {
      const v = b.votes[0];
      if (v === undefined) throw new Error("vote");
      return v;
    };
    const item = `vote on operation ${bundle.votes[0]?.operationId} by ${bundle.votes[0]?.voterId}`;
    expect(
      reasonsWith((b) => {
        first(b).assertion = assertion(ann, first(b).challenge, { flags: 0x01 });
      }),
    ).toEqual([`${item}: the token did not report user verification`]);
    expect(
      reasonsWith((b) => {
        first(b).assertion = assertion(ann, first(b).challenge, { origin: "https://evil.example" });
      }),
    ).toEqual([`${item}: it was made on origin https://evil.example, not http://localhost:3000`]);
    expect(
      reasonsWith((b) => {
        b.webauthn.rpId = "keyward.example";
      }).map((r) => r.replace(/^vote on operation \S+ by \S+: /, "")),
    ).toEqual([
      "its authenticatorData is for another relying party than keyward.example",
      "its authenticatorData is for another relying party than keyward.example",
    ]);
    // Bob's token signs Ann's vote: the credential given is Bob's, who is not the voter.
    expect(
      reasonsWith((b) => {
        const v = first(b);
        v.assertion = assertion(bob, v.challenge);
        v.credential = { id: bob.id, memberId: bob.memberId, publicKey: bob.cose };
      }),
    ).toEqual([
      `${item}: its token belongs to another member; event 6 (vote.cast) records approve by ${ann.memberId} with token ${ann.id} on ${bundle.votes[0]?.operationId}`,
    ]);
  });

  it("names an operation whose payload was changed, and every vote bound to its digest", () => {
    const b = copy(honest().bundle);
    const op = b.operations[0];
    if (op === undefined) throw new Error("op");
    op.payload = { asset: "BTC", amount: "9150000", to: "bc1qattacker" };
    const r = verifyBundle(b);
    expect(r.failures.map((f) => f.item)).toEqual([
      `operation ${op.id}`,
      ...b.votes.map((v) => `vote on operation ${op.id} by ${v.voterId}`),
    ]);
    expect(r.failures[0]?.reason).toMatch(/its content gives digest [0-9a-f]{64}, not/);
  });

  it("names a vote left out while the log records it, and a vote the log does not record", () => {
    const b = copy(honest().bundle);
    const [kept, dropped] = b.votes;
    if (kept === undefined || dropped === undefined) throw new Error("votes");
    b.votes = [kept];
    expect(failed(verifyBundle(b))).toEqual([
      `vote ${dropped.id}: event 7 (vote.cast) records it, but the bundle leaves it out`,
    ]);
    const c = copy(honest().bundle);
    c.events = c.events.filter((e) => e.action !== "vote.cast");
    // Without the vote.cast events the period also has a gap: both are named.
    const items = failed(verifyBundle(c));
    expect(items).toContain("events 5→8: events 6-7 are missing from the period");
    expect(items.filter((i) => i.endsWith("no vote.cast event of the bundle records it"))).toHaveLength(2);
  });

  it("names a forged checkpoint signed by another key under the log's name", () => {
    const { bundle, leaves } = honest();
    const b = copy(bundle);
    const forger = auditSigningKey(ORIGIN);
    const c = b.checkpoints[2];
    if (c === undefined) throw new Error("checkpoint");
    c.note = signCheckpointNote(forger, { size: 20, rootHash: rootOf(leaves.slice(0, 20)), extensions: [] });
    const r = verifyBundle(b);
    expect(r.failures[0]?.item).toBe("checkpoint 20");
    expect(r.failures[0]?.reason).toMatch(/^signature does not verify under the audit key/);
    expect(r.failures.map((f) => f.item)).toEqual([
      "checkpoint 20",
      "consistency 10→20",
      "consistency 20→30",
    ]);
  });

  it("catches a bundle re-signed whole by another key only against the published key or a kept checkpoint", () => {
    const real = honest();
    const forged = memoryLog({ size: 40, checkpointSizes: [2, 10, 20, 30, 40], fromSeq: 3, toSeq: 27 });
    expect(verifyBundle(forged.bundle).ok).toBe(true); // self-consistent: that is all a bundle alone can show
    expect(failed(verifyBundle(forged.bundle, { verifierKey: real.key.vkey }))[0]).toMatch(
      /^audit key: the bundle's audit key .* is not the one you trust/,
    );
    const kept = real.bundle.checkpoints[1]?.note ?? "";
    expect(failed(verifyBundle(forged.bundle, { trustedCheckpoint: kept }))).toEqual([
      expect.stringMatching(/^trusted checkpoint: it does not verify under the bundle's audit key/),
    ]);
  });

  it("catches a truncated log with a new history re-signed by the audit key, given a checkpoint kept before", () => {
    // The regulator kept checkpoint 30 of the real log. The operator then truncates to 25 events, writes other
    // events 26.., and has the HSM sign the new tree heads (the same audit key).
    const real = memoryLog({ size: 40, checkpointSizes: [10, 20, 30, 40], fromSeq: 11, toSeq: 40 });
    const kept = real.bundle.checkpoints.find((c) => c.size === 30)?.note ?? "";
    const rewrite = (checkpointSizes: number[]) =>
      memoryLog({ size: 45, checkpointSizes, fromSeq: 11, toSeq: 45, key: real.key, rewriteFrom: 26 }).bundle;
    const sameSizes = rewrite([10, 20, 30, 45]);
    expect(failed(verifyBundle(sameSizes))).toEqual([]); // alone, a new history signed by the audit key verifies
    expect(failed(verifyBundle(sameSizes, { trustedCheckpoint: kept }))).toEqual([
      "trusted checkpoint 30: the bundle's checkpoint 30 has another root than the one you kept: the log was rewritten",
    ]);
    expect(failed(verifyBundle(rewrite([10, 20, 35, 45]), { trustedCheckpoint: kept }))).toEqual([
      "trusted checkpoint 30: the bundle leaves it out, though it lies between its checkpoints 10 and 45: a checkpoint was dropped",
    ]);

    const shorter = memoryLog({
      size: 25,
      checkpointSizes: [10, 20, 25],
      fromSeq: 11,
      toSeq: 25,
      key: real.key,
    });
    expect(verifyBundle(shorter.bundle).ok).toBe(true);
    expect(failed(verifyBundle(shorter.bundle, { trustedCheckpoint: kept }))).toEqual([
      "trusted checkpoint 30: the log you saw had 30 events; this bundle's newest checkpoint has 25: the log was truncated, or ask for a newer bundle",
    ]);

    expect(failed(verifyBundle(real.bundle, { trustedCheckpoint: kept }))).toEqual([]);
    const older = memoryLog({
      size: 40,
      checkpointSizes: [5, 10, 20, 30, 40],
      fromSeq: 25,
      toSeq: 40,
      key: real.key,
    });
    expect(
      failed(verifyBundle(older.bundle, { trustedCheckpoint: older.bundle.checkpoints[0]?.note ?? "" })),
    ).toEqual([]);
    const first = memoryLog({
      size: 40,
      checkpointSizes: [5, 10, 20, 30, 40],
      fromSeq: 1,
      toSeq: 40,
      key: real.key,
    });
    expect(
      failed(verifyBundle(older.bundle, { trustedCheckpoint: first.bundle.checkpoints[0]?.note ?? "" })),
    ).toEqual([
      "trusted checkpoint 5: it is older than the bundle's first checkpoint 20: the bundle cannot prove it extends it; export with it kept (a proof from 5), or a period that begins before event 5",
    ]);
  });

  it("checks a checkpoint kept from before the bundle through the proof the export adds for it", () => {
    const log = memoryLog({ size: 40, checkpointSizes: [5, 10, 20, 30, 40], fromSeq: 25, toSeq: 40 });
    const kept = signCheckpointNote(log.key, {
      size: 5,
      rootHash: rootOf(log.leaves.slice(0, 5)),
      extensions: [],
    });
    const b = copy(log.bundle);
    b.keptConsistency = [{ from: 5, to: 20, proof: consistencyProof(log.leaves, 5, 20).map(base64Encode) }];
    expect(failed(verifyBundle(b, { trustedCheckpoint: kept }))).toEqual([]);
    expect(verifyBundle(b, { trustedCheckpoint: kept }).checks.filter((c) => c.kind === "trusted")).toEqual([
      expect.objectContaining({ ok: true, item: "trusted checkpoint 5" }),
    ]);
    // The regulator kept checkpoint 5 of another history (signed by the same audit key): refused.
    const other = memoryLog({
      size: 5,
      checkpointSizes: [5],
      fromSeq: 1,
      toSeq: 5,
      key: log.key,
      rewriteFrom: 2,
    });
    expect(failed(verifyBundle(b, { trustedCheckpoint: other.bundle.checkpoints[0]?.note ?? "" }))).toEqual([
      expect.stringMatching(
        /^trusted checkpoint 5: the bundle's checkpoint 20 does not extend the one you kept: the log was rewritten/,
      ),
    ]);
  });

  it("names a dropped checkpoint: the proofs that named it, the pair left without one, and a kept copy", () => {
    const { bundle, leaves } = honest();
    const b = copy(bundle);
    const dropped = b.checkpoints.splice(2, 1)[0];
    expect(failed(verifyBundle(b))).toEqual([
      "consistency 10→20: checkpoint 20 is not in the bundle",
      "consistency 20→30: checkpoint 20 is not in the bundle",
      "consistency 10→30: the bundle has no proof between these consecutive checkpoints",
    ]);
    // An exporter who also replaces the proofs leaves a self-consistent bundle; the checkpoint kept shows it.
    const c = copy(b);
    c.consistency = [
      { from: 2, to: 10, proof: consistencyProof(leaves, 2, 10).map(base64Encode) },
      { from: 10, to: 30, proof: consistencyProof(leaves, 10, 30).map(base64Encode) },
    ];
    expect(failed(verifyBundle(c))).toEqual([]);
    expect(failed(verifyBundle(c, { trustedCheckpoint: dropped?.note ?? "" }))).toEqual([
      "trusted checkpoint 20: the bundle leaves it out, though it lies between its checkpoints 2 and 30: a checkpoint was dropped",
    ]);
  });

  it("names a consistency proof between a checkpoint and one of another history, both signed by the audit key", () => {
    const real = honest();
    const other = memoryLog({
      size: 40,
      checkpointSizes: [2, 10, 20, 30, 40],
      fromSeq: 3,
      toSeq: 27,
      key: real.key,
      rewriteFrom: 15,
    });
    const b = copy(real.bundle);
    // Checkpoint 30 and the proof 20→30 from the rewritten log: each signature verifies, the link does not.
    const c30 = other.bundle.checkpoints.find((c) => c.size === 30);
    const p2030 = other.bundle.consistency.find((p) => p.from === 20);
    b.checkpoints = b.checkpoints.map((c) => (c.size === 30 && c30 ? c30 : c));
    b.consistency = b.consistency.map((p) => (p.from === 20 && p2030 ? p2030 : p));
    const r = verifyBundle(b);
    const items = r.failures.map((f) => f.item);
    expect(items[0]).toBe("consistency 20→30");
    expect(r.failures[0]?.reason).toMatch(
      /^the log was not only appended to: Merkle proof refused: the proof does not lead to the old root \(size 20\)/,
    );
    // The period's events were proved to the real checkpoint 30, not this one: their range proof is named too.
    expect(items).toContain("inclusion of events 3-27");
    const flipped = copy(real.bundle);
    const proof = flipped.consistency[1]?.proof;
    if (proof) proof[0] = base64Encode(new Uint8Array(32).fill(7));
    expect(failed(verifyBundle(flipped))).toEqual([
      expect.stringMatching(/^consistency 10→20: the log was not only appended to/),
    ]);
  });

  it("names checkpoints out of order", () => {
    const b = copy(honest().bundle);
    const [c0, c1, ...rest] = b.checkpoints;
    if (c0 === undefined || c1 === undefined) throw new Error("checkpoints");
    b.checkpoints = [c1, c0, ...rest];
    expect(failed(verifyBundle(b))[0]).toBe("checkpoint 2: out of order: it follows checkpoint 10");
  });

  it("names an altered inclusion proof, a broken chain link and a checkpoint whose size was changed", () => {
    const b = copy(honestV1().bundle);
    const e = eventAt(b, 12);
    e.inclusion.proof[0] = base64Encode(new Uint8Array(32));
    eventAt(b, 20).prevHash = "0".repeat(64);
    const c = b.checkpoints[0];
    if (c !== undefined) c.size = 3;
    const r = verifyBundle(b);
    expect(r.failures.map((f) => f.item)).toEqual([
      "checkpoint 3",
      "consistency 2→10",
      "consistency 3→10",
      "event 12",
      "event 20",
      "chain 19→20",
    ]);
    expect(r.failures.map((f) => f.reason)).toEqual([
      "its signed note is of size 2",
      "checkpoint 2 is not in the bundle",
      "the bundle has no proof between these consecutive checkpoints",
      expect.stringMatching(/^its data does not give the leaf the inclusion proof proves to checkpoint 30/),
      "its hash is not SHA-256 of its previous hash and its content",
      "event 20's previous hash is not event 19's hash",
    ]);
  });
});
