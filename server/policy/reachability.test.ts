// reachability.ts: each way a rule becomes unreachable, in words, and what never makes one so.
import { describe, expect, it } from "vitest";
import type { PolicyDocument, Rule } from "./document";
import { type EligibleMember, unreachableRules } from "./reachability";

const member = (id: string, groups: string[], extra: Partial<EligibleMember> = {}): EligibleMember => ({
  id,
  name: id,
  roles: ["approver"],
  groups,
  active: true,
  liveTokens: 1,
  ...extra,
});

const rule = (id: string, body: Partial<Rule> & Pick<Rule, "match">): Rule =>
  ({ id, description: "", require: [{ group: "treasury", approvals: 2 }], ...body }) as Rule;

const doc = (
  rules: Rule[],
  def: PolicyDocument["default"] = { require: [{ group: "approvers", approvals: 1 }] },
) => ({ version: 1, rules, default: def }) as PolicyDocument;

const bigBtc = rule("big-btc", { match: { kinds: ["withdrawal"] } });

describe("unreachableRules", () => {
  it("is empty when every rule can be met", () => {
    expect(unreachableRules(doc([bigBtc]), [member("a", ["treasury"]), member("b", ["treasury"])])).toEqual(
      [],
    );
  });

  it("names the group that has fewer eligible members holding a live token than the rule needs", () => {
    expect(unreachableRules(doc([bigBtc]), [member("a", ["treasury"])])).toEqual([
      {
        ruleId: "big-btc",
        reason:
          "rule big-btc needs 2 approvals from treasury, but only 1 eligible member of treasury holds a live token",
      },
    ]);
    expect(unreachableRules(doc([bigBtc]), [member("a", ["compliance"])])[0]?.reason).toBe(
      "rule big-btc needs 2 approvals from treasury, but no eligible member of treasury holds a live token",
    );
  });

  it("counts only active members holding at least one live token", () => {
    const a = member("a", ["treasury"]);
    expect(unreachableRules(doc([bigBtc]), [a, member("b", ["treasury"], { active: false })])).toHaveLength(
      1,
    );
    expect(unreachableRules(doc([bigBtc]), [a, member("b", ["treasury"], { liveTokens: 0 })])).toHaveLength(
      1,
    );
    expect(unreachableRules(doc([bigBtc]), [a, member("b", ["treasury"], { liveTokens: 3 })])).toEqual([]);
  });

  it("counts approvals only from approvers, and vetoes from any eligible member of the veto group", () => {
    const delayed = rule("big-btc", {
      match: { kinds: ["withdrawal"] },
      delay: { hours: 24, vetoGroup: "security" },
    });
    const operatorInTreasury = member("o", ["treasury"], { roles: ["operator"] });
    const securityOperator = member("s", ["security"], { roles: ["operator"] });
    expect(
      unreachableRules(doc([delayed]), [member("a", ["treasury"]), operatorInTreasury, securityOperator]),
    ).toEqual([
      {
        ruleId: "big-btc",
        reason:
          "rule big-btc needs 2 approvals from treasury, but only 1 eligible member of treasury holds a live token",
      },
    ]);
  });

  it("needs distinct people across the groups of a rule, one person one vote", () => {
    const both = rule("both", {
      match: { kinds: ["withdrawal"] },
      require: [
        { group: "treasury", approvals: 2 },
        { group: "compliance", approvals: 1 },
      ],
    });
    const alice = member("alice", ["treasury", "compliance"]);
    const bob = member("bob", ["treasury"]);
    expect(unreachableRules(doc([both]), [alice, bob])).toEqual([
      {
        ruleId: "both",
        reason:
          "rule both needs 2 approvals from treasury and 1 from compliance from 3 different people, but the eligible members holding a live token can give at most 2 of them (one person counts once, whatever groups they are in)",
      },
    ]);
    expect(unreachableRules(doc([both]), [alice, bob, member("carol", ["compliance"])])).toEqual([]);
  });

  it("is reachable when any alternative is, and lists every alternative when none is", () => {
    const tiers = rule("tiers", {
      match: { kinds: ["withdrawal"] },
      require: [
        { group: "treasury", approvals: 2 },
        { group: "compliance", approvals: 1 },
      ],
      alternatives: [[{ group: "executives", approvals: 3 }]],
    });
    const execs = ["x", "y", "z"].map((id) => member(id, ["executives"]));
    expect(unreachableRules(doc([tiers]), execs)).toEqual([]);
    expect(unreachableRules(doc([tiers]), [member("t", ["treasury"]), ...execs.slice(1)])).toEqual([
      {
        ruleId: "tiers",
        reason:
          "rule tiers can never be met: it needs 2 approvals from treasury and 1 from compliance, but only 1 eligible member of treasury holds a live token and no eligible member of compliance holds a live token; or 3 approvals from executives, but only 2 eligible members of executives hold a live token",
      },
    ]);
  });

  it("refuses a delay whose veto group has nobody eligible", () => {
    const delayed = rule("big-btc", {
      match: { kinds: ["withdrawal"] },
      delay: { hours: 24, vetoGroup: "security" },
    });
    const treasury = [member("a", ["treasury"]), member("b", ["treasury"])];
    expect(
      unreachableRules(doc([delayed]), [...treasury, member("s", ["security"], { liveTokens: 0 })]),
    ).toEqual([
      {
        ruleId: "big-btc",
        reason:
          "the veto group security of rule big-btc has nobody eligible (no active member holding a live token), so nobody could stop it during its delay",
      },
    ]);
    expect(unreachableRules(doc([delayed]), [...treasury, member("s", ["security"])])).toEqual([]);
  });

  it("reports both problems of one rule", () => {
    const delayed = rule("big-btc", {
      match: { kinds: ["withdrawal"] },
      delay: { hours: 24, vetoGroup: "security" },
    });
    expect(unreachableRules(doc([delayed]), [member("a", ["treasury"])]).map((u) => u.ruleId)).toEqual([
      "big-btc",
      "big-btc",
    ]);
  });

  it("reads approvers as the role, not a member list of that name", () => {
    const update = rule("update", {
      match: { kinds: ["policy.update"] },
      require: [{ group: "approvers", approvals: 1 }],
    });
    const d = doc([update], { require: [{ group: "approvers", approvals: 2 }] });
    const listed = member("l", ["approvers"], { roles: [] });
    expect(unreachableRules(d, [member("a", []), listed])).toEqual([
      {
        ruleId: "default",
        reason:
          "the default rule needs 2 approvals from the approvers, but only 1 eligible member of the approvers holds a live token",
      },
    ]);
    expect(unreachableRules(d, [member("a", []), member("b", [])])).toEqual([]);
  });

  it("never reports a deny rule other than the one policy.update falls under", () => {
    const noEth = {
      id: "no-eth",
      description: "",
      match: { chains: ["ethereum"] },
      deny: true,
      reason: "not yet",
    } as Rule;
    expect(unreachableRules(doc([noEth]), [member("a", [])])).toEqual([]);
  });

  it("refuses a policy whose policy.update rule can never be met or always denies", () => {
    const governance = rule("governance", {
      match: { kinds: ["policy.update"] },
      require: [{ group: "governors", approvals: 2 }],
    });
    const everyone = [member("a", ["governors"]), member("b", [])];
    expect(unreachableRules(doc([governance]), everyone)).toEqual([
      {
        ruleId: "governance",
        reason:
          "the rule for policy.update (rule governance) can never be met: it needs 2 approvals from governors, but only 1 eligible member of governors holds a live token",
      },
    ]);
    const frozen = {
      id: "frozen",
      description: "",
      match: { kinds: ["policy.update"] },
      deny: true,
      reason: "no changes",
    } as Rule;
    expect(unreachableRules(doc([frozen]), everyone)).toEqual([
      {
        ruleId: "frozen",
        reason:
          "the rule for policy.update (rule frozen) always denies (no changes), so the policy could never be changed again",
      },
    ]);
  });

  it("finds the policy.update rule as evaluation does: a rule on key tags or funds never takes it", () => {
    const tagged = rule("tagged", { match: { kinds: ["policy.update"], keyTags: ["hot"] } });
    const d = doc([tagged], { require: [{ group: "approvers", approvals: 3 }] });
    const reasons = unreachableRules(d, [member("a", ["treasury"]), member("b", ["treasury"])]).map(
      (u) => u.reason,
    );
    expect(reasons).toEqual([
      "the rule for policy.update (the default rule) can never be met: it needs 3 approvals from the approvers, but only 2 eligible members of the approvers hold a live token",
    ]);
  });
});
