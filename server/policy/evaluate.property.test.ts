// Properties of evaluate() over thousands of random documents, operations and votes. fast-check is not
// installed (and may not be, this session), so cases come from the seeded generator in testing/random.ts;
// a failure names its seed, and `seedCase(seed)` rebuilds the very case.
import { describe, expect, it } from "vitest";
import { DEFAULT_RULE_ID, type PolicyDocument, policyDigest, policyDocumentSchema } from "./document";
import { type EvaluateInput, evaluate, type VoteInput } from "./evaluate";
import {
  GROUPS,
  INITIATOR,
  prng,
  type Rng,
  randomOperation,
  randomPolicy,
  randomVote,
  randomVotes,
  shuffleKeys,
} from "./testing/random";

const RUNS = 2_000;
const now = new Date("2026-12-01T12:00:00Z");

function seedCase(seed: number): { r: Rng; input: EvaluateInput } {
  const r = prng(seed);
  const policy = randomPolicy(r);
  return { r, input: { operation: randomOperation(r), votes: randomVotes(r), policy, now } };
}

/** Runs `check` on RUNS seeded cases; a failing case reports its seed so it can be replayed. */
function forAll(name: string, check: (c: { r: Rng; input: EvaluateInput }) => void) {
  it(name, () => {
    for (let seed = 1; seed <= RUNS; seed++) {
      try {
        check(seedCase(seed));
      } catch (e) {
        throw new Error(`seed ${seed}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  });
}

/** The first-match rule written again the plainest way, to compare against. */
function referenceRuleId(policy: PolicyDocument, kind: string, keyTags: string[]): string {
  for (const rule of policy.rules) {
    const kindOk = rule.match.kinds === undefined || rule.match.kinds.includes(kind);
    const tagsOk = (rule.match.keyTags ?? []).every((t) => keyTags.includes(t));
    if (kindOk && tagsOk) return rule.id;
  }
  return policy.default.id ?? DEFAULT_RULE_ID;
}

/** Whether some assignment of approving people to one group each meets every requirement (brute force). */
function bruteForceMet(input: EvaluateInput, require: { group: string; approvals: number }[]): boolean {
  const people = input.votes
    .filter((v) => v.eligible && v.decision === "approve" && v.voterId !== input.operation.initiatorId)
    .map((v) =>
      require
        .map((r) => r.group)
        .filter((g) => (g === "approvers" ? v.roles.includes("approver") : v.groups.includes(g))),
    );
  const need = new Map(require.map((r) => [r.group, r.approvals]));
  const go = (i: number): boolean => {
    if ([...need.values()].every((n) => n <= 0)) return true;
    if (i >= people.length) return false;
    for (const g of people[i] ?? []) {
      const n = need.get(g) ?? 0;
      if (n <= 0) continue;
      need.set(g, n - 1);
      const ok = go(i + 1);
      need.set(g, n);
      if (ok) return true;
    }
    return go(i + 1);
  };
  return go(0);
}

const stronger: Record<string, number> = { denied: 0, rejected: 0, pending: 1, approved: 2 };

describe("evaluate, over random documents, operations and votes", () => {
  forAll("every generated document is valid (the generator tests what the schema admits)", ({ input }) => {
    expect(policyDocumentSchema.safeParse(input.policy).success).toBe(true);
  });

  forAll("is deterministic: equal input, equal answer, at any time", ({ input }) => {
    const a = evaluate(input);
    expect(evaluate(structuredClone(input))).toEqual(a);
    expect(evaluate({ ...input, now: new Date(now.getTime() + 86_400_000 * 3) })).toEqual(a);
  });

  forAll("does not depend on the order of the votes", ({ r, input }) => {
    expect(evaluate({ ...input, votes: r.shuffle(input.votes) })).toEqual(evaluate(input));
  });

  forAll("first match wins, else the default", ({ input }) => {
    const { kind, keyTags } = input.operation;
    expect(evaluate(input).ruleId).toBe(referenceRuleId(input.policy, kind, keyTags));
  });

  forAll(
    "adding an approval never turns approved or pending into denied or rejected, nor approved into pending",
    ({ r, input }) => {
      const before = evaluate(input);
      const fresh: VoteInput = { ...randomVote(r, `new-${r.int(0, 9)}`), decision: "approve" };
      const after = evaluate({ ...input, votes: [...input.votes, fresh] });
      expect(after.ruleId).toBe(before.ruleId);
      if (before.decision === "approved" || before.decision === "pending") {
        expect(["approved", "pending"]).toContain(after.decision);
        expect(stronger[after.decision]).toBeGreaterThanOrEqual(stronger[before.decision] ?? 0);
      } else {
        expect(after.decision).toBe(before.decision);
      }
    },
  );

  forAll("a vote of an ineligible person, or of the initiator, changes nothing", ({ r, input }) => {
    const before = evaluate(input);
    const ineligible = { ...randomVote(r, `new-${r.int(0, 9)}`), eligible: false };
    const initiator = { ...randomVote(r, INITIATOR), roles: ["approver"], groups: [...GROUPS] };
    const withoutInitiator = input.votes.filter((v) => v.voterId !== INITIATOR);
    expect(evaluate({ ...input, votes: [...input.votes, ineligible] })).toEqual(before);
    expect(evaluate({ ...input, votes: [...withoutInitiator, initiator] })).toEqual(
      evaluate({ ...input, votes: withoutInitiator }),
    );
  });

  forAll(
    "one person counts once: repeating a vote changes nothing, nobody is counted for two groups",
    ({ r, input }) => {
      const before = evaluate(input);
      const again = input.votes.length ? [r.pick(input.votes)] : [];
      expect(evaluate({ ...input, votes: [...input.votes, ...again] })).toEqual(before);
      const counted = before.tally.flatMap((t) => t.voterIds);
      expect(new Set(counted).size).toBe(counted.length);
      expect(counted).not.toContain(INITIATOR);
      for (const t of before.tally) expect(t.approvals).toBeLessThanOrEqual(t.needed);
    },
  );

  forAll(
    "approved exactly when some one-group-per-person assignment meets every group (brute force)",
    ({ input }) => {
      const result = evaluate(input);
      const rule = input.policy.rules.find((x) => x.id === result.ruleId) ?? input.policy.default;
      if (rule.deny) return expect(result.decision).toBe("denied");
      if (rule.automatic) throw new Error("testing/random.ts writes no automatic rules");
      const met = bruteForceMet(input, rule.require);
      if (result.decision === "rejected") return;
      expect(result.decision).toBe(met ? "approved" : "pending");
    },
  );

  forAll(
    "rejected exactly when enough counted people reject (eligible, not the initiator, in a rule's group)",
    ({ input }) => {
      const result = evaluate(input);
      const rule = input.policy.rules.find((x) => x.id === result.ruleId) ?? input.policy.default;
      if (rule.deny) return;
      if (rule.automatic) throw new Error("testing/random.ts writes no automatic rules");
      const groups = rule.require.map((x) => x.group);
      const rejecters = input.votes.filter(
        (v) =>
          v.eligible &&
          v.decision === "reject" &&
          v.voterId !== input.operation.initiatorId &&
          groups.some((g) => (g === "approvers" ? v.roles.includes("approver") : v.groups.includes(g))),
      );
      expect(result.rejections.count).toBe(rejecters.length);
      expect(result.decision === "rejected").toBe(rejecters.length >= (rule.rejections ?? 1));
    },
  );

  forAll("the default always exists: without it the document is refused", ({ input }) => {
    const { default: _, ...withoutDefault } = input.policy;
    expect(policyDocumentSchema.safeParse(withoutDefault).success).toBe(false);
  });

  forAll("the digest ignores key order and survives a JSON round trip", ({ r, input }) => {
    const d = policyDigest(input.policy);
    expect(policyDigest(shuffleKeys(r, input.policy) as PolicyDocument)).toBe(d);
    expect(policyDigest(JSON.parse(JSON.stringify(input.policy)))).toBe(d);
  });
});
