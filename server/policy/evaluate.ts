// Judges an operation under a policy document: which rule applies and whether its votes meet it, in words.
// `evaluatePolicy` (evaluate-policy.ts) is the whole judgement; `evaluate` is its earlier signature, kept for
// server/operations until it supplies history, assets and allow-lists: same answers for every document that
// uses none of issue 13's clauses. For one that does: waiting and deferred read as pending (nothing acts early),
// allow-lists are empty (a rule requiring one denies), and velocity caps see no history, and no amount at all
// from today's OperationFacts, so they are not enforced here: funds-moving kinds must call evaluatePolicy.
import { DEFAULT_EXPIRES_IN_HOURS } from "./constants";
import { evaluatePolicy } from "./evaluate-policy";
import type { PolicyDocument, Rule, RuleBody } from "./schema";
import type { TallyEntry, VoteInput } from "./quorum";
import { groupLabel } from "./words";

export {
  evaluatePolicy,
  type MatchedRule,
  matchRule,
  type PolicyDecision,
  type PolicyEvaluation,
  type PolicyInput,
  type PolicyOperation,
} from "./evaluate-policy";
export type { TallyEntry, VoteInput } from "./quorum";
export type { HistoryEntry, VelocityCap } from "./velocity";
export { groupLabel };

/** initiatorId is null for an operation Keyward proposed itself (a due rotation): every approver may vote. */
export type OperationFacts = { kind: string; keyTags: string[]; initiatorId: string | null };

export type EvaluateInput = {
  operation: OperationFacts;
  votes: VoteInput[];
  policy: PolicyDocument;
  now: Date;
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

/** When an operation judged under `rule` and created at `createdAt` expires (default 48 h). */
export function expiresAt(rule: Rule | RuleBody, createdAt: Date): Date {
  const hours = (!rule.deny && rule.expiresInHours) || DEFAULT_EXPIRES_IN_HOURS;
  return new Date(createdAt.getTime() + hours * 3_600_000);
}

/**
 * evaluatePolicy with no history, assets or allow-lists, its answer in the earlier shape: an operation that
 * must wait (delay) or is deferred (window, velocity) is pending, so nothing acts on it before its time.
 */
export function evaluate(input: EvaluateInput): Evaluation {
  const e = evaluatePolicy({ ...input, history: [] });
  const decision = e.decision === "waiting" || e.decision === "deferred" ? "pending" : e.decision;
  return { decision, ruleId: e.ruleId, reasons: e.reasons, tally: e.tally, rejections: e.rejections };
}
