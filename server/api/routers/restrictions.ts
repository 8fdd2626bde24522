// Restrictions in force: freezing all signing at once (one fresh tap: beginFreeze for the challenge, freeze with
// the tap; roles re-checked in server/operations/freeze.ts) and what every page's banner shows. Lifting a freeze
// is a signing.unfreeze operation, proposed through operations.propose.
import "server-only";
import { z } from "zod";
import { webauthnConfig } from "@/server/auth/config";
import { authenticationResponseSchema } from "@/server/auth/schemas";
import { beginFreezeSigning, freezeSigning, restrictionStatus } from "@/server/operations/freeze";
import { freezeReasonSchema } from "@/server/operations/freeze-reason";
import { createTRPCRouter, withRole } from "../trpc";

const freezeInput = z.object({ reason: freezeReasonSchema });

export const restrictionsRouter = createTRPCRouter({
  /** The freeze in force (who, when, why) and how many keys are suspended: shown on every page. */
  status: withRole("admin", "operator", "approver", "auditor").query(async ({ ctx }) => {
    const { freeze, suspendedKeys } = await restrictionStatus(ctx.db);
    return {
      freeze: freeze && {
        id: freeze.id,
        frozenAt: freeze.frozenAt,
        frozenBy: freeze.frozenBy,
        reason: freeze.reason,
      },
      suspendedKeys,
    };
  }),

  // The tap is bound to the reason ("" for none): the freeze must be completed with the same one.
  beginFreeze: withRole("admin", "approver")
    .input(freezeInput)
    .mutation(({ ctx, input }) =>
      beginFreezeSigning(ctx.db, webauthnConfig(), {
        actor: ctx.member,
        reason: input.reason,
        now: ctx.clock(),
      }),
    ),

  freeze: withRole("admin", "approver")
    .input(freezeInput.extend({ response: authenticationResponseSchema }))
    .mutation(({ ctx, input }) =>
      freezeSigning(ctx.db, webauthnConfig(), {
        actor: ctx.member,
        response: input.response,
        reason: input.reason,
        now: ctx.clock(),
      }),
    ),
});
