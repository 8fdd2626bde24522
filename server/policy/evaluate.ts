// Judges an operation under a policy document: which rule applies and whether its votes meet it, in words.
// Pure and deterministic: the same input gives the same answer, whatever the order of the votes. It never reads
// the clock (now is an argument), the database or the HSM; callers count under their lock and act on the answer.
import { DEFAULT_EXPIRES_IN_HOURS, DEFAULT_REJECTIONS, DEFAULT_RULE_ID, ROLE_GROUPS } from "./constants";
import { matches, type PolicyDocument, policyDocumentSchema, type Rule, type RuleBody } from "./document";

/** initiatorId is null for an operation Keyward proposed itself (a due rotation): every approver may vote. */
export type OperationFacts = { kind: string; keyTags: string[]; initiatorId: string | null };

export type VoteInput = {
  voterId: string;
  decision: "approve" | "reject";
  /** The voter's approver groups now (not when they voted). */
  groups: string[];
  /** The voter's roles now; "approver" puts them in the group "approvers". */
  roles: string[];
  /** Whether the vote may count at all (member active, token live, ...): decided by the caller. */
  eligible: boolean;
  /** Shown in reasons ("rejected by Alice"); the voter id when absent. */
  name?: string;
};

export type EvaluateInput = {
  operation: OperationFacts;
  votes: VoteInput[];
  policy: PolicyDocument;
  /** Not read by any rule yet; time windows and delays (issue 13) judge against it. */
  now: Date;
};

export type TallyEntry = {
  group: string;
  needed: number;
  /** Approvals counted for this group, at most `needed`: each person is counted for one group only. */
  approvals: number;
  /** Who those approvals came from, by voter id, sorted. */
  voterIds: string[];
};

export type Decision = "approved" | "pending" | "rejected" | "denied";

export type Evaluation = {
  decision: Decision;
  ruleId: string;
  reasons: string[];
  tally: TallyEntry[];
  /** Distinct counted rejections and how many end the operation (0 needed for a deny rule). */
  rejections: { count: number; needed: number; voterIds: string[] };
};

export type MatchedRule = { ruleId: string; rule: Rule | RuleBody; isDefault: boolean };

/** The first rule whose match holds for the operation, else the default. */
export function matchRule(
  policy: PolicyDocument,
  operation: Pick<OperationFacts, "kind" | "keyTags">,
): MatchedRule {
  for (const rule of policy.rules) {
    if (matches(rule.match, operation)) return { ruleId: rule.id, rule, isDefault: false };
  }
  return { ruleId: policy.default.id ?? DEFAULT_RULE_ID, rule: policy.default, isDefault: true };
}

/** When an operation judged under `rule` and created at `createdAt` expires (default 48 h). */
export function expiresAt(rule: Rule | RuleBody, createdAt: Date): Date {
  const hours = (!rule.deny && rule.expiresInHours) || DEFAULT_EXPIRES_IN_HOURS;
  return new Date(createdAt.getTime() + hours * 3_600_000);
}

/** "approvers" is shown as "the approvers" (everyone holding the role); named groups by their name. */
export function groupLabel(group: string): string {
  return group in ROLE_GROUPS ? `the ${group}` : group;
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;
const joinAnd = (xs: string[]) =>
  xs.length <= 1 ? (xs[0] ?? "") : `${xs.slice(0, -1).join(", ")} and ${xs[xs.length - 1]}`;
const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

type Person = { voterId: string; name: string; reject: boolean; memberOf: Set<string> };

function inGroup(groups: Set<string>, roles: Set<string>, group: string): boolean {
  const role = ROLE_GROUPS[group];
  // A role group is the role's holders only: a member list that happens to be called "approvers" adds nobody.
  return role !== undefined ? roles.has(role) : groups.has(group);
}

/**
 * One entry per person who may count under this rule, sorted by voter id. Several entries for one voter
 * (a caller's join gone wrong) merge to the narrowest reading: ineligible if any entry is, a rejection if any
 * entry rejects. The initiator's votes are dropped, and so are people in none of the rule's groups.
 */
function countedPeople(votes: VoteInput[], initiatorId: string | null, ruleGroups: string[]): Person[] {
  const merged = new Map<
    string,
    { eligible: boolean; reject: boolean; groups: Set<string>; roles: Set<string>; names: string[] }
  >();
  for (const v of votes) {
    if (v.voterId === initiatorId) continue;
    const m = merged.get(v.voterId) ?? {
      eligible: true,
      reject: false,
      groups: new Set<string>(),
      roles: new Set<string>(),
      names: [],
    };
    m.eligible &&= v.eligible === true;
    m.reject ||= v.decision !== "approve";
    for (const g of v.groups) m.groups.add(g);
    for (const r of v.roles) m.roles.add(r);
    if (v.name) m.names.push(v.name);
    merged.set(v.voterId, m);
  }
  const people: Person[] = [];
  for (const [voterId, m] of merged) {
    if (!m.eligible) continue;
    const memberOf = new Set(ruleGroups.filter((g) => inGroup(m.groups, m.roles, g)));
    if (memberOf.size === 0) continue;
    people.push({ voterId, name: m.names.sort(byCodePoint)[0] ?? voterId, reject: m.reject, memberOf });
  }
  return people.sort((a, b) => byCodePoint(a.voterId, b.voterId));
}

/**
 * Assigns each approving person to at most one required group (a maximum bipartite matching, Kuhn's augmenting
 * paths over group slots in rule order and people in id order), so Alice in treasury and compliance cannot be
 * both of "1 treasury AND 1 compliance". The number assigned is the most any assignment reaches; all groups are
 * met exactly when some assignment meets them. Inputs are sorted first, so the result never depends on order.
 */
function assign(approvers: Person[], require: { group: string; approvals: number }[]): Map<string, string[]> {
  const slots: string[] = require.flatMap((r) => Array.from({ length: r.approvals }, () => r.group));
  const personOfSlot: (number | undefined)[] = slots.map(() => undefined);
  const slotOfPerson: (number | undefined)[] = approvers.map(() => undefined);
  const tryAssign = (slot: number, visited: Set<number>): boolean => {
    const group = slots[slot];
    for (let p = 0; p < approvers.length; p++) {
      if (visited.has(p) || group === undefined || !approvers[p]?.memberOf.has(group)) continue;
      visited.add(p);
      const held = slotOfPerson[p];
      if (held === undefined || tryAssign(held, visited)) {
        personOfSlot[slot] = p;
        slotOfPerson[p] = slot;
        return true;
      }
    }
    return false;
  };
  slots.forEach((_, s) => {
    tryAssign(s, new Set());
  });
  const out = new Map<string, string[]>(require.map((r) => [r.group, []]));
  personOfSlot.forEach((p, s) => {
    const person = p === undefined ? undefined : approvers[p];
    const group = slots[s];
    if (person && group !== undefined) out.get(group)?.push(person.voterId);
  });
  return out;
}

/**
 * First matching rule wins, else the default. A deny rule denies. Otherwise, among eligible people in the
 * rule's groups other than the initiator, one person one vote: `rejections` rejections reject (rejection wins
 * over approval: restricting is never outvoted), else every group met approves, else it is pending.
 */
export function evaluate(input: EvaluateInput): Evaluation {
  // Re-checked here too: a document read back from storage is judged only if it is still a valid document.
  const policy = policyDocumentSchema.parse(input.policy);
  const { ruleId, rule } = matchRule(policy, input.operation);
  if (rule.deny) {
    return {
      decision: "denied",
      ruleId,
      reasons: [`denied: ${rule.reason}`],
      tally: [],
      rejections: { count: 0, needed: 0, voterIds: [] },
    };
  }
  const people = countedPeople(
    input.votes,
    input.operation.initiatorId,
    rule.require.map((r) => r.group),
  );
  const rejecters = people.filter((p) => p.reject);
  const neededRejections = rule.rejections ?? DEFAULT_REJECTIONS;
  const assigned = assign(
    people.filter((p) => !p.reject),
    rule.require,
  );
  const tally: TallyEntry[] = rule.require.map((r) => {
    const voterIds = [...(assigned.get(r.group) ?? [])].sort(byCodePoint);
    return { group: r.group, needed: r.approvals, approvals: voterIds.length, voterIds };
  });
  const rejections = {
    count: rejecters.length,
    needed: neededRejections,
    voterIds: rejecters.map((p) => p.voterId),
  };
  const rejectedBy = joinAnd(rejecters.map((p) => p.name));

  if (rejecters.length >= neededRejections) {
    return { decision: "rejected", ruleId, reasons: [`rejected by ${rejectedBy}`], tally, rejections };
  }
  const short = tally.filter((t) => t.approvals < t.needed);
  if (short.length === 0) {
    const parts = tally.map((t) => `${t.approvals} of ${t.needed} from ${groupLabel(t.group)}`);
    return { decision: "approved", ruleId, reasons: [`approved: ${joinAnd(parts)}`], tally, rejections };
  }
  const reasons = short.map(
    (t) =>
      `needs ${plural(t.needed - t.approvals, "more approval", "more approvals")} from ${groupLabel(t.group)}`,
  );
  if (rejecters.length > 0) {
    const left = neededRejections - rejecters.length;
    reasons.push(
      `rejected by ${rejectedBy}; ${plural(left, "more rejection ends", "more rejections end")} it`,
    );
  }
  return { decision: "pending", ruleId, reasons, tally, rejections };
}
