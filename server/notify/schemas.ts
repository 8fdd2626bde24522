// Inputs shared by the notification forms and procedures (one zod schema each), browser-safe.
import { z } from "zod";
import { NOTIFY_EVENTS } from "@/db/schema/notifications";

export const notifyEventSchema = z.enum(NOTIFY_EVENTS);

const eventList = z
  .array(notifyEventSchema)
  .max(NOTIFY_EVENTS.length)
  .refine((xs) => new Set(xs).size === xs.length, "Each event once");

export const mySettingsInput = z.object({
  /** Null or empty: no e-mail. */
  email: z
    .union([z.literal(""), z.email("Enter an e-mail address like alice@example.com").max(254)])
    .nullable()
    .transform((e) => (e === "" ? null : e)),
  events: eventList,
});
export type MySettingsInput = z.input<typeof mySettingsInput>;

/** https:// anywhere, http:// only to this machine (a local relay, tests); no credentials in the URL. */
export const webhookUrlSchema = z
  .string()
  .trim()
  .max(2000, "At most 2,000 characters")
  .url("Enter a URL like https://hooks.example.com/keyward")
  .refine((u) => {
    const url = new URL(u);
    if (url.username !== "" || url.password !== "") return false;
    if (url.protocol === "https:") return true;
    return url.protocol === "http:" && ["localhost", "127.0.0.1", "[::1]"].includes(url.hostname);
  }, "Use https:// (http:// only for localhost or 127.0.0.1), without a user name or password in the URL");

export const addWebhookInput = z.object({
  url: webhookUrlSchema,
  description: z
    .string()
    .trim()
    .max(200, "At most 200 characters")
    .regex(/^[^\p{Cc}\p{Cf}]*$/u, "No control or formatting characters"),
  events: eventList.min(1, "Choose at least one event"),
});

export const EVENT_LABELS: Record<(typeof NOTIFY_EVENTS)[number], string> = {
  "operation.proposed": "An operation awaits my vote (with its deadline)",
  "operation.waiting": "A delay starts on an operation I voted on or may veto",
  "operation.executed": "My operation was executed",
  "operation.failed": "My operation failed",
  "operation.rejected": "My operation was rejected",
  "operation.expired": "My operation expired",
  "operation.cancelled": "My operation was cancelled",
  "withdrawal.broadcast": "My withdrawal was sent to its chain",
  "withdrawal.confirmed": "My withdrawal was confirmed on its chain",
  "withdrawal.failed": "My withdrawal failed on its chain",
  "withdrawal.dead": "My withdrawal will never confirm",
};
