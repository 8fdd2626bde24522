// Who counts under a rule and whether their approvals meet it: one person one vote, the initiator never, each
// person assigned to at most one group (a maximum bipartite matching). Pure; inputs are sorted first, so no
// answer depends on the order of the votes.
import { APPROVER_ROLE, ROLE_GROUPS } from "./constants";

export type VoteInput = {
  voterId: string;
  /** A veto is a vote against from the rule's veto group; a "reject" from that group counts as one too. */
  decision: "approve" | "reject" | "veto";
  /** The voter's approver groups now (not when they voted). */
  groups: string[];
  /** The voter's roles now; "approver" puts them in the group "approvers". */
  roles: string[];
  /** Whether the vote may count at all (member active, token live, ...): decided by the caller. */
  eligible: boolean;
  /** Shown in reasons ("rejected by Alice"); the voter id when absent. */
  name?: string;
  /** When it was cast; a veto cast after the delay ended does not count. Absent: counted. */
  at?: Date;
};

export type TallyEntry = {
  group: string;
  needed: number;
  /** Approvals counted for this group, at most `needed`: each person is counted for one group only. */
  approvals: number;
  /** Who those approvals came from, by voter id, sorted. */
  voterIds: string[];
};

export type Person = {
  voterId: string;
  name: string;
  /** Any entry other than an approval: restricting is read narrowly. */
  against: boolean;
  /** The earliest time any of their entries against was cast; null when one of them does not say when. */
  againstAt: number | null;
  groups: Set<string>;
  roles: Set<string>;
};

export const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export function inGroup(p: Pick<Person, "groups" | "roles">, group: string): boolean {
  const role = ROLE_GROUPS[group];
  // A role group is the role's holders only: a member list that happens to be called "approvers" adds nobody.
  return role !== undefined ? p.roles.has(role) : p.groups.has(group);
}

/** The roles that are groups of their own (approver, admin): see ROLE_GROUPS. */
const GROUP_ROLES: ReadonlySet<string> = new Set(Object.values(ROLE_GROUPS));

/**
 * Where a member's approvals (and rejections) count: an approver in every group they are in and every role
 * group of a role they hold; anyone else only in the role groups of the roles they hold (an admin in "admins"),
 * never in a member list or in "approvers". null: nowhere. operations/ passes votes through it and the
 * reachability check counts members through it, so "whose approval counts where" has one definition.
 */
export function approvingMembership(m: {
  roles: readonly string[];
  groups: readonly string[];
}): { roles: string[]; groups: string[] } | null {
  if (m.roles.includes(APPROVER_ROLE)) return { roles: [...m.roles], groups: [...m.groups] };
  const roles = m.roles.filter((r) => GROUP_ROLES.has(r));
  return roles.length > 0 ? { roles, groups: [] } : null;
}

/**
 * Whether someone with `roles` may cast an approval or rejection under a rule asking approvals from `groups`:
 * an approver always; anyone else when the rule names the role group of a role they hold (an admin where the
 * rule names "admins").
 */
export function mayApprove(roles: readonly string[], groups: readonly string[]): boolean {
  if (roles.includes(APPROVER_ROLE)) return true;
  return groups.some((g) => {
    const role = ROLE_GROUPS[g];
    return role !== undefined && roles.includes(role);
  });
}

/**
 * One entry per eligible person other than the initiator, sorted by voter id. Several entries for one voter
 * (a caller's join gone wrong) merge to the narrowest reading: ineligible if any entry is, against if any entry
 * is not an approval.
 */
export function people(votes: readonly VoteInput[], initiatorId: string | null): Person[] {
  const merged = new Map<string, Person & { eligible: boolean; names: string[]; untimed: boolean }>();
  for (const v of votes) {
    if (v.voterId === initiatorId) continue;
    const m = merged.get(v.voterId) ?? {
      voterId: v.voterId,
      name: v.voterId,
      eligible: true,
      against: false,
      againstAt: null,
      untimed: false,
      groups: new Set<string>(),
      roles: new Set<string>(),
      names: [],
    };
    m.eligible &&= v.eligible === true;
    if (v.decision !== "approve") {
      m.against = true;
      if (v.at === undefined) m.untimed = true;
      else m.againstAt = Math.min(m.againstAt ?? v.at.getTime(), v.at.getTime());
    }
    for (const g of v.groups) m.groups.add(g);
    for (const r of v.roles) m.roles.add(r);
    if (v.name) m.names.push(v.name);
    merged.set(v.voterId, m);
  }
  const out: Person[] = [];
  for (const m of merged.values()) {
    if (!m.eligible) continue;
    out.push({
      voterId: m.voterId,
      name: m.names.sort(byCodePoint)[0] ?? m.voterId,
      against: m.against,
      // An entry without a time could be any time: the earliest reading is the one that counts a veto.
      againstAt: m.untimed ? null : m.againstAt,
      groups: m.groups,
      roles: m.roles,
    });
  }
  return out.sort((a, b) => byCodePoint(a.voterId, b.voterId));
}

/**
 * Assigns each approving person to at most one required group (Kuhn's augmenting paths over group slots in
 * rule order and people in id order), so Alice in treasury and compliance cannot be both of "1 treasury AND
 * 1 compliance". The number assigned is the most any assignment reaches; all groups are met exactly when some
 * assignment meets them.
 */
export function tallyFor(
  approvers: readonly Person[],
  require: readonly { group: string; approvals: number }[],
) {
  const slots: string[] = require.flatMap((r) => Array.from({ length: r.approvals }, () => r.group));
  const personOfSlot: (number | undefined)[] = slots.map(() => undefined);
  const slotOfPerson: (number | undefined)[] = approvers.map(() => undefined);
  const tryAssign = (slot: number, visited: Set<number>): boolean => {
    const group = slots[slot];
    for (let p = 0; p < approvers.length; p++) {
      const person = approvers[p];
      if (visited.has(p) || group === undefined || !person || !inGroup(person, group)) continue;
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
  const assigned = new Map<string, string[]>(require.map((r) => [r.group, []]));
  personOfSlot.forEach((p, s) => {
    const person = p === undefined ? undefined : approvers[p];
    const group = slots[s];
    if (person && group !== undefined) assigned.get(group)?.push(person.voterId);
  });
  return require.map((r): TallyEntry => {
    const voterIds = [...(assigned.get(r.group) ?? [])].sort(byCodePoint);
    return { group: r.group, needed: r.approvals, approvals: voterIds.length, voterIds };
  });
}

export const missing = (tally: readonly TallyEntry[]) =>
  tally.reduce((n, t) => n + t.needed - t.approvals, 0);
