// A proposed policy against the version in force, rule by rule in words, for the people who approve the change:
// which rules are added, removed, changed or moved (first match wins, so order is meaning), and what changes
// outside the rules (the default rule, rotation periods). Pure and browser-safe: it reads only its arguments.
import canonicalize from "canonicalize";
import type { AssetInfo } from "./amounts";
import { DEFAULT_RULE_ID } from "./constants";
import { describeMatch, describeRotation, requirementParts } from "./describe";
import type { PolicyDocument, Rule, RuleBody } from "./schema";

export type RuleChange = "added" | "removed" | "changed" | "moved" | "unchanged";

export type RuleDiff = {
  ruleId: string;
  change: RuleChange;
  /** The rule in words in the version in force, one clause a line; null when added. */
  before: string[] | null;
  /** The rule in words in the proposed version; null when removed. */
  after: string[] | null;
  /** 1-based place in the order of judgement, before and after; null where the rule is absent. */
  position: { before: number | null; after: number | null };
};

export type PolicyDiff = {
  /** Every rule of either version, in the proposed order, each removed rule where it stood. */
  rules: RuleDiff[];
  /** Changes outside the rules, in words: the default rule, rotation periods. */
  other: string[];
};

/** A rule in words, one line a clause: what it matches, what it asks for, its description last. */
export function ruleInWords(rule: Rule | RuleBody, assets: readonly AssetInfo[] = []): string[] {
  const lines = ["match" in rule ? describeMatch(rule, 1, assets) : "Every operation no rule matches"];
  lines.push(...requirementParts(rule, assets));
  if (rule.description) lines.push(`Described as: ${rule.description}`);
  return lines;
}

const same = (a: unknown, b: unknown) => canonicalize(a) === canonicalize(b);

/**
 * The ids common to both versions whose relative order is kept: the longest common subsequence of the two
 * orders. The others are the ones that moved (the fewest that explain the new order).
 */
function keptInOrder(before: readonly string[], after: readonly string[]): Set<string> {
  const common = new Set(before.filter((id) => after.includes(id)));
  const a = before.filter((id) => common.has(id));
  const b = after.filter((id) => common.has(id));
  const lcs: number[][] = Array.from({ length: a.length + 1 }, () => Array(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--)
    for (let j = b.length - 1; j >= 0; j--) {
      const row = lcs[i] ?? [];
      row[j] =
        a[i] === b[j] ? (lcs[i + 1]?.[j + 1] ?? 0) + 1 : Math.max(lcs[i + 1]?.[j] ?? 0, row[j + 1] ?? 0);
    }
  const kept = new Set<string>();
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a[i];
    if (x !== undefined && x === b[j]) {
      kept.add(x);
      i++;
      j++;
    } else if ((lcs[i + 1]?.[j] ?? 0) >= (lcs[i]?.[j + 1] ?? 0)) i++;
    else j++;
  }
  return kept;
}

function defaultChanges(before: RuleBody, after: RuleBody, assets: readonly AssetInfo[]): string[] {
  if (same(before, after)) return [];
  const out: string[] = [];
  const idBefore = before.id ?? DEFAULT_RULE_ID;
  const idAfter = after.id ?? DEFAULT_RULE_ID;
  if (idBefore !== idAfter) out.push(`The default rule is renamed from ${idBefore} to ${idAfter}`);
  const was = requirementParts(before, assets).join("; ");
  const becomes = requirementParts(after, assets).join("; ");
  if (was !== becomes)
    out.push(`The default rule (every operation no rule matches) changes from “${was}” to “${becomes}”`);
  if ((before.description ?? "") !== (after.description ?? ""))
    out.push(
      after.description
        ? `The default rule is described as “${after.description}”${before.description ? ` (was “${before.description}”)` : ""}`
        : `The default rule's description “${before.description}” is removed`,
    );
  return out;
}

function rotationChanges(before: PolicyDocument, after: PolicyDocument): string[] {
  const was = new Map((before.rotation ?? []).map((r) => [r.tag, r.everyDays]));
  const becomes = new Map((after.rotation ?? []).map((r) => [r.tag, r.everyDays]));
  const days = (n: number) => (n === 1 ? "every day" : `every ${n} days`);
  const out: string[] = [];
  for (const [tag, everyDays] of was) {
    const now = becomes.get(tag);
    if (now === undefined)
      out.push(
        `Removed: ${describeRotation({ tag, everyDays })}; keys tagged ${tag} are no longer rotated by time`,
      );
    else if (now !== everyDays)
      out.push(`Keys tagged ${tag}: rotation proposed ${days(now)} instead of ${days(everyDays)}`);
  }
  for (const [tag, everyDays] of becomes)
    if (!was.has(tag)) out.push(`Added: ${describeRotation({ tag, everyDays })}`);
  return out;
}

/**
 * The proposed document against the one in force. Rules are matched by id: an id only in `after` is added, only
 * in `before` removed; in both, changed when any field differs (the description too), else moved when its place
 * among the rules both versions have changed, else unchanged. A rule both changed and moved is "changed"; its
 * `position` shows the move.
 */
export function diffPolicies(
  before: PolicyDocument,
  after: PolicyDocument,
  assets: readonly AssetInfo[] = [],
): PolicyDiff {
  const beforeIds = before.rules.map((r) => r.id);
  const afterIds = after.rules.map((r) => r.id);
  const kept = keptInOrder(beforeIds, afterIds);
  const old = new Map(before.rules.map((r, i) => [r.id, { rule: r, at: i + 1 }]));
  const rules: RuleDiff[] = after.rules.map((rule, i) => {
    const was = old.get(rule.id);
    const position = { before: was?.at ?? null, after: i + 1 };
    const words = ruleInWords(rule, assets);
    if (!was) return { ruleId: rule.id, change: "added", before: null, after: words, position };
    const change: RuleChange = !same(was.rule, rule) ? "changed" : kept.has(rule.id) ? "unchanged" : "moved";
    return { ruleId: rule.id, change, before: ruleInWords(was.rule, assets), after: words, position };
  });
  // Each removed rule goes just after the nearest rule before it (in the old order) that is still there.
  const newIds = new Set(afterIds);
  before.rules.forEach((rule, i) => {
    if (newIds.has(rule.id)) return;
    const removed: RuleDiff = {
      ruleId: rule.id,
      change: "removed",
      before: ruleInWords(rule, assets),
      after: null,
      position: { before: i + 1, after: null },
    };
    const anchor = beforeIds
      .slice(0, i)
      .reverse()
      .find((id) => newIds.has(id) || rules.some((r) => r.ruleId === id && r.change === "removed"));
    const at = anchor === undefined ? -1 : rules.findIndex((r) => r.ruleId === anchor);
    rules.splice(at + 1, 0, removed);
  });
  const other = [...defaultChanges(before.default, after.default, assets), ...rotationChanges(before, after)];
  return { rules, other };
}
