// Properties of diffPolicies over generated documents: every rule of either version appears once, in the new
// order with the removed ones among them; a document against itself is all unchanged; swapping the versions swaps
// added and removed; "moved" only when content is equal and the place among common rules changed.
import { fc, test } from "@fast-check/vitest";
import canonicalize from "canonicalize";
import { describe, expect } from "vitest";
import { diffPolicies } from "./diff";
import type { PolicyDocument } from "./document";
import { policy } from "./testing/arbitraries";

const RUNS = { numRuns: 300 };
/**
 * Two documents whose rule ids collide: the generator names rules rule-<i>, so two documents share ids with other
 * contents (changed); or the second holds some of the first's rules shuffled (moved, removed, unchanged).
 */
const pair: fc.Arbitrary<[PolicyDocument, PolicyDocument]> = fc
  .tuple(policy, policy, fc.boolean())
  .chain(([a, b, shuffle]) =>
    (shuffle ? fc.shuffledSubarray(a.rules, { minLength: 0 }) : fc.constant(b.rules)).map(
      (rules): [PolicyDocument, PolicyDocument] => [a, { ...b, rules }],
    ),
  );

describe("diffPolicies properties", () => {
  test.prop([pair], RUNS)(
    "every rule of either version appears exactly once, new ones in the new order",
    ([a, b]) => {
      const d = diffPolicies(a, b);
      const ids = d.rules.map((r) => r.ruleId);
      expect(new Set(ids).size).toBe(ids.length);
      expect(new Set(ids)).toEqual(new Set([...a.rules, ...b.rules].map((r) => r.id)));
      expect(d.rules.filter((r) => r.change !== "removed").map((r) => r.ruleId)).toEqual(
        b.rules.map((r) => r.id),
      );
      for (const r of d.rules) {
        expect(r.before === null).toBe(r.change === "added");
        expect(r.after === null).toBe(r.change === "removed");
      }
    },
  );

  test.prop([policy], RUNS)("a document against itself: every rule unchanged, nothing else", (a) => {
    const d = diffPolicies(a, structuredClone(a));
    expect(d.rules.every((r) => r.change === "unchanged")).toBe(true);
    expect(d.other).toEqual([]);
  });

  test.prop([pair], RUNS)("swapping the versions swaps added and removed", ([a, b]) => {
    const forward = new Map(diffPolicies(a, b).rules.map((r) => [r.ruleId, r.change]));
    const back = new Map(diffPolicies(b, a).rules.map((r) => [r.ruleId, r.change]));
    for (const [id, change] of forward) {
      if (change === "added") expect(back.get(id)).toBe("removed");
      if (change === "removed") expect(back.get(id)).toBe("added");
      if (change === "changed") expect(back.get(id)).toBe("changed");
    }
  });

  test.prop([pair], RUNS)("unchanged and moved rules are equal in both; changed ones differ", ([a, b]) => {
    const was = new Map(a.rules.map((r) => [r.id, canonicalize(r)]));
    for (const r of diffPolicies(a, b).rules) {
      const now = b.rules.find((x) => x.id === r.ruleId);
      if (r.change === "unchanged" || r.change === "moved") expect(canonicalize(now)).toBe(was.get(r.ruleId));
      if (r.change === "changed") expect(canonicalize(now)).not.toBe(was.get(r.ruleId));
    }
  });

  test.prop([pair], RUNS)(
    "rules reported unchanged keep their relative order (else they are moved)",
    ([a, b]) => {
      const stayed = diffPolicies(a, b)
        .rules.filter((r) => r.change === "unchanged")
        .map((r) => r.position.before ?? -1);
      expect(stayed).toEqual([...stayed].sort((x, y) => x - y));
    },
  );

  test.prop([policy.chain((a) => fc.tuple(fc.constant(a), fc.subarray(a.rules)))], RUNS)(
    "dropping rules without reordering moves nothing: the rest is unchanged, the dropped removed",
    ([a, kept]) => {
      const d = diffPolicies(a, { ...a, rules: kept });
      const keptIds = new Set(kept.map((r) => r.id));
      for (const r of d.rules) expect(r.change).toBe(keptIds.has(r.ruleId) ? "unchanged" : "removed");
      expect(d.rules.map((r) => r.ruleId)).toEqual(a.rules.map((r) => r.id));
    },
  );
});
