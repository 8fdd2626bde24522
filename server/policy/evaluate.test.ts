// evaluate() case by case: first match, deny, all groups, one person one vote, initiator and ineligible
// voters excluded, rejections, and the reasons in words. Properties over random inputs: evaluate.property.test.ts.
import { describe, expect, it } from "vitest";
import { DEFAULT_POLICY, type PolicyDocument } from "./document";
import { type EvaluateInput, evaluate, expiresAt, matchRule, type VoteInput } from "./evaluate";

const now = new Date("2026-12-01T12:00:00Z");
const op = (kind = "withdrawal", keyTags: string[] = []) => ({ kind, keyTags, initiatorId: "olga" });
const approver = (voterId: string, groups: string[] = [], extra: Partial<VoteInput> = {}): VoteInput => ({
  voterId,
  decision: "approve",
  groups,
  roles: ["approver"],
  eligible: true,
  ...extra,
});
const rejecter = (voterId: string, groups: string[] = [], extra: Partial<VoteInput> = {}) =>
  approver(voterId, groups, { decision: "reject", ...extra });

const policy: PolicyDocument = {
  version: 3,
  rules: [
    { id: "cold", description: "", match: { keyTags: ["cold"] }, deny: true, reason: "cold keys never sign" },
    {
      id: "hot-withdrawals",
      description: "",
      match: { kinds: ["withdrawal"], keyTags: ["hot"] },
      require: [
        { group: "treasury", approvals: 2 },
        { group: "compliance", approvals: 1 },
      ],
      expiresInHours: 24,
    },
    {
      id: "two-rejections",
      description: "",
      match: { kinds: ["key.suspend"] },
      require: [{ group: "security", approvals: 1 }],
      rejections: 2,
    },
    {
      id: "pair",
      description: "",
      match: { kinds: ["key.resume"] },
      require: [
        { group: "treasury", approvals: 1 },
        { group: "compliance", approvals: 1 },
      ],
    },
  ],
  default: { require: [{ group: "approvers", approvals: 2 }] },
};
const judge = (input: Partial<EvaluateInput>) =>
  evaluate({ operation: op(), votes: [], policy: DEFAULT_POLICY, now, ...input });

describe("the default policy: two approvals from the approvers", () => {
  it("is pending with no votes, and says how many are missing", () => {
    expect(judge({})).toEqual({
      decision: "pending",
      ruleId: "default",
      reasons: ["needs 2 more approvals from the approvers"],
      tally: [{ group: "approvers", needed: 2, approvals: 0, voterIds: [] }],
      rejections: { count: 0, needed: 1, voterIds: [] },
    });
  });
  it("is pending with one, approved with two", () => {
    expect(judge({ votes: [approver("ann")] }).reasons).toEqual(["needs 1 more approval from the approvers"]);
    const r = judge({ votes: [approver("ann"), approver("bob")] });
    expect(r.decision).toBe("approved");
    expect(r.reasons).toEqual(["approved: 2 of 2 from the approvers"]);
    expect(r.tally[0]?.voterIds).toEqual(["ann", "bob"]);
  });
  it("never counts the initiator's own approval, even when they are an approver", () => {
    const r = judge({ votes: [approver("olga"), approver("ann")] });
    expect(r.decision).toBe("pending");
    expect(r.tally[0]?.voterIds).toEqual(["ann"]);
  });
  it("never lets the initiator's own rejection end it", () => {
    expect(judge({ votes: [rejecter("olga")] }).decision).toBe("pending");
  });
  it("does not count an ineligible voter (suspended since, token revoked): neither approval nor rejection", () => {
    expect(judge({ votes: [approver("ann"), approver("bob", [], { eligible: false })] }).decision).toBe(
      "pending",
    );
    expect(judge({ votes: [rejecter("bob", [], { eligible: false })] }).decision).toBe("pending");
  });
  it("counts only holders of the approver role, not a member list that happens to be named approvers", () => {
    const votes = [approver("ann"), approver("bob", ["approvers"], { roles: ["operator"] })];
    expect(judge({ votes }).decision).toBe("pending");
  });
  it("counts one person once, whatever they hold or however often a caller lists them", () => {
    const votes = [approver("ann", ["treasury"]), approver("ann", ["compliance"]), approver("ann")];
    const r = judge({ votes });
    expect(r.decision).toBe("pending");
    expect(r.tally[0]).toMatchObject({ approvals: 1, voterIds: ["ann"] });
  });
  it("reads one person listed twice narrowly: ineligible if any entry is, a rejection if any entry rejects", () => {
    expect(
      judge({ votes: [approver("ann"), approver("ann", [], { eligible: false }), approver("bob")] }).decision,
    ).toBe("pending");
    expect(judge({ votes: [approver("ann"), rejecter("ann"), approver("bob")] }).decision).toBe("rejected");
    expect(judge({ votes: [rejecter("ann"), approver("ann"), approver("bob")] }).decision).toBe("rejected");
    const ineligibleFirst = [approver("ann", [], { eligible: false }), approver("ann"), approver("bob")];
    expect(judge({ votes: ineligibleFirst }).decision).toBe("pending");
  });
});

describe("groups: all required, each approval from a different person", () => {
  const hotOp = op("withdrawal", ["hot", "eth"]);
  const run = (votes: VoteInput[]) => evaluate({ operation: hotOp, votes, policy, now });

  it("says which group is short, in words", () => {
    const r = run([approver("tom", ["treasury"]), approver("tim", ["treasury"])]);
    expect(r).toMatchObject({ decision: "pending", ruleId: "hot-withdrawals" });
    expect(r.reasons).toEqual(["needs 1 more approval from compliance"]);
  });
  it("lists every short group", () => {
    expect(run([approver("tom", ["treasury"])]).reasons).toEqual([
      "needs 1 more approval from treasury",
      "needs 1 more approval from compliance",
    ]);
  });
  it("approves when every group is met, and says so", () => {
    const r = run([
      approver("tom", ["treasury"]),
      approver("tim", ["treasury"]),
      approver("cat", ["compliance"]),
    ]);
    expect(r.decision).toBe("approved");
    expect(r.reasons).toEqual(["approved: 2 of 2 from treasury and 1 of 1 from compliance"]);
    expect(r.tally).toEqual([
      { group: "treasury", needed: 2, approvals: 2, voterIds: ["tim", "tom"] },
      { group: "compliance", needed: 1, approvals: 1, voterIds: ["cat"] },
    ]);
  });
  it("does not count a member of both groups twice (2 treasury + 1 compliance needs three people)", () => {
    const r = run([approver("ann", ["treasury", "compliance"]), approver("tom", ["treasury"])]);
    expect(r.decision).toBe("pending");
    expect(r.tally.flatMap((t) => t.voterIds).sort()).toEqual(["ann", "tom"]);
    expect(r.reasons).toHaveLength(1);
  });
  it("finds the assignment that works when a first-come one would not (Kuhn's augmenting path)", () => {
    // ann (both groups) sorts first and would take treasury; bob (treasury only) then frees her for compliance.
    const votes = [approver("ann", ["treasury", "compliance"]), approver("bob", ["treasury"])];
    const r = evaluate({ operation: op("key.resume"), votes, policy, now });
    expect(r.decision).toBe("approved");
    expect(r.tally).toEqual([
      { group: "treasury", needed: 1, approvals: 1, voterIds: ["bob"] },
      { group: "compliance", needed: 1, approvals: 1, voterIds: ["ann"] },
    ]);
  });
  it("ignores approvals of people in none of the rule's groups", () => {
    const r = run([
      approver("tom", ["treasury"]),
      approver("tim", ["treasury"]),
      approver("sam", ["security"]),
    ]);
    expect(r.decision).toBe("pending");
  });
  it("does not let a group member without the approver role count via the approvers group", () => {
    const votes = [
      approver("ann", ["treasury"], { roles: ["auditor"] }),
      approver("bob", [], { roles: ["admin"] }),
    ];
    expect(judge({ votes }).tally[0]?.approvals).toBe(0);
  });
});

describe("rejections", () => {
  it("one rejection from a counted person ends it, naming them", () => {
    const r = judge({ votes: [approver("ann"), rejecter("bob", [], { name: "Bob Jones" })] });
    expect(r).toMatchObject({ decision: "rejected", reasons: ["rejected by Bob Jones"] });
    expect(r.rejections).toEqual({ count: 1, needed: 1, voterIds: ["bob"] });
  });
  it("wins over approvals that meet the rule (restricting is never outvoted)", () => {
    expect(judge({ votes: [approver("ann"), approver("bob"), rejecter("cid")] }).decision).toBe("rejected");
  });
  it("needs as many as the rule says, and says how many more would end it", () => {
    const suspend = op("key.suspend");
    const one = evaluate({ operation: suspend, votes: [rejecter("sam", ["security"])], policy, now });
    expect(one.decision).toBe("pending");
    expect(one.reasons).toEqual([
      "needs 1 more approval from security",
      "rejected by sam; 1 more rejection ends it",
    ]);
    const votes = [rejecter("sam", ["security"]), rejecter("sue", ["security"], { name: "Sue" })];
    const two = evaluate({ operation: suspend, votes, policy, now });
    expect(two).toMatchObject({
      decision: "rejected",
      ruleId: "two-rejections",
      reasons: ["rejected by sam and Sue"],
    });
  });
  it("does not count a rejection from someone outside the rule's groups", () => {
    const votes = [rejecter("ann", ["compliance"])];
    expect(evaluate({ operation: op("key.suspend"), votes, policy, now }).decision).toBe("pending");
  });
  it("treats a decision that is neither approve nor reject as a rejection, never as an approval", () => {
    const odd = { ...approver("ann"), decision: "maybe" } as unknown as VoteInput;
    expect(judge({ votes: [odd, approver("bob")] }).decision).toBe("rejected");
  });
});

describe("which rule: first match wins, else the default", () => {
  it.each<[string, string[], string]>([
    ["withdrawal", ["hot"], "hot-withdrawals"],
    ["withdrawal", ["eth", "hot"], "hot-withdrawals"],
    ["withdrawal", ["eth"], "default"],
    ["key.create", ["hot"], "default"],
    ["withdrawal", ["hot", "cold"], "cold"],
    ["key.create", ["cold"], "cold"],
    ["key.suspend", [], "two-rejections"],
  ])("%s tagged %j → %s", (kind, keyTags, ruleId) => {
    expect(matchRule(policy, { kind, keyTags }).ruleId).toBe(ruleId);
    expect(evaluate({ operation: op(kind, keyTags), votes: [], policy, now }).ruleId).toBe(ruleId);
  });
  it("a rule with several key tags needs all of them on the operation", () => {
    const doc: PolicyDocument = {
      ...policy,
      rules: [{ id: "both", description: "", match: { keyTags: ["hot", "eth"] }, deny: true, reason: "no" }],
    };
    expect(matchRule(doc, { kind: "withdrawal", keyTags: ["hot"] }).ruleId).toBe("default");
    expect(matchRule(doc, { kind: "withdrawal", keyTags: ["eth", "x", "hot"] }).ruleId).toBe("both");
  });
  it("uses the default's own id when it has one", () => {
    const doc: PolicyDocument = { ...policy, default: { ...policy.default, id: "everything-else" } };
    expect(matchRule(doc, op("key.create")).ruleId).toBe("everything-else");
  });
});

describe("deny", () => {
  it("denies with the rule's reason, whatever the votes", () => {
    const votes = [
      approver("ann", ["treasury", "compliance"]),
      approver("bob", ["treasury"]),
      approver("cid"),
    ];
    expect(evaluate({ operation: op("withdrawal", ["cold"]), votes, policy, now })).toEqual({
      decision: "denied",
      ruleId: "cold",
      reasons: ["denied: cold keys never sign"],
      tally: [],
      rejections: { count: 0, needed: 0, voterIds: [] },
    });
  });
  it("a deny default denies every operation no rule matches", () => {
    const doc: PolicyDocument = { version: 1, rules: [], default: { deny: true, reason: "frozen" } };
    expect(
      evaluate({ operation: op(), votes: [approver("a"), approver("b")], policy: doc, now }),
    ).toMatchObject({
      decision: "denied",
      ruleId: "default",
      reasons: ["denied: frozen"],
    });
  });
});

describe("input", () => {
  it("refuses to judge under an invalid document (one read back from storage is re-checked)", () => {
    const broken = { ...policy, default: { require: [] } } as unknown as PolicyDocument;
    expect(() => evaluate({ operation: op(), votes: [], policy: broken, now })).toThrow();
  });
  it("gives the same answer at any time today: no rule reads the clock yet", () => {
    const votes = [approver("ann"), approver("bob")];
    const a = evaluate({ operation: op(), votes, policy, now });
    expect(evaluate({ operation: op(), votes, policy, now: new Date(0) })).toEqual(a);
  });
  it("does not change its input", () => {
    const votes = [approver("bob", ["treasury"]), approver("ann", ["treasury", "compliance"])];
    const before = structuredClone(votes);
    evaluate({ operation: op("withdrawal", ["hot"]), votes, policy, now });
    expect(votes).toEqual(before);
  });
});

describe("expiresAt", () => {
  const created = new Date("2026-12-01T00:00:00Z");
  it("is 48 h after creation by default", () => {
    expect(expiresAt(DEFAULT_POLICY.default, created).toISOString()).toBe("2026-12-03T00:00:00.000Z");
    expect(expiresAt(policy.default, created).toISOString()).toBe("2026-12-03T00:00:00.000Z");
  });
  it("follows the rule's expiresInHours", () => {
    expect(expiresAt(matchRule(policy, op("withdrawal", ["hot"])).rule, created).toISOString()).toBe(
      "2026-12-02T00:00:00.000Z",
    );
  });
  it("gives a deny rule the default (nothing waits under it, but callers need not special-case it)", () => {
    expect(expiresAt(matchRule(policy, op("withdrawal", ["cold"])).rule, created).getTime()).toBe(
      created.getTime() + 48 * 3_600_000,
    );
  });
});
