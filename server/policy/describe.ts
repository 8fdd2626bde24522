// A policy rule and a whole document in words, for the pages ("Withdrawals tagged hot: 2 approvals from
// treasury and 1 from compliance; expires after 48 h"). Pure; imports only types, so any page can use it.
import { type AssetInfo, formatAmount } from "./amounts";
import {
  DEFAULT_EXPIRES_IN_HOURS,
  DEFAULT_REJECTIONS,
  DEFAULT_RULE_ID,
  type InitiatorType,
  ROLE_GROUPS,
} from "./constants";
import type { PolicyDocument, Rule, RuleBody } from "./document";
import type { VelocityCap } from "./velocity";
import { type TimeWindow, WEEKDAY_NAMES, WEEKDAYS } from "./windows";
import { hoursInWords } from "./words";

/** Kinds in words, plural, as a rule's subject. A kind not listed here is shown by its name. */
const KIND_WORDS: Readonly<Record<string, string>> = {
  "key.create": "key creations",
  "key.activate": "key activations",
  "key.rotate": "key rotations",
  "key.suspend": "key suspensions",
  "key.resume": "key resumptions",
  "key.revoke": "key revocations",
  "key.destroy": "key destructions",
  "key.backup": "key backups",
  "key.restore": "key restores",
  withdrawal: "withdrawals",
  "withdrawal.speedup": "withdrawal speed-ups",
  "policy.update": "policy changes",
  "member.invite": "member invitations",
  "member.update": "member changes",
  "member.suspend": "member suspensions",
  "token.revoke": "token revocations",
  "allowlist.update": "allow-list changes",
};

/** Who proposed it, as a rule's subject ends: "... proposed by a service account". */
const INITIATOR_WORDS: Readonly<Record<InitiatorType, string>> = {
  member: "a member",
  service: "a service account (the HTTP API)",
  system: "Keyward itself",
};

const joinWith = (xs: string[], word: string) =>
  xs.length <= 1 ? (xs[0] ?? "") : `${xs.slice(0, -1).join(", ")} ${word} ${xs[xs.length - 1]}`;
const capitalise = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
const group = (g: string) => (g in ROLE_GROUPS ? `the ${g}` : g);

export function describeKind(kind: string): string {
  return KIND_WORDS[kind] ?? `${kind} operations`;
}

/**
 * Which operations a rule applies to, e.g. "Withdrawals tagged hot on bitcoin in BTC on bitcoin of at least
 * 10 BTC"; the default is "Every other operation". Amounts use the asset list's decimals when given.
 */
export function describeMatch(
  rule: Rule | RuleBody,
  otherRules = 1,
  assets: readonly AssetInfo[] = [],
): string {
  if (!("match" in rule)) return otherRules > 0 ? "Every other operation" : "Every operation";
  const { kinds, keyTags, chains, assets: moved, amount, destination, initiators } = rule.match;
  const subject = kinds ? joinWith(kinds.map(describeKind), "and") : "operations";
  const parts = [subject];
  if (keyTags) parts.push(`tagged ${joinWith(keyTags, "and")}`);
  if (chains) parts.push(`on ${joinWith(chains, "or")}`);
  if (moved)
    parts.push(
      `in ${joinWith(
        moved.map((a) => `${a.symbol} on ${a.chain}`),
        "or",
      )}`,
    );
  const unit = moved?.[0];
  if (amount && unit) {
    const of = (s: string) => formatAmount(BigInt(s), unit, assets);
    const tier = [
      amount.atLeast !== undefined ? `at least ${of(amount.atLeast)}` : "",
      amount.below !== undefined ? `less than ${of(amount.below)}` : "",
    ].filter(Boolean);
    parts.push(`of ${tier.join(" and ")}`);
  }
  if (destination)
    parts.push(
      "onAllowList" in destination
        ? `to an address on the allow-list ${destination.onAllowList}`
        : `to an address not on the allow-list ${destination.notOnAllowList}`,
    );
  if (initiators)
    parts.push(
      `proposed by ${joinWith(
        initiators.map((i) => INITIATOR_WORDS[i]),
        "or",
      )}`,
    );
  return capitalise(parts.length === 1 && !kinds ? "every operation" : parts.join(" "));
}

/** Weekdays in words, consecutive runs as ranges: "Monday to Friday", "Monday, Wednesday and Saturday to Sunday". */
export function describeDays(days: readonly string[]): string {
  const idx = WEEKDAYS.map((d, i) => (days.includes(d) ? i : -1)).filter((i) => i >= 0);
  if (idx.length === 7) return "every day";
  const runs: [number, number][] = [];
  for (const i of idx) {
    const last = runs[runs.length - 1];
    if (last && last[1] === i - 1) last[1] = i;
    else runs.push([i, i]);
  }
  const name = (i: number) => WEEKDAY_NAMES[WEEKDAYS[i] ?? "mon"];
  return joinWith(
    runs.map(([a, b]) =>
      a === b ? name(a) : b === a + 1 ? `${name(a)} and ${name(b)}` : `${name(a)} to ${name(b)}`,
    ),
    "and",
  );
}

/** "only Monday to Friday 00:00-24:00 (Europe/Zurich); outside it, deferred to the next opening". */
export function describeWindow(w: TimeWindow): string {
  const open = joinWith(
    w.open.map((o) => `${describeDays(o.days)} ${o.from}-${o.to}`),
    "and",
  );
  const outside = w.outside === "defer" ? "deferred to the next opening" : "denied";
  return `${w.reason ? `${w.reason}: ` : ""}only ${open} (${w.zone}); outside it, ${outside}`;
}

/** "at most 10 BTC per key in any 24 h, approved amounts not yet executed included; over it, denied". */
export function describeVelocity(cap: VelocityCap, assets: readonly AssetInfo[] = []): string {
  const scope =
    cap.per === "key"
      ? "per key"
      : cap.per === "chain"
        ? `on ${cap.asset.chain}`
        : `of ${cap.asset.symbol} on every chain`;
  const over = cap.over === "deny" ? "denied" : "deferred until it fits";
  return `at most ${formatAmount(BigInt(cap.limit), cap.asset, assets)} ${scope} in any ${hoursInWords(cap.windowHours)}, approved amounts not yet executed included; over it, ${over}`;
}

const approvalsFrom = (require: readonly { group: string; approvals: number }[], first: boolean) =>
  joinWith(
    require.map((r, i) =>
      i === 0 && first
        ? `${r.approvals} ${r.approvals === 1 ? "approval" : "approvals"} from ${group(r.group)}`
        : `${r.approvals} from ${group(r.group)}`,
    ),
    "and",
  );

/** What a rule asks for, e.g. "2 approvals from treasury and 1 from compliance; expires after 48 h". */
export function describeRequirement(rule: Rule | RuleBody, assets: readonly AssetInfo[] = []): string {
  return requirementParts(rule, assets).join("; ");
}

/** describeRequirement's clauses one by one (approvals, rejections, allow-list, window, delay, caps, expiry). */
export function requirementParts(rule: Rule | RuleBody, assets: readonly AssetInfo[] = []): string[] {
  if (rule.deny) return [`always denied (${rule.reason})`];
  const out: string[] = [];
  if (rule.automatic) out.push("approved automatically, with no vote, while within its velocity caps");
  else {
    const alternatives = (rule.alternatives ?? []).map((a) => `, or ${approvalsFrom(a, false)}`).join("");
    out.push(`${approvalsFrom(rule.require, true)}${alternatives}`);
    const rejections = rule.rejections ?? DEFAULT_REJECTIONS;
    if (rejections !== 1) out.push(`${rejections} rejections end it`);
  }
  if (rule.allowList) out.push(`only to addresses on the allow-list ${rule.allowList}`);
  if (rule.window) out.push(describeWindow(rule.window));
  if (rule.delay)
    out.push(
      `runs ${hoursInWords(rule.delay.hours)} after ${rule.automatic ? "it is proposed" : "its approvals"}, and ${group(rule.delay.vetoGroup)} can veto it until then`,
    );
  for (const cap of rule.velocity ?? []) out.push(describeVelocity(cap, assets));
  if (!rule.automatic) out.push(`expires after ${rule.expiresInHours ?? DEFAULT_EXPIRES_IN_HOURS} h`);
  return out;
}

/** One rule in one sentence: "Withdrawals tagged hot: 2 approvals from treasury and 1 from compliance; ...". */
export function describeRule(
  rule: Rule | RuleBody,
  otherRules = 1,
  assets: readonly AssetInfo[] = [],
): string {
  return `${describeMatch(rule, otherRules, assets)}: ${describeRequirement(rule, assets)}`;
}

export type PolicyInWords = {
  version: number;
  /** How any document is read, in words. */
  intro: string[];
  /** Every rule in the order it is judged, the default last. */
  rules: { id: string; isDefault: boolean; text: string; description: string | undefined }[];
  /** The rotation periods in words, when the document sets any ("Keys tagged hot: rotated every 90 days"). */
  rotation?: string[];
};

/** One rotation period in words. */
export function describeRotation(period: { tag: string; everyDays: number }): string {
  const every = period.everyDays === 1 ? "every day" : `every ${period.everyDays} days`;
  return `Keys tagged ${period.tag}: Keyward proposes their rotation ${every} (it still needs its approvals)`;
}

export function describePolicy(doc: PolicyDocument, assets: readonly AssetInfo[] = []): PolicyInWords {
  const rules = doc.rules.map((r) => ({
    id: r.id,
    isDefault: false,
    text: describeRule(r, 1, assets),
    description: r.description || undefined,
  }));
  rules.push({
    id: doc.default.id ?? DEFAULT_RULE_ID,
    isDefault: true,
    text: describeRule(doc.default, doc.rules.length, assets),
    description: doc.default.description || undefined,
  });
  return {
    version: doc.version,
    intro: [
      doc.rules.length > 0
        ? "Rules are read in order: the first one that matches an operation decides; the default rule judges the rest."
        : "One rule, the default, judges every operation.",
      'A rule tagged with several key tags matches only keys carrying all of them. "The approvers" is everyone holding the approver role, "the admins" everyone holding the admin role (an admin without the approver role approves only where a rule names the admins).',
      "Every approval comes from a different person, whatever groups they belong to or tokens they hold; nobody's vote counts on an operation they proposed, and a rejection wins over approvals.",
    ],
    rules,
    ...(doc.rotation && doc.rotation.length > 0
      ? {
          rotation: [
            ...doc.rotation.map(describeRotation),
            "A key carrying several of these tags is rotated at the shortest of their periods, counted from when it became active.",
          ],
        }
      : {}),
  };
}
