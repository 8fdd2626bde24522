// A policy rule and a whole document in words, for the pages ("Withdrawals tagged hot: 2 approvals from
// treasury and 1 from compliance; expires after 48 h"). Pure; imports only types, so any page can use it.
import type { PolicyDocument, Rule, RuleBody } from "./document";
import { DEFAULT_EXPIRES_IN_HOURS, DEFAULT_REJECTIONS, DEFAULT_RULE_ID, ROLE_GROUPS } from "./constants";

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
  "policy.update": "policy changes",
  "member.invite": "member invitations",
  "member.update": "member changes",
  "member.suspend": "member suspensions",
  "token.revoke": "token revocations",
  "allowlist.update": "allow-list changes",
};

const joinWith = (xs: string[], word: string) =>
  xs.length <= 1 ? (xs[0] ?? "") : `${xs.slice(0, -1).join(", ")} ${word} ${xs[xs.length - 1]}`;
const capitalise = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
const group = (g: string) => (g in ROLE_GROUPS ? `the ${g}` : g);

export function describeKind(kind: string): string {
  return KIND_WORDS[kind] ?? `${kind} operations`;
}

/** Which operations a rule applies to, e.g. "Withdrawals tagged hot"; the default is "Every other operation". */
export function describeMatch(rule: Rule | RuleBody, otherRules = 1): string {
  if (!("match" in rule)) return otherRules > 0 ? "Every other operation" : "Every operation";
  const { kinds, keyTags } = rule.match;
  const subject = kinds ? joinWith(kinds.map(describeKind), "and") : "operations";
  const tagged = keyTags ? ` tagged ${joinWith(keyTags, "and")}` : "";
  return capitalise(!kinds && !keyTags ? "every operation" : `${subject}${tagged}`);
}

/** What a rule asks for, e.g. "2 approvals from treasury and 1 from compliance; expires after 48 h". */
export function describeRequirement(rule: Rule | RuleBody): string {
  if (rule.deny) return `always denied (${rule.reason})`;
  const parts = rule.require.map((r, i) =>
    i === 0
      ? `${r.approvals} ${r.approvals === 1 ? "approval" : "approvals"} from ${group(r.group)}`
      : `${r.approvals} from ${group(r.group)}`,
  );
  const out = [joinWith(parts, "and")];
  const rejections = rule.rejections ?? DEFAULT_REJECTIONS;
  if (rejections !== 1) out.push(`${rejections} rejections end it`);
  out.push(`expires after ${rule.expiresInHours ?? DEFAULT_EXPIRES_IN_HOURS} h`);
  return out.join("; ");
}

/** One rule in one sentence: "Withdrawals tagged hot: 2 approvals from treasury and 1 from compliance; ...". */
export function describeRule(rule: Rule | RuleBody, otherRules = 1): string {
  return `${describeMatch(rule, otherRules)}: ${describeRequirement(rule)}`;
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

export function describePolicy(doc: PolicyDocument): PolicyInWords {
  const rules = doc.rules.map((r) => ({
    id: r.id,
    isDefault: false,
    text: describeRule(r),
    description: r.description || undefined,
  }));
  rules.push({
    id: doc.default.id ?? DEFAULT_RULE_ID,
    isDefault: true,
    text: describeRule(doc.default, doc.rules.length),
    description: doc.default.description || undefined,
  });
  return {
    version: doc.version,
    intro: [
      doc.rules.length > 0
        ? "Rules are read in order: the first one that matches an operation decides; the default rule judges the rest."
        : "One rule, the default, judges every operation.",
      'A rule tagged with several key tags matches only keys carrying all of them. "The approvers" is everyone holding the approver role.',
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
