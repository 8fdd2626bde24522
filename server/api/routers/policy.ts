// The quorum policy: everyone signed in may read the version in force; admins append new versions (until the
// governance issue makes a policy change an operation of its own).
import "server-only";
import { z } from "zod";
import { policyInForce, updatePolicy } from "@/server/operations/policy-store";
import { describePolicy } from "@/server/policy/describe";
import { createTRPCRouter, withRole } from "../trpc";

export const policyRouter = createTRPCRouter({
  current: withRole("admin", "operator", "approver", "auditor").query(async ({ ctx }) => {
    const policy = await policyInForce(ctx.db);
    return policy ? { ...policy, inWords: describePolicy(policy.document) } : null;
  }),

  update: withRole("admin")
    .input(z.object({ document: z.unknown() }))
    .mutation(({ ctx, input }) =>
      updatePolicy(ctx.db, { actor: ctx.member, document: input.document, now: ctx.clock() }),
    ),
});
