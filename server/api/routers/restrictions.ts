// Restrictions in force: freezing all signing at once (one fresh tap: beginFreeze for the challenge, freeze with
// the tap; roles re-checked in server/operations/freeze.ts) and what every page's banner shows. Lifting a freeze
// is a signing.unfreeze operation, proposed through operations.propose. onStatus is the live twin of status
// (server/live/).
import "server-only";
import { z } from "zod";
import { ROLES } from "@/db/schema/members";
import { webauthnConfig } from "@/server/auth/config";
import { authenticationResponseSchema } from "@/server/auth/schemas";
import { beginFreezeSigning, freezeSigning, restrictionStatus } from "@/server/operations/freeze";
import { freezeReasonSchema } from "@/server/operations/freeze-reason";
import { liveRead, liveSessionPolicy } from "@/server/live/live-read";
import { restrictionsShown, touchesRestrictions } from "@/server/live/restrictions";
import { createTRPCRouter, withRole } from "../trpc";

const freezeInput = z.object({ reason: freezeReasonSchema });
/** tRPC's tracked() id of the last snapshot a reconnecting client holds. */
const lastEventId = z.string().max(32).nullish();

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

  /** restrictions.status, live: again at a freeze, at its lifting, and when a key is suspended or resumed. */
  onStatus: withRole(...ROLES)
    .input(z.object({ lastEventId }).optional())
    .subscription(({ ctx, input, signal }) =>
      liveRead({
        db: ctx.db,
        session: ctx.session,
        roles: ROLES,
        policy: liveSessionPolicy(),
        clock: ctx.clock,
        signal,
        lastEventId: input?.lastEventId,
        relevant: touchesRestrictions,
        read: () => restrictionsShown(ctx.db),
      }),
    ),

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
