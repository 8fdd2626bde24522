// The policy's whole judgement of an operation, as one pure function of (operation, votes, policy, now,
// history): the rule that applies, the decision, every reason in words and the tally. It never reads the clock
// (now is an argument), the database or the HSM, and never modifies its input; the caller reads the votes,
// the history, the asset list and the allow-lists under its lock and acts on the answer.
import { type AssetInfo, formatAmount } from "./amounts";
import { DEFAULT_REJECTIONS, DEFAULT_RULE_ID } from "./constants";
import {
  type AllowLists,
  type ApproveRule,
  approvalSets,
  type MatchFacts,
  matches,
  onAllowList,
  type PolicyDocument,
  policyDocumentSchema,
  type Rule,
  type RuleBody,
} from "./schema";
import { inGroup, missing, type Person, people, type TallyEntry, tallyFor, type VoteInput } from "./quorum";
import { checkVelocity, type HistoryEntry, type VelocityResult, type VelocityTotals } from "./velocity";
import { formatWallTime, isOpen, nextOpening } from "./windows";
import { groupLabel, hoursInWords, joinAnd, plural } from "./words";

/**
 * initiatorId is the member who proposed it (their vote never counts), null for an operation Keyward or a service
 * account proposed: every approver may vote. `initiator` (MatchFacts) says which of the three it was.
 */
export type PolicyOperation = MatchFacts & {
  initiatorId: string | null;
  /** The operation's id, so its own entry in the history is not counted twice. */
  id?: string;
  /** The key it signs with, for per-key velocity caps. */
  keyId?: string | null;
  /** When its votes first met the rule (stored when it became approved); absent: now, if they meet it now. */
  quorumAt?: Date | null;
};

export type PolicyInput = {
  operation: PolicyOperation;
  votes: readonly VoteInput[];
  policy: PolicyDocument;
  now: Date;
  /** Executed and approved-but-unexecuted operations that count towards velocity caps. */
  history: readonly HistoryEntry[];
  /** The same history summed per cap by the database (velocity.ts VelocityTotals): when given, caps count these. */
  velocity?: VelocityTotals;
  /** The configured assets (chain, symbol, decimals): amounts in reasons are shown with their decimals. */
  assets?: readonly AssetInfo[];
  /** The allow-lists' contents by name, addresses in each chain's canonical form. */
  allowLists?: AllowLists;
};

export type MatchedRule = { ruleId: string; rule: Rule | RuleBody; isDefault: boolean };

type Base = {
  ruleId: string;
  reasons: string[];
  /** The alternative that met the rule, else the one closest to it (the first on a tie). */
  tally: TallyEntry[];
  /** Every alternative's tally, `require` first. Empty for a deny rule. */
  alternatives: TallyEntry[][];
  /** Distinct counted rejections and how many end the operation (0 needed for a deny rule). */
  rejections: { count: number; needed: number; voterIds: string[] };
  /** Counted vetoes from the rule's veto group; null when the rule has no delay. */
  vetoes: { group: string; count: number; voterIds: string[] } | null;
};

export type PolicyEvaluation = Base &
  (
    | { decision: "approved" | "pending" | "rejected" | "denied" }
    /**
     * Approved by its votes, but outside its window or over a velocity cap: may run at `until` (null: unknown).
     * `hold`: velocity when a cap that defers is over (it decides `until` first), else window.
     */
    | { decision: "deferred"; until: Date | null; hold: "window" | "velocity" }
    /** Approved by its votes, in its delay: runs at `until` unless the veto group vetoes first. */
    | { decision: "waiting"; until: Date; vetoGroup: string }
  );

export type PolicyDecision = PolicyEvaluation["decision"];

/** The first rule whose match holds for the operation, else the default. */
export function matchRule(
  policy: PolicyDocument,
  operation: MatchFacts,
  allowLists: AllowLists = {},
): MatchedRule {
  for (const rule of policy.rules) {
    if (matches(rule.match, operation, allowLists)) return { ruleId: rule.id, rule, isDefault: false };
  }
  return { ruleId: policy.default.id ?? DEFAULT_RULE_ID, rule: policy.default, isDefault: true };
}

const utc = (t: number) => `${formatWallTime(t, "UTC")} UTC`;

function capLimit(v: VelocityResult, assets: readonly AssetInfo[]): string {
  const { cap } = v;
  const scope = cap.per === "key" ? " for this key" : cap.per === "asset" ? " across chains" : "";
  return `the ${hoursInWords(cap.windowHours)} limit of ${formatAmount(v.limit, cap.asset, assets)}${scope}`;
}

/** Denials that no vote can change: the allow-list, a closed window that denies, a velocity cap that denies. */
function denials(rule: ApproveRule, input: PolicyInput, caps: VelocityResult[]): string[] {
  const out: string[] = [];
  const { operation: op, now } = input;
  const assets = input.assets ?? [];
  if (rule.allowList) {
    if (op.destination === undefined || op.chain === undefined)
      out.push(`denied: no destination to check against the allow-list ${rule.allowList}`);
    else if (!onAllowList(input.allowLists ?? {}, rule.allowList, op.chain, op.destination))
      out.push(`denied: the destination ${op.destination} is not on the allow-list ${rule.allowList}`);
  }
  if (rule.window?.outside === "deny" && !isOpen(rule.window, now.getTime())) {
    out.push(`denied: ${rule.window.reason ?? "outside its opening hours"} (${rule.window.zone})`);
  }
  // Defence in depth: the schema makes an automatic rule name its assets, each under a cap, so only an operation
  // without an amount gets here; without a cap counting it, nothing would bound what it approves.
  if (rule.automatic && caps.length === 0)
    out.push(
      "denied: an automatic rule approves only amounts its velocity caps count, and none counts this operation",
    );
  for (const v of caps) {
    if (v.status === "within") continue;
    if (v.status === "unknown-decimals")
      out.push(
        `denied: cannot count ${capLimit(v, assets)}: the asset list has no decimals for ${v.cap.asset.symbol} on ${joinAnd(v.unknown ?? [])}`,
      );
    else if (v.status === "alone")
      out.push(
        `denied: ${formatAmount(op.amount ?? 0n, v.cap.asset, assets)} is over ${capLimit(v, assets)} on its own, by ${formatAmount(v.excess, v.cap.asset, assets)}`,
      );
    else if (v.cap.over === "deny")
      out.push(`denied: over ${capLimit(v, assets)} by ${formatAmount(v.excess, v.cap.asset, assets)}`);
  }
  return out;
}

function pendingReasons(tallies: TallyEntry[][]): string[] {
  const short = (tally: TallyEntry[]) =>
    tally
      .filter((t) => t.approvals < t.needed)
      .map(
        (t) =>
          `${plural(t.needed - t.approvals, "more approval", "more approvals")} from ${groupLabel(t.group)}`,
      );
  const [first = [], ...others] = tallies;
  return [...short(first).map((s) => `needs ${s}`), ...others.map((t) => `or needs ${joinAnd(short(t))}`)];
}

/**
 * First matching rule wins, else the default. In this order: a deny rule denies; the allow-list, a window that
 * denies and velocity caps that deny (or that this operation exceeds on its own) deny whatever the votes;
 * `rejections` counted rejections reject, and so does one veto from the veto group before the delay ends; no
 * alternative met is pending; met, it waits out the delay, then is deferred while its window is closed or a
 * velocity cap that defers is exceeded; else approved. An automatic rule is met with no vote, counts no
 * rejection (a veto in its delay still stops it) and is denied when none of its caps counts the operation.
 */
export function evaluatePolicy(input: PolicyInput): PolicyEvaluation {
  // Re-checked here too: a document read back from storage is judged only if it is still a valid document.
  const policy = policyDocumentSchema.parse(input.policy);
  const { operation: op, now } = input;
  const assets = input.assets ?? [];
  const { ruleId, rule } = matchRule(policy, op, input.allowLists ?? {});
  const noVotes = { rejections: { count: 0, needed: 0, voterIds: [] }, vetoes: null };
  if (rule.deny) {
    return {
      decision: "denied",
      ruleId,
      reasons: [`denied: ${rule.reason}`],
      tally: [],
      alternatives: [],
      ...noVotes,
    };
  }
  const sets = approvalSets(rule);
  const groups = [...new Set(sets.flat().map((r) => r.group))];
  const everyone = people(input.votes, op.initiatorId);
  const approvers = everyone.filter((p) => !p.against);
  const alternatives = sets.map((s) => tallyFor(approvers, s));
  // An automatic rule asks for no approval: it is met with no vote (and counts no rejection).
  const met = rule.automatic ? 0 : alternatives.findIndex((t) => missing(t) === 0);
  const closest = alternatives.reduce(
    (best, t, i) => (missing(t) < missing(alternatives[best] ?? []) ? i : best),
    0,
  );
  const tally = alternatives[met >= 0 ? met : closest] ?? [];
  const rejecters = everyone.filter((p) => p.against && groups.some((g) => inGroup(p, g)));
  const rejections = {
    count: rejecters.length,
    needed: rule.automatic ? 0 : (rule.rejections ?? DEFAULT_REJECTIONS),
    voterIds: rejecters.map((p) => p.voterId),
  };
  const base = { ruleId, tally, alternatives, rejections };
  const names = (ps: Person[]) => joinAnd(ps.map((p) => p.name));

  const caps = (rule.velocity ?? []).flatMap(
    (cap) => checkVelocity(cap, op, input.velocity ?? input.history, now, assets) ?? [],
  );
  const denied = denials(rule, input, caps);
  const delay = rule.delay;
  const quorumAt = met < 0 ? null : (op.quorumAt ?? now).getTime();
  const delayEnd = delay && quorumAt !== null ? quorumAt + delay.hours * 3_600_000 : null;
  const vetoers = delay
    ? everyone.filter(
        (p) =>
          p.against &&
          inGroup(p, delay.vetoGroup) &&
          (delayEnd === null || p.againstAt === null || p.againstAt < delayEnd),
      )
    : [];
  const vetoes = delay
    ? { group: delay.vetoGroup, count: vetoers.length, voterIds: vetoers.map((p) => p.voterId) }
    : null;
  const full = { ...base, vetoes };

  if (denied.length > 0) return { decision: "denied", reasons: denied, ...full };
  if (!rule.automatic && rejecters.length >= rejections.needed)
    return { decision: "rejected", reasons: [`rejected by ${names(rejecters)}`], ...full };
  if (delay && vetoers.length > 0)
    return {
      decision: "rejected",
      reasons: [`vetoed by ${names(vetoers)} (${groupLabel(delay.vetoGroup)})`],
      ...full,
    };
  if (met < 0) {
    const reasons = pendingReasons(alternatives);
    if (rejecters.length > 0) {
      const left = rejections.needed - rejecters.length;
      reasons.push(
        `rejected by ${names(rejecters)}; ${plural(left, "more rejection ends", "more rejections end")} it`,
      );
    }
    return { decision: "pending", reasons, ...full };
  }
  const parts = tally.map((t) => `${t.approvals} of ${t.needed} from ${groupLabel(t.group)}`);
  const approved = rule.automatic ? "approved automatically, with no vote" : `approved: ${joinAnd(parts)}`;
  const within = rule.automatic
    ? caps
        .filter((v) => v.status === "within")
        .map(
          (v) => `within ${capLimit(v, assets)}: ${formatAmount(v.total, v.cap.asset, assets)} with this one`,
        )
    : [];
  if (delay && delayEnd !== null && now.getTime() < delayEnd) {
    const waiting = `waiting: ${hoursInWords(delay.hours)} delay until ${utc(delayEnd)}; ${groupLabel(delay.vetoGroup)} can veto until then`;
    return {
      decision: "waiting",
      until: new Date(delayEnd),
      vetoGroup: delay.vetoGroup,
      reasons: [approved, ...within, waiting],
      ...full,
    };
  }
  const reasons = [approved, ...within];
  if (delay && delayEnd !== null)
    reasons.push(`the ${hoursInWords(delay.hours)} delay ended ${utc(delayEnd)} without a veto`);

  // Deferred: first until every velocity cap that defers fits (amounts only ever leave the window from now on),
  // then to the window's first opening from that instant.
  let from: number | null = now.getTime();
  const deferred: string[] = [];
  let overCap = false;
  for (const v of caps) {
    if (v.status !== "over" || v.cap.over !== "defer") continue;
    overCap = true;
    const limit = `over ${capLimit(v, assets)} by ${formatAmount(v.excess, v.cap.asset, assets)}`;
    if (v.fitsAt === null) {
      from = null;
      deferred.push(
        `deferred: ${limit}, until approved operations not yet executed are executed and leave the window, or are dropped`,
      );
    } else {
      if (from !== null) from = Math.max(from, v.fitsAt.getTime());
      deferred.push(`deferred: ${limit}, fits again ${utc(v.fitsAt.getTime())}`);
    }
  }
  if (rule.window?.outside === "defer" && from !== null && !isOpen(rule.window, from)) {
    const opening = nextOpening(rule.window, from);
    const what = `${rule.window.reason ?? "outside its opening hours"} (${rule.window.zone})`;
    deferred.push(
      `deferred: ${what}, ${opening === null ? "no opening in the next two weeks" : `runs ${formatWallTime(opening, rule.window.zone)}`}`,
    );
    from = opening;
  }
  if (deferred.length > 0) {
    return {
      decision: "deferred",
      until: from === null ? null : new Date(from),
      hold: overCap ? "velocity" : "window",
      reasons: [...reasons, ...deferred],
      ...full,
    };
  }
  return { decision: "approved", reasons, ...full };
}
