// Notifications: every member's own e-mail address and choices; admins' webhook endpoints and the delivery log.
// Whether e-mail is on comes from the configuration (KEYWARD_SMTP_URL), shown without its password.
import "server-only";
import { z } from "zod";
import { ROLES } from "@/db/schema/members";
import { env } from "@/server/env";
import { deliveryLog } from "@/server/notify/log";
import { notifyStatus } from "@/server/notify/notifier";
import { addWebhookInput, mySettingsInput } from "@/server/notify/schemas";
import { mySettings, updateMySettings } from "@/server/notify/settings";
import { addWebhook, disableWebhook, listWebhooks } from "@/server/notify/webhooks";
import { createTRPCRouter, withRole } from "../trpc";

/** The e-mail state for pages; "off" as well when the configuration cannot be read. */
function emailState() {
  try {
    return notifyStatus(env().smtp).email;
  } catch {
    return {
      on: false as const,
      reason: "E-mail notifications are off: the configuration could not be read.",
    };
  }
}

export const notificationsRouter = createTRPCRouter({
  mine: withRole(...ROLES).query(async ({ ctx }) => {
    const settings = await mySettings(ctx.db, ctx.member.id);
    const email = emailState();
    return { ...settings, emailOn: email.on, emailOffReason: email.on ? null : email.reason };
  }),

  updateMine: withRole(...ROLES)
    .input(mySettingsInput)
    .mutation(({ ctx, input }) =>
      updateMySettings(ctx.db, { memberId: ctx.member.id, settings: input, now: ctx.clock() }),
    ),

  status: withRole(...ROLES).query(() => ({ email: emailState() })),

  webhooks: withRole("admin").query(({ ctx }) => listWebhooks(ctx.db)),

  addWebhook: withRole("admin")
    .input(addWebhookInput)
    .mutation(({ ctx, input }) =>
      addWebhook(ctx.db, { actorId: ctx.member.id, endpoint: input, now: ctx.clock() }),
    ),

  disableWebhook: withRole("admin")
    .input(z.object({ endpointId: z.string().uuid() }))
    .mutation(({ ctx, input }) =>
      disableWebhook(ctx.db, { actorId: ctx.member.id, endpointId: input.endpointId, now: ctx.clock() }),
    ),

  deliveries: withRole("admin")
    .input(z.object({ limit: z.number().int().min(1).max(500).default(100) }).default({ limit: 100 }))
    .query(({ ctx, input }) => deliveryLog(ctx.db, { limit: input.limit })),
});
