// The go-live ceremony: where it stands (every role may read it), and an admin's tap approving the policy version
// in force (beginTap for the challenge, tap with the assertion; roles, the admin set and everything the tap is
// bound to are re-checked in server/governance/go-live.ts). mode tells every page setup from live; onStatus is the
// live twin of status (server/live/).
import "server-only";
import { z } from "zod";
import { ROLES } from "@/db/schema/members";
import { webauthnConfig } from "@/server/auth/config";
import { authenticationResponseSchema } from "@/server/auth/schemas";
import { beginGoLiveTap, completeGoLiveTap, INSTALLATION_SUBJECT } from "@/server/governance/go-live";
import { goLiveStatus } from "@/server/governance/go-live-status";
import { installationMode } from "@/server/governance/mode";
import { touches } from "@/server/live/audit-head";
import { liveRead, liveSessionPolicy } from "@/server/live/live-read";
import { createTRPCRouter, withRole } from "../trpc";

/** tRPC's tracked() id of the last snapshot a reconnecting client holds. */
const lastEventId = z.string().max(32).nullish();

export const governanceRouter = createTRPCRouter({
  /** Setup or live (since when, under which policy version): the badge on every page. */
  mode: withRole(...ROLES).query(({ ctx }) => installationMode(ctx.db)),

  /** The checklist and the go-live panel: admins and their taps, each rule's groups, the verdict, the problems. */
  status: withRole(...ROLES).query(({ ctx }) => goLiveStatus(ctx.db)),

  /**
   * governance.status, live: again at every tap and at going live (subject installation), and at any change to a
   * member, a token or the policy, which may change the admins, the checklist or the version a tap must bind.
   */
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
        relevant: (change) =>
          touches(change, {
            subjects: [INSTALLATION_SUBJECT],
            kinds: ["member", "token", "policy", "invitation"],
          }),
        read: () => goLiveStatus(ctx.db),
      }),
    ),

  beginTap: withRole("admin").mutation(({ ctx }) =>
    beginGoLiveTap(ctx.db, webauthnConfig(), { actor: ctx.member, now: ctx.clock() }),
  ),

  tap: withRole("admin")
    .input(z.object({ response: authenticationResponseSchema }))
    .mutation(({ ctx, input }) =>
      completeGoLiveTap(ctx.db, webauthnConfig(), {
        actor: ctx.member,
        response: input.response,
        now: ctx.clock(),
      }),
    ),
});
