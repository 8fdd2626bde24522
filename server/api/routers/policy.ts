// The quorum policy: every role reads the version in force and its history; admins preview a draft (problems by
// field, the diff, the reachability verdict) and, in setup, append new versions directly — once live,
// updatePolicy refuses and a change is the operation policy.update (server/operations/kinds/policy-update.ts).
// A direct save re-judges open operations under the new version, as a policy.update's execution does.
import "server-only";
import { z } from "zod";
import { policyHistory } from "@/server/governance/policy-history";
import { rejudgeOpenOperations } from "@/server/governance/rejudge";
import { previewPolicy } from "@/server/governance/policy-preview";
import { policyInForce, updatePolicy } from "@/server/operations/policy-store";
import { describePolicy } from "@/server/policy/describe";
import { createTRPCRouter, withRole } from "../trpc";

export const policyRouter = createTRPCRouter({
  current: withRole("admin", "operator", "approver", "auditor").query(async ({ ctx }) => {
    const policy = await policyInForce(ctx.db);
    return policy ? { ...policy, inWords: describePolicy(policy.document) } : null;
  }),

  /** Every version, newest first: number, when, by whom, digest. */
  history: withRole("admin", "operator", "approver", "auditor").query(({ ctx }) => policyHistory(ctx.db)),

  /**
   * A draft judged without saving it: field-named problems, or the diff and the reachability verdict. It writes
   * nothing; a mutation only so the document travels in the request body, not in a GET URL of bounded length.
   */
  preview: withRole("admin")
    .input(z.object({ document: z.unknown() }))
    .mutation(({ ctx, input }) => previewPolicy(ctx.db, { document: input.document })),

  update: withRole("admin")
    .input(z.object({ document: z.unknown() }))
    .mutation(({ ctx, input }) => {
      const now = ctx.clock();
      return updatePolicy(ctx.db, {
        actor: ctx.member,
        document: input.document,
        now,
        // In setup mode too, open operations are judged again under the version just saved, by the same rule a
        // policy.update's execution follows (server/governance/rejudge.ts).
        afterAppend: (tx, applied, actor) =>
          rejudgeOpenOperations(tx, { newVersion: applied.version, now, cause: "policy", actor }),
      });
    }),
});
