// Properties of unreachableRules over generated documents (every clause, alternatives, delays with a veto group)
// and member lists: monotone in the members, agreeing with a brute-force assignment, order-independent.
import { fc, test } from "@fast-check/vitest";
import { describe, expect } from "vitest";
import { DEFAULT_RULE_ID, type PolicyDocument, type Requirement } from "./document";
import { type EligibleMember, unreachableRules } from "./reachability";
import { policy, VETO_GROUP } from "./testing/arbitraries";

const RUNS = { numRuns: 300 };

const memberOf = (id: string) =>
  fc.record({
    id: fc.constant(id),
    name: fc.constant(id.toUpperCase()),
    roles: fc.subarray(["approver", "admin", "operator"]),
    groups: fc.subarray(["treasury", "compliance", "executives", VETO_GROUP]),
    active: fc.oneof(
      { weight: 4, arbitrary: fc.constant(true) },
      { weight: 1, arbitrary: fc.constant(false) },
    ),
    liveTokens: fc.oneof(
      { weight: 4, arbitrary: fc.integer({ min: 1, max: 2 }) },
      { weight: 1, arbitrary: fc.constant(0) },
    ),
  });
const members = fc
  .integer({ min: 0, max: 6 })
  .chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => memberOf(`m${i}`))));

const bodies = (p: PolicyDocument) => [
  ...p.rules.map((r) => ({ id: r.id, rule: r })),
  { id: p.default.id ?? DEFAULT_RULE_ID, rule: p.default },
];
const counts = (us: { ruleId: string }[]) => {
  const m = new Map<string, number>();
  for (const u of us) m.set(u.ruleId, (m.get(u.ruleId) ?? 0) + 1);
  return m;
};
const isVeto = (reason: string) => reason.startsWith("the veto group");

/**
 * Brute force, no shared code with quorum.ts: try every way of giving each person one group or none. Where a
 * member counts, written out: "approvers" the approver role, "admins" the admin role, any other group its
 * members holding the approver role.
 */
function canMeet(set: readonly Requirement[], people: readonly EligibleMember[]): boolean {
  const has = (m: EligibleMember, g: string) =>
    g === "approvers"
      ? m.roles.includes("approver")
      : g === "admins"
        ? m.roles.includes("admin")
        : m.roles.includes("approver") && m.groups.includes(g);
  const go = (i: number, left: number[]): boolean => {
    if (left.every((n) => n <= 0)) return true;
    const m = people[i];
    if (!m) return false;
    if (go(i + 1, left)) return true;
    return set.some((r, j) => {
      if (!has(m, r.group) || (left[j] ?? 0) <= 0) return false;
      return go(
        i + 1,
        left.map((n, k) => (k === j ? n - 1 : n)),
      );
    });
  };
  return go(
    0,
    set.map((r) => r.approvals),
  );
}

describe("unreachableRules properties", () => {
  test.prop([policy, members, memberOf("extra")], RUNS)(
    "adding an eligible member never makes a reachable rule unreachable",
    (p, ms, extra) => {
      const before = counts(unreachableRules(p, ms));
      const after = counts(unreachableRules(p, [...ms, { ...extra, active: true, liveTokens: 1 }]));
      for (const [id, n] of after) expect(n).toBeLessThanOrEqual(before.get(id) ?? 0);
    },
  );

  test.prop([policy], RUNS)(
    "with nobody, every rule that asks for approvals is unreachable, and no automatic rule",
    (p) => {
      const ids = new Set(
        unreachableRules(p, [])
          .filter((u) => !isVeto(u.reason))
          .map((u) => u.ruleId),
      );
      for (const { id, rule } of bodies(p)) if (!rule.deny) expect(ids.has(id)).toBe(!rule.automatic);
    },
  );

  test.prop([policy, members], RUNS)(
    "a rule's approvals are reported exactly when no assignment of distinct eligible people meets any alternative",
    (p, ms) => {
      const eligible = ms.filter((m) => m.active && m.liveTokens > 0);
      const reported = new Set(
        unreachableRules(p, ms)
          .filter((u) => !isVeto(u.reason))
          .map((u) => u.ruleId),
      );
      for (const { id, rule } of bodies(p)) {
        if (rule.deny) continue;
        const reachable =
          rule.automatic || [rule.require, ...(rule.alternatives ?? [])].some((s) => canMeet(s, eligible));
        expect(reported.has(id)).toBe(!reachable);
      }
    },
  );

  test.prop([policy, members], RUNS)(
    "a veto group is reported exactly when nobody eligible is in it",
    (p, ms) => {
      const vetoed = new Set(
        unreachableRules(p, ms)
          .filter((u) => isVeto(u.reason))
          .map((u) => u.ruleId),
      );
      const someone = ms.some((m) => m.active && m.liveTokens > 0 && m.groups.includes(VETO_GROUP));
      for (const { id, rule } of bodies(p))
        expect(vetoed.has(id)).toBe(!rule.deny && rule.delay !== undefined && !someone);
    },
  );

  test.prop([policy, members, fc.array(memberOf("idle"), { maxLength: 2 })], RUNS)(
    "inactive members and members without a live token change nothing",
    (p, ms, idle) => {
      const without = idle.map((m, i) => ({
        ...m,
        id: `idle${i}`,
        liveTokens: i % 2 ? m.liveTokens : 0,
        active: i % 2 === 0,
      }));
      expect(unreachableRules(p, [...ms, ...without])).toEqual(unreachableRules(p, ms));
    },
  );

  test.prop(
    [
      policy,
      members.chain((ms) => fc.tuple(fc.constant(ms), fc.shuffledSubarray(ms, { minLength: ms.length }))),
    ],
    RUNS,
  )("the order of the members does not matter", (p, [ms, shuffled]) => {
    expect(unreachableRules(p, shuffled)).toEqual(unreachableRules(p, ms));
  });

  test.prop([policy, members], RUNS)(
    "deny rules are reported only when policy.update falls under them",
    (p, ms) => {
      const out = unreachableRules(p, ms);
      for (const { id, rule } of bodies(p)) {
        if (!rule.deny) continue;
        for (const u of out.filter((x) => x.ruleId === id))
          expect(u.reason).toMatch(/^the rule for policy\.update/);
      }
    },
  );
});
