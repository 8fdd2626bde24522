// The role group "admins" (issue 13's gap): where a rule names it, everyone holding the admin role approves
// there, approver or not; an admin without the approver role approves nowhere else. Judging, reachability and
// words agree, through quorum.ts's approvingMembership.
import { describe, expect, it } from "vitest";
import { ROLE_GROUPS } from "./constants";
import { describeRule } from "./describe";
import type { PolicyDocument, Rule } from "./document";
import { evaluatePolicy, type VoteInput } from "./evaluate";
import { approvingMembership, mayApprove } from "./quorum";
import { type EligibleMember, unreachableRules } from "./reachability";

const policyChanges = {
  id: "policy-changes",
  description: "",
  match: { kinds: ["policy.update"] },
  require: [{ group: "admins", approvals: 2 }],
} as Rule;
const doc: PolicyDocument = {
  version: 1,
  rules: [policyChanges],
  default: { require: [{ group: "treasury", approvals: 1 }] },
};
const member = (id: string, roles: string[], groups: string[] = []): EligibleMember => ({
  id,
  name: id,
  roles,
  groups,
  active: true,
  liveTokens: 1,
});
/** A vote as operations/judgement.ts passes it: through approvingMembership. */
const vote = (voterId: string, roles: string[], groups: string[] = []): VoteInput => {
  const m = approvingMembership({ roles, groups });
  return {
    voterId,
    decision: "approve",
    roles: m?.roles ?? roles,
    groups: m?.groups ?? [],
    eligible: m !== null,
  };
};
const judge = (kind: string, votes: VoteInput[]) =>
  evaluatePolicy({
    operation: { kind, keyTags: [], initiatorId: "ada" },
    votes,
    policy: doc,
    now: new Date("2026-12-02T12:00:00Z"),
    history: [],
  });

describe("the admins role group", () => {
  it("is a role group, next to approvers", () => {
    expect(ROLE_GROUPS).toEqual({ approvers: "approver", admins: "admin" });
  });

  it("approves where a rule names it, from admins without the approver role; the proposing admin never counts", () => {
    const e = judge("policy.update", [vote("ada", ["admin"]), vote("ben", ["admin"]), vote("cy", ["admin"])]);
    expect(e).toMatchObject({
      decision: "approved",
      tally: [{ group: "admins", needed: 2, approvals: 2, voterIds: ["ben", "cy"] }],
      reasons: ["approved: 2 of 2 from the admins"],
    });
    expect(judge("policy.update", [vote("ben", ["admin"]), vote("tom", ["approver"])]).decision).toBe(
      "pending",
    );
  });

  it("an admin without the approver role counts nowhere else, not even in a group they are in", () => {
    expect(approvingMembership({ roles: ["admin"], groups: ["treasury"] })).toEqual({
      roles: ["admin"],
      groups: [],
    });
    expect(judge("key.create", [vote("ben", ["admin"], ["treasury"])])).toMatchObject({
      decision: "pending",
      reasons: ["needs 1 more approval from treasury"],
    });
    expect(judge("key.create", [vote("tom", ["approver", "admin"], ["treasury"])]).decision).toBe("approved");
    expect(approvingMembership({ roles: ["operator", "auditor"], groups: ["treasury"] })).toBeNull();
  });

  it("may vote: an approver always, an admin only where the rule names the admins", () => {
    expect(mayApprove(["approver"], ["treasury"])).toBe(true);
    expect(mayApprove(["admin"], ["admins"])).toBe(true);
    expect(mayApprove(["admin"], ["treasury", "approvers"])).toBe(false);
    expect(mayApprove(["operator"], ["admins"])).toBe(false);
  });

  it("is reachable with two admins holding a token, and counts them only there", () => {
    const admins = [member("ada", ["admin"]), member("ben", ["admin"], ["treasury"])];
    expect(unreachableRules(doc, [...admins, member("tom", ["approver"], ["treasury"])])).toEqual([]);
    // Ben is in treasury but not an approver: the default rule still has nobody.
    expect(unreachableRules(doc, admins)).toEqual([
      {
        ruleId: "default",
        reason:
          "the default rule needs 1 approval from treasury, but no eligible member of treasury holds a live token",
      },
    ]);
    expect(
      unreachableRules(doc, [member("ada", ["admin"]), member("tom", ["approver"], ["treasury"])]),
    ).toEqual([
      {
        ruleId: "policy-changes",
        reason:
          "the rule for policy.update (rule policy-changes) can never be met: it needs 2 approvals from the admins, but only 1 eligible member of the admins holds a live token",
      },
    ]);
  });

  it("reads as the admins in words", () => {
    expect(describeRule(policyChanges)).toBe(
      "Policy changes: 2 approvals from the admins; expires after 48 h",
    );
  });
});
