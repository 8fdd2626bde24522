// What the go-live ceremony needs, as it stands now (go-live.ts re-reads it under the admin and policy locks
// before every tap counts): the policy version in force and its digest, every active admin with their live
// tokens and whether they tapped for this very policy and admin set, each rule's groups with how many eligible
// people they hold, the reachability verdict, and every reason going live would be refused, in words.
// Only reads; never records anything.
import "server-only";
import { createHash } from "node:crypto";
import canonicalize from "canonicalize";
import { and, eq } from "drizzle-orm";
import type { DbOrTx } from "@/db/client";
import { goLiveTaps } from "@/db/schema";
import { type PolicyVersion, policyInForce } from "@/server/operations/policy-store";
import { describePolicy, type PolicyInWords } from "@/server/policy/describe";
import { inGroup } from "@/server/policy/quorum";
import { type EligibleMember, type Unreachable, unreachableRules } from "@/server/policy/reachability";
import { approvalSets, type PolicyDocument } from "@/server/policy/schema";
import { groupLabel } from "@/server/policy/words";
import { eligibleMembers } from "./members-snapshot";
import { type InstallationMode, installationMode } from "./mode";

/** Going live needs at least this many active admins, each holding a live token. */
export const MIN_ADMINS = 2;

export type GoLiveAdmin = {
  id: string;
  name: string;
  liveTokens: number;
  /** Tapped for the policy version in force and the admins as they are now. */
  tapped: boolean;
  tappedAt: Date | null;
};

export type RuleGroups = {
  ruleId: string;
  isDefault: boolean;
  deny: boolean;
  /** Approved with no vote, under its velocity caps (then `ways` is empty). */
  automatic: boolean;
  /** One entry per way to approve (the rule's requirement, then its alternatives). */
  ways: { group: string; label: string; approvals: number; eligible: number }[][];
  veto: { group: string; label: string; eligible: number } | null;
};

export type GoLiveStatus = {
  mode: InstallationMode;
  policy: { version: number; digest: string; words: PolicyInWords } | null;
  /** SHA-256 hex binding the set of admins a tap approves with (adminSetDigest). */
  adminSetDigest: string;
  admins: GoLiveAdmin[];
  rules: RuleGroups[];
  unreachable: Unreachable[];
  /** Every reason going live is refused now; empty when every admin's tap would take it live. */
  problems: string[];
};

/** SHA-256 hex of the admins' ids, sorted (RFC 8785 JSON): a tap binds the admins it counts among. */
export function adminSetDigest(adminIds: readonly string[]): string {
  const text = canonicalize({ v: 1, admins: [...adminIds].sort() });
  if (text === undefined) throw new TypeError("cannot canonicalise the admin set");
  return createHash("sha256").update(text, "utf8").digest("hex");
}

const eligible = (m: EligibleMember) => m.active && m.liveTokens >= 1;
const asPerson = (m: EligibleMember) => ({ groups: new Set(m.groups), roles: new Set(m.roles) });

function ruleGroups(doc: PolicyDocument, members: readonly EligibleMember[]): RuleGroups[] {
  const people = members.filter(eligible).map(asPerson);
  const count = (group: string) => people.filter((p) => inGroup(p, group)).length;
  const rules = [
    ...doc.rules.map((r) => ({ rule: r, id: r.id, isDefault: false })),
    { rule: doc.default, id: doc.default.id ?? "default", isDefault: true },
  ];
  return rules.map(({ rule, id, isDefault }) => {
    if (rule.deny) return { ruleId: id, isDefault, deny: true, automatic: false, ways: [], veto: null };
    const ways = approvalSets(rule).map((set) =>
      set.map((r) => ({
        group: r.group,
        label: groupLabel(r.group),
        approvals: r.approvals,
        eligible: count(r.group),
      })),
    );
    const vetoGroup = rule.delay?.vetoGroup;
    const veto = vetoGroup
      ? { group: vetoGroup, label: groupLabel(vetoGroup), eligible: count(vetoGroup) }
      : null;
    return { ruleId: id, isDefault, deny: false, automatic: rule.automatic === true, ways, veto };
  });
}

/** The reasons in words, in the order a person fixes them: admins first, then the rules. */
function problemsOf(
  mode: InstallationMode,
  policy: PolicyVersion | null,
  admins: readonly GoLiveAdmin[],
  unreachable: readonly Unreachable[],
): string[] {
  if (mode.mode === "live") return ["Keyward is already live."];
  const out: string[] = [];
  if (!policy) out.push("No policy is in force yet: finish setup first.");
  if (admins.length < MIN_ADMINS) {
    const who =
      admins.length === 0 ? "there is none" : `there is only ${admins.map((a) => a.name).join(", ")}`;
    out.push(
      `Going live needs at least ${MIN_ADMINS} admins, each with a live hardware token; ${who}. Invite another admin first.`,
    );
  }
  for (const a of admins) {
    if (a.liveTokens === 0) {
      out.push(
        `${a.name} is an admin without a live hardware token: every admin must tap, so they need to add a token first (or stop being an admin).`,
      );
    }
  }
  for (const u of unreachable) out.push(`Rule ${u.ruleId}: ${u.reason}.`);
  return out;
}

/** The ceremony as it stands in `db` (a transaction holding the locks, or a plain read for the page). */
export async function goLiveStatus(db: DbOrTx): Promise<GoLiveStatus> {
  const mode = await installationMode(db);
  const policy = await policyInForce(db);
  const members = await eligibleMembers(db);
  const adminMembers = members.filter((m) => m.active && m.roles.includes("admin"));
  const setDigest = adminSetDigest(adminMembers.map((m) => m.id));
  const taps = policy
    ? await db
        .select({ adminId: goLiveTaps.adminId, tappedAt: goLiveTaps.tappedAt })
        .from(goLiveTaps)
        // One tap per admin per content (go_live_taps_once); revoking its token later does not undo it, but the
        // admin must still hold a live token for going live (problemsOf).
        .where(and(eq(goLiveTaps.policyDigest, policy.digest), eq(goLiveTaps.adminSetDigest, setDigest)))
    : [];
  const admins = adminMembers.map((m) => {
    const tap = taps.find((t) => t.adminId === m.id);
    return {
      id: m.id,
      name: m.name,
      liveTokens: m.liveTokens,
      tapped: tap !== undefined,
      tappedAt: tap?.tappedAt ?? null,
    };
  });
  const unreachable = policy ? unreachableRules(policy.document, members) : [];
  return {
    mode,
    policy: policy
      ? { version: policy.version, digest: policy.digest, words: describePolicy(policy.document) }
      : null,
    adminSetDigest: setDigest,
    admins,
    rules: policy ? ruleGroups(policy.document, members) : [],
    unreachable,
    problems: problemsOf(mode, policy, admins, unreachable),
  };
}
