// keyward-evidence/v2: one range proof for the period's events (log/merkle.ts RangeVerifier), and the stream
// verifier the CLI reads a file through. Every change to the events (content, order, one left out or added)
// and every edit of the range proof is named; the stream gives verifyBundle's report, for v1 bundles too.
import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { entryCanonical, entryHash } from "../chain";
import { base64Encode } from "../log/note";
import type { Bundle } from "./bundle";
import { eventCanonical } from "./entry";
import { memoryLog } from "./testing/memory-bundle";
import { type Check, createStreamVerifier, type VerifyReport, verifyBundle } from "./verify";

const failed = (r: VerifyReport) => r.failures.map((f) => `${f.item}: ${f.reason}`);
const items = (r: VerifyReport) => r.failures.map((f) => f.item);
const copy = (b: Bundle): Bundle => structuredClone(b);
const nodeSha = (d: Uint8Array) => new Uint8Array(createHash("sha256").update(d).digest());

/** 40 events, checkpoints every 10; the period is events 3..27, proved to checkpoint 30. */
const honest = () => memoryLog({ size: 40, checkpointSizes: [2, 10, 20, 30, 40], fromSeq: 3, toSeq: 27 });
const RANGE = "inclusion of events 3-27";

function eventAt(b: Bundle, seq: number) {
  const e = b.events.find((x) => x.seq === seq);
  if (e === undefined) throw new Error(`no event ${seq}`);
  return e;
}

function streamed(input: unknown, o: Parameters<typeof createStreamVerifier>[1] = {}): VerifyReport {
  const { events, ...header } = input as { events: unknown[] };
  const v = createStreamVerifier(header, o);
  for (const e of events) v.event(JSON.parse(JSON.stringify(e)));
  return v.finish();
}

describe("keyward-evidence/v2", () => {
  it("verifies an honest bundle: each event's hash, one range proof for all, the edges", () => {
    const { bundle, key } = honest();
    expect(bundle.format).toBe("keyward-evidence/v2");
    expect(bundle.inclusion?.size).toBe(30);
    const r = verifyBundle(JSON.parse(JSON.stringify(bundle)), { verifierKey: key.vkey });
    expect(failed(r)).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.counts?.event).toEqual({ passed: 25, failed: 0 });
    expect(r.counts?.chain).toEqual({ passed: 24, failed: 0 });
    expect(r.counts?.inclusion).toEqual({ passed: 1, failed: 0 });
    expect(r.checks.find((c) => c.item === RANGE)?.reason).toBe(
      "all 25 events, their leaves recomputed from their content, are positions 3-27 of checkpoint 30",
    );
    expect(r.checks.find((c) => c.item === "event 17")?.reason).toBe(
      "its content gives its hash; its leaf is position 17 of the range proved to checkpoint 30",
    );
    // Periods at the log's start, at a checkpoint's end, and of one event.
    for (const o of [
      { size: 40, checkpointSizes: [40], fromSeq: 1, toSeq: 39 },
      { size: 40, checkpointSizes: [17, 40], fromSeq: 5, toSeq: 40 },
      { size: 33, checkpointSizes: [33], fromSeq: 9, toSeq: 9 },
    ])
      expect(failed(verifyBundle(memoryLog(o).bundle))).toEqual([]);
  });

  it("names an event whose content was changed, also with its own hash recomputed", () => {
    const b = copy(honest().bundle);
    eventAt(b, 17).data = { n: 1700 };
    const r = verifyBundle(b);
    expect(failed(r)).toEqual([
      "event 17: its hash is not SHA-256 of its previous hash and its content",
      expect.stringMatching(
        /^inclusion of events 3-27: the events' leaves, recomputed from their content, with the range proof do not give the root of checkpoint 30: an event was changed, left out, added or moved/,
      ),
    ]);
    const rehashed = copy(honest().bundle);
    const e = eventAt(rehashed, 17);
    e.data = { n: 1700 };
    e.hash = entryHash(e.prevHash, e);
    expect(items(verifyBundle(rehashed))).toEqual(["chain 17→18", RANGE]);
  });

  it("names an event left out, two swapped, one added, and the whole chain rehashed", () => {
    const dropped = copy(honest().bundle);
    dropped.events = dropped.events.filter((e) => e.seq !== 17);
    expect(items(verifyBundle(dropped))).toEqual(["events 16→18", RANGE]);

    const swapped = copy(honest().bundle);
    const i = swapped.events.findIndex((e) => e.seq === 10);
    const [a, b] = [swapped.events[i], swapped.events[i + 1]];
    if (a === undefined || b === undefined) throw new Error("events");
    swapped.events[i] = b;
    swapped.events[i + 1] = a;
    expect(items(verifyBundle(swapped))).toEqual(["events 9→11", "events 11, 10", "events 10→12", RANGE]);

    const added = copy(honest().bundle);
    const twin = { ...eventAt(added, 12) };
    added.events.splice(12, 0, twin);
    expect(items(verifyBundle(added))).toContain(RANGE);

    // An insider rewrites event 17 and rehashes the chain after it: every link holds, the tree does not.
    const rewritten = copy(honest().bundle);
    let prev = "";
    for (const e of rewritten.events) {
      if (e.seq === 17) e.data = { n: 1700 };
      if (e.seq >= 17) {
        if (e.seq > 17) e.prevHash = prev;
        e.hash = entryHash(e.prevHash, e);
      }
      prev = e.hash;
    }
    if (rewritten.edges.after) rewritten.edges.after.prevHash = prev;
    expect(items(verifyBundle(rewritten))).toEqual([RANGE, "period end"]);
  });

  it("names an edited range proof: a changed, missing or extra subtree, another checkpoint, no proof", () => {
    const { bundle } = honest();
    const left = copy(bundle);
    if (left.inclusion) left.inclusion.left[0] = base64Encode(new Uint8Array(32));
    expect(failed(verifyBundle(left))).toEqual([
      expect.stringMatching(
        /^inclusion of events 3-27: the events' leaves.* do not give the root of checkpoint 30/,
      ),
    ]);
    const right = copy(bundle);
    if (right.inclusion) right.inclusion.right[0] = base64Encode(new Uint8Array(32).fill(1));
    expect(items(verifyBundle(right))).toEqual([RANGE]);
    const short = copy(bundle);
    short.inclusion?.right.pop();
    expect(failed(verifyBundle(short))).toEqual([
      expect.stringMatching(/right of leaf 27; \d+ are needed for a tree of 30/),
    ]);
    const long = copy(bundle);
    long.inclusion?.left.push(base64Encode(new Uint8Array(32)));
    expect(failed(verifyBundle(long))).toEqual([
      expect.stringMatching(
        /^inclusion of events 3-27: cannot be checked: .*subtrees left of leaf 2; 1 are needed/,
      ),
    ]);
    const junk = copy(bundle);
    if (junk.inclusion) junk.inclusion.left[0] = "not base64!";
    expect(items(verifyBundle(junk))).toEqual([RANGE]);
    const elsewhere = copy(bundle);
    if (elsewhere.inclusion) elsewhere.inclusion.size = 40;
    expect(failed(verifyBundle(elsewhere))).toEqual([
      `${RANGE}: the range proof is to checkpoint 40, which the bundle does not hold verified`,
    ]);
    const none = copy(bundle);
    none.inclusion = null;
    expect(failed(verifyBundle(none))).toEqual([`${RANGE}: the bundle has events but no range proof`]);
    // A v1 bundle's events relabelled v2 (each still carrying its proof) verifies only through the range proof.
    const v1 = honest().bundleV1();
    expect(verifyBundle({ ...v1, format: "keyward-evidence/v2", inclusion: null }).ok).toBe(false);
  });

  it("the stream verifier gives verifyBundle's report, for v2 and v1, honest or not, with any SHA-256", () => {
    const log = honest();
    const tampered = copy(log.bundle);
    eventAt(tampered, 17).data = { n: 1700 };
    const v1 = log.bundleV1();
    const v1Tampered = structuredClone(v1);
    const e = v1Tampered.events.find((x) => x.seq === 9);
    if (e) e.data = { n: 900 };
    for (const input of [log.bundle, tampered, v1, v1Tampered]) {
      const whole = verifyBundle(input);
      expect(streamed(input)).toEqual(whole);
      expect(streamed(input, { sha256: nodeSha })).toEqual(whole);
      expect(verifyBundle(input, { sha256: nodeSha })).toEqual(whole);
    }
    expect(verifyBundle(v1Tampered).failures.map((f) => f.item)).toEqual(["event 9"]);
  });

  it("with onCheck, hands over every check and keeps only the failures; a malformed event is the one failure", () => {
    const b = copy(honest().bundle);
    eventAt(b, 17).data = { n: 1700 };
    const seen: Check[] = [];
    const r = streamed(b, { onCheck: (c) => seen.push(c) });
    const whole = verifyBundle(b);
    expect(seen).toEqual(whole.checks);
    expect(r.checks).toEqual(whole.failures);
    expect(r.failures).toEqual(whole.failures);
    expect(r.counts).toEqual(whole.counts);

    const bad = copy(honest().bundle);
    (eventAt(bad, 5) as { seq: unknown }).seq = "5";
    const report = streamed(bad);
    expect(failed(report)).toEqual([
      expect.stringMatching(/^bundle: not a keyward-evidence\/v2 \(or v1\) bundle: events\.2\.seq: /),
    ]);
    expect(failed(verifyBundle(bad))).toEqual(failed(report));
    expect(failed(streamed({ format: "nope", events: [] }))).toEqual([
      expect.stringMatching(/^bundle: not a keyward-evidence\/v2 \(or v1\) bundle: format: /),
    ]);
  });

  it("writes an event's canonical JSON as chain.ts does, for any strings and data", () => {
    const json = fc.jsonValue();
    fc.assert(
      fc.property(
        fc.record({
          seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
          at: fc.string({ unit: "grapheme" }),
          actor: fc.string({ unit: "binary" }),
          action: fc.string(),
          subject: fc.string({ unit: "grapheme-composite" }),
          data: json,
        }),
        (e) => {
          expect(eventCanonical(e)).toBe(entryCanonical(e));
        },
      ),
      { numRuns: 500 },
    );
  });
});
