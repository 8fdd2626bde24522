// policy.update: a new version of the policy, by quorum. The proposer (an admin) sends the document they edited
// and the version they started from; the proposing transaction reads the version in force and refuses, before
// anyone votes and writing nothing, a stale base ("the policy changed since you started"), a document equal to
// the one in force, and one that would leave a rule nobody could meet with the members as they are
// (server/policy/reachability.ts). The rule that judges it is whichever the policy in force matches for the kind
// policy.update: no special casing.
//
// The payload stores the base document itself next to the new one (`base`), not the diff in words: `describe`
// is pure and gets only the payload, so it recomputes the diff rule by rule (server/policy/diff.ts) from the
// two documents, and the digest every vote binds then covers both — what the approvers were shown and what will
// be in force. The new document's `version` is baseVersion + 1, so its digest is the one policy_versions will
// hold. Words are never stored: a change of wording in diff.ts cannot make a stored payload say something else
// than its documents.
//
// Executing it (server/governance/policy-update-apply.ts, through ctx.policies) happens in the completing
// transaction under the admin and policy locks: the version in force must still be the base, the reachability
// check runs again against the members as they are then, the version is appended (policy.updated naming this
// operation) and open operations are judged again under it (server/governance/rejudge.ts). A failed check fails
// the operation with the reason and changes nothing (the step makes the same check before it, see execute).
import canonicalize from "canonicalize";
import { z } from "zod";
import { AppError } from "@/server/errors";
import { diffPolicies, type RuleDiff } from "@/server/policy/diff";
import { POLICY_UPDATE_KIND, unreachableRules } from "@/server/policy/reachability";
import { type PolicyDocument, policyDocumentSchema } from "@/server/policy/schema";
import { StepRefusedError } from "../executor/step-refused";
import type { OperationKind } from "./types";

export { POLICY_UPDATE_KIND };

const versionSchema = z.int().min(1).max(2_147_483_646);

export const policyUpdateInputSchema = z
  .object({ baseVersion: versionSchema, document: policyDocumentSchema })
  .strict();
export type PolicyUpdateInput = z.infer<typeof policyUpdateInputSchema>;

export const policyUpdatePayloadSchema = z
  .object({
    /** The version in force when it was proposed; it must still be in force when it executes. */
    baseVersion: versionSchema,
    /** That version's document, as stored: what the change is shown against. */
    base: policyDocumentSchema,
    /** The new document; its `version` is baseVersion + 1. */
    document: policyDocumentSchema,
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.base.version !== p.baseVersion)
      ctx.addIssue({ code: "custom", path: ["base", "version"], message: "must be baseVersion" });
    if (p.document.version !== p.baseVersion + 1)
      ctx.addIssue({ code: "custom", path: ["document", "version"], message: "must be baseVersion + 1" });
  });
export type PolicyUpdatePayload = z.infer<typeof policyUpdatePayloadSchema>;

/** The same rules, default and rotation whatever the version number. */
function sameContent(a: PolicyDocument, b: PolicyDocument): boolean {
  return canonicalize({ ...a, version: 0 }) === canonicalize({ ...b, version: 0 });
}

/** "rule “x”: reason; rule “y”: reason" — every reason the check gave. */
export function unreachableInWords(list: readonly { ruleId: string; reason: string }[]): string {
  return list.map((u) => `rule “${u.ruleId}”: ${u.reason}`).join("; ");
}

const CHANGE_LABEL: Record<Exclude<RuleDiff["change"], "unchanged">, string> = {
  added: "added",
  removed: "removed",
  changed: "changed",
  moved: "moved",
};

function place(n: number | null): string {
  return n === null ? "–" : `${n}`;
}

function ruleLine(d: RuleDiff & { change: Exclude<RuleDiff["change"], "unchanged"> }): {
  label: string;
  value: string;
} {
  const label = `Rule “${d.ruleId}” ${CHANGE_LABEL[d.change]}`;
  const was = (d.before ?? []).join("; ");
  const now = (d.after ?? []).join("; ");
  const moved =
    d.position.before !== null && d.position.after !== null && d.position.before !== d.position.after
      ? ` (judged ${place(d.position.before)}${ordinalSuffix(d.position.before)} before, ${place(d.position.after)}${ordinalSuffix(d.position.after)} now)`
      : "";
  switch (d.change) {
    case "added":
      return { label, value: `judged ${place(d.position.after)}${ordinalSuffix(d.position.after)}: ${now}` };
    case "removed":
      return { label, value: `was: ${was}` };
    case "changed":
      return { label, value: `was: ${was} — now: ${now}${moved}` };
    case "moved":
      return { label, value: `${now}${moved}` };
  }
}

function ordinalSuffix(n: number | null): string {
  if (n === null) return "";
  const tens = n % 100;
  if (tens >= 11 && tens <= 13) return "th";
  return n % 10 === 1 ? "st" : n % 10 === 2 ? "nd" : n % 10 === 3 ? "rd" : "th";
}

export const policyUpdate: OperationKind<PolicyUpdatePayload, PolicyUpdateInput> = {
  kind: POLICY_UPDATE_KIND,
  proposers: ["admin"],
  payload: policyUpdatePayloadSchema,
  propose: {
    input: policyUpdateInputSchema,
    async prepare(input, read) {
      const current = await read.policyInForce();
      if (input.baseVersion !== current.version) {
        throw new AppError(
          "CONFLICT",
          `The policy changed since you started: version ${current.version} is in force (you started from version ${input.baseVersion}). Reload it and make your change again.`,
        );
      }
      const document: PolicyDocument = { ...input.document, version: current.version + 1 };
      if (sameContent(document, current.document)) {
        throw new AppError(
          "CONFLICT",
          `This is the policy in force (version ${current.version}) unchanged: there is nothing to propose.`,
        );
      }
      const unreachable = unreachableRules(document, await read.eligibleMembers());
      if (unreachable.length > 0) {
        throw new AppError(
          "CONFLICT",
          `This policy would leave ${unreachable.length === 1 ? "a rule" : "rules"} that nobody could meet with the members as they are, so it was not proposed: ${unreachableInWords(unreachable)}.`,
        );
      }
      return { baseVersion: current.version, base: current.document, document };
    },
  },
  describe(p) {
    const diff = diffPolicies(p.base, p.document);
    const lines: { label: string; value: string }[] = [];
    let unchanged = 0;
    for (const d of diff.rules) {
      if (d.change === "unchanged") unchanged++;
      else lines.push(ruleLine({ ...d, change: d.change }));
    }
    for (const other of diff.other) lines.push({ label: "Also", value: other });
    if (unchanged > 0)
      lines.push({ label: "Unchanged", value: unchanged === 1 ? "1 rule" : `${unchanged} rules` });
    lines.push({
      label: "Effect",
      value: `version ${p.document.version} comes into force in place of version ${p.baseVersion}; open operations are judged again under it (votes of people who lost eligibility stop counting, operations it denies are cancelled)`,
    });
    return { title: `Change the policy from version ${p.baseVersion} to ${p.document.version}`, lines };
  },
  facts() {
    return { keyTags: [] };
  },
  // No HSM step: the step checks (outside any transaction) that the base is still in force and every rule
  // reachable, and fails the operation with the reason otherwise. The record checks again under the admin and
  // policy locks, taken first in the completing transaction (`lock`); if that check fails (something changed in
  // between: another policy.update completed first) it rolls back and the repeated step fails the operation.
  // A repeat is safe: the version is appended only in the transaction that marks the operation executed.
  async execute(ctx, op) {
    const { baseVersion, document } = op.payload;
    const refusal = await ctx.policies.refusal({ baseVersion, document });
    if (refusal !== null) throw new StepRefusedError(refusal);
    return {
      result: { baseVersion, version: document.version },
      lock: (tx) => ctx.policies.lock(tx),
      record: async (tx, row, at) => {
        await ctx.policies.apply(
          tx,
          { operationId: row.id, baseVersion, document, createdBy: row.initiatorId },
          at,
        );
      },
    };
  },
};
