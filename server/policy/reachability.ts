// Which rules of a policy document the members as they are could never meet: a group with fewer eligible
// members holding a live token than the rule needs, a veto group with nobody, the policy.update rule itself
// unreachable. Pure (members are an argument; no database, no HSM, no clock), and it counts with quorum.ts's
// own matching (one person one vote across groups), so "reachable" means what judging the votes would mean.
import { DEFAULT_RULE_ID } from "./constants";
import { matchRule } from "./evaluate-policy";
import { approvalSets, type PolicyDocument, type Requirement, type Rule, type RuleBody } from "./schema";
import { approvingMembership, inGroup, missing, type Person, tallyFor } from "./quorum";
import { groupLabel, joinAnd, plural } from "./words";

export type EligibleMember = {
  id: string;
  name: string;
  roles: string[];
  groups: string[];
  active: boolean;
  liveTokens: number;
};

/** A rule nobody could ever approve (or veto) with the members as they are, and why, in words. */
export type Unreachable = { ruleId: string; reason: string };

/** The kind whose rule must stay reachable: otherwise the policy could never be changed again. */
export const POLICY_UPDATE_KIND = "policy.update";

/** Who could cast a vote that counts: active, with at least one live token. */
function eligiblePeople(members: readonly EligibleMember[]): Person[] {
  return members
    .filter((m) => m.active && m.liveTokens >= 1)
    .map((m) => ({
      voterId: m.id,
      name: m.name,
      against: false,
      againstAt: null,
      groups: new Set(m.groups),
      roles: new Set(m.roles),
    }))
    .sort((a, b) => (a.voterId < b.voterId ? -1 : a.voterId > b.voterId ? 1 : 0));
}

/**
 * Whose approvals count where, as server/operations/judgement.ts counts them (quorum.ts approvingMembership): an
 * approver in each of their groups, an admin without the approver role in "admins" only, anyone else nowhere. A
 * veto needs no role: any eligible member of the veto group.
 */
const approvingPeople = (people: readonly Person[]): Person[] =>
  people.flatMap((p) => {
    const m = approvingMembership({ roles: [...p.roles], groups: [...p.groups] });
    return m === null ? [] : [{ ...p, roles: new Set(m.roles), groups: new Set(m.groups) }];
  });

const approvals = (n: number, first: boolean) => (first ? plural(n, "approval", "approvals") : `${n}`);

/** "2 approvals from treasury and 1 from compliance". */
function needsInWords(set: readonly Requirement[]): string {
  return joinAnd(set.map((r, i) => `${approvals(r.approvals, i === 0)} from ${groupLabel(r.group)}`));
}

/** Why one set of groups cannot be met, or null when it can. */
function shortfall(set: readonly Requirement[], people: readonly Person[]): string | null {
  if (missing(tallyFor(people, set)) === 0) return null;
  const short = set.flatMap((r) => {
    const n = people.filter((p) => inGroup(p, r.group)).length;
    if (n >= r.approvals) return [];
    const g = groupLabel(r.group);
    return [
      n === 0
        ? `no eligible member of ${g} holds a live token`
        : `only ${plural(n, "eligible member", "eligible members")} of ${g} ${n === 1 ? "holds" : "hold"} a live token`,
    ];
  });
  if (short.length > 0) return `${needsInWords(set)}, but ${joinAnd(short)}`;
  // Every group has enough members on its own, but not enough different people for all of them together.
  const total = set.reduce((n, r) => n + r.approvals, 0);
  const filled = total - missing(tallyFor(people, set));
  return `${needsInWords(set)} from ${total} different people, but the eligible members holding a live token can give at most ${filled} of them (one person counts once, whatever groups they are in)`;
}

const ruleLabel = (id: string, isDefault: boolean) =>
  isDefault ? (id === DEFAULT_RULE_ID ? "the default rule" : `the default rule ${id}`) : `rule ${id}`;

/**
 * The rule a policy.update is judged under (evaluatePolicy's own first match): it carries no key tags or funds,
 * and only members (admins) propose it.
 */
const policyUpdateRuleId = (policy: PolicyDocument) =>
  matchRule(policy, { kind: POLICY_UPDATE_KIND, keyTags: [], initiator: "member" }).ruleId;

/**
 * Eligible, in the reasons, means what makes a vote count: an active member holding a live token, with the
 * approver role for approvals (the admin role for approvals in "admins"; any role for a veto).
 *
 * Every rule (the default included) that the members could never meet, in the order the rules are judged, one
 * entry per problem: no alternative of its approvals can be met by distinct eligible people, or its delay's veto
 * group has nobody eligible. Deny rules are never unreachable, except the one policy.update falls under: a
 * policy nobody can ever change again is refused too. [] means every rule is reachable.
 */
export function unreachableRules(policy: PolicyDocument, members: readonly EligibleMember[]): Unreachable[] {
  const people = eligiblePeople(members);
  const approvers = approvingPeople(people);
  const updateRuleId = policyUpdateRuleId(policy);
  const bodies: { id: string; isDefault: boolean; rule: Rule | RuleBody }[] = [
    ...policy.rules.map((rule) => ({ id: rule.id, isDefault: false, rule })),
    { id: policy.default.id ?? DEFAULT_RULE_ID, isDefault: true, rule: policy.default },
  ];
  const out: Unreachable[] = [];
  for (const { id, isDefault, rule } of bodies) {
    const label = ruleLabel(id, isDefault);
    const forUpdate = id === updateRuleId;
    if (rule.deny) {
      if (forUpdate)
        out.push({
          ruleId: id,
          reason: `the rule for ${POLICY_UPDATE_KIND} (${label}) always denies (${rule.reason}), so the policy could never be changed again`,
        });
      continue;
    }
    // An automatic rule asks nobody's approval: always reachable (its delay's veto group is checked below).
    const sets = approvalSets(rule);
    const reasons = sets.map((s) => shortfall(s, approvers));
    if (sets.length > 0 && reasons.every((r) => r !== null)) {
      const detail =
        reasons.length === 1 ? `needs ${reasons[0]}` : `can never be met: it needs ${reasons.join("; or ")}`;
      out.push({
        ruleId: id,
        reason: forUpdate
          ? `the rule for ${POLICY_UPDATE_KIND} (${label}) can never be met: it needs ${reasons.join("; or ")}`
          : `${label} ${detail}`,
      });
    }
    const veto = rule.delay?.vetoGroup;
    if (veto !== undefined && !people.some((p) => inGroup(p, veto))) {
      out.push({
        ruleId: id,
        reason: `the veto group ${groupLabel(veto)} of ${label} has nobody eligible (no active member holding a live token), so nobody could stop it during its delay`,
      });
    }
  }
  return out;
}
