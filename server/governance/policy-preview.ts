// A draft policy judged before anyone saves or proposes it: whether it validates (each problem naming its
// field), how it differs from the version in force rule by rule, and which rules the members as they are now
// could never meet. It only reads, in one transaction so the version, the members and the mode are one instant.
import "server-only";
import type { Db } from "@/db/client";
import { type InstallationMode, installationMode } from "@/server/governance/mode";
import { eligibleMembers } from "@/server/governance/members-snapshot";
import { policyInForce } from "@/server/operations/policy-store";
import { describePolicy, type PolicyInWords } from "@/server/policy/describe";
import { diffPolicies, type PolicyDiff } from "@/server/policy/diff";
import { DEFAULT_POLICY, policyDigest, policyDocumentSchema } from "@/server/policy/document";
import { type Unreachable, unreachableRules } from "@/server/policy/reachability";

/** At most this many problems are listed: the first ones are what a person fixes first. */
const MAX_PROBLEMS = 20;

export type PolicyPreview =
  | { ok: false; errors: { field: string; message: string }[] }
  | {
      ok: true;
      /** The version in force the draft is compared with (and that a proposal names as its base). */
      baseVersion: number;
      /** The number it would be stored under, and its digest with that number (what votes would bind). */
      version: number;
      digest: string;
      inWords: PolicyInWords;
      diff: PolicyDiff;
      /** [] when every rule can be met by the members as they are now. */
      unreachable: Unreachable[];
      mode: InstallationMode["mode"];
    };

export async function previewPolicy(db: Db, input: { document: unknown }): Promise<PolicyPreview> {
  const parsed = policyDocumentSchema.safeParse(input.document);
  if (!parsed.success)
    return {
      ok: false,
      errors: parsed.error.issues.slice(0, MAX_PROBLEMS).map((i) => ({
        field: i.path.length > 0 ? i.path.join(".") : "(the document)",
        message: i.message,
      })),
    };
  return db.transaction(async (tx) => {
    const current = await policyInForce(tx);
    // Before any version exists, saving seeds DEFAULT_POLICY first (updatePolicy): the draft follows it.
    const base = current?.document ?? DEFAULT_POLICY;
    const baseVersion = current?.version ?? DEFAULT_POLICY.version;
    // Stored as the next version whatever its version field says (appendPolicyVersion), so judged as that.
    const draft = { ...parsed.data, version: baseVersion + 1 };
    const members = await eligibleMembers(tx);
    const mode = await installationMode(tx);
    return {
      ok: true as const,
      baseVersion,
      version: draft.version,
      digest: policyDigest(draft),
      inWords: describePolicy(draft),
      diff: diffPolicies(base, draft),
      unreachable: unreachableRules(draft, members),
      mode: mode.mode,
    };
  });
}
