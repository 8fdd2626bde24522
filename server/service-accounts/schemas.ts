// Inputs of the service-account forms and procedures (one zod schema each), browser-safe.
import { z } from "zod";
import { SERVICE_SCOPES } from "@/db/schema/service-accounts";
import { webhookUrlSchema } from "@/server/notify/schemas";

export const MAX_EXPIRY_DAYS = 365;
export const DEFAULT_RATE_PER_MINUTE = 600;

export const createServiceAccountInput = z.object({
  name: z
    .string()
    .trim()
    .min(1, "Give the account a name, e.g. exchange-backend")
    .max(64, "At most 64 characters")
    .regex(/^[a-z0-9][a-z0-9._-]*$/, "Lower-case letters, digits, dots, dashes and underscores only"),
  scopes: z
    .array(z.enum(SERVICE_SCOPES))
    .min(1, "Choose at least one scope")
    .max(SERVICE_SCOPES.length)
    .refine((xs) => new Set(xs).size === xs.length, "Each scope once"),
  /** Every key expires: in 1 to 365 days. */
  expiresInDays: z
    .number()
    .int("Whole days")
    .min(1, "At least 1 day")
    .max(MAX_EXPIRY_DAYS, `At most ${MAX_EXPIRY_DAYS} days`),
  ratePerMinute: z
    .number()
    .int("A whole number of requests")
    .min(1, "At least 1 request a minute")
    .max(100_000, "At most 100,000 requests a minute")
    .default(DEFAULT_RATE_PER_MINUTE),
  /** Where the account's withdrawal status webhooks go; empty: none. */
  webhookUrl: z
    .union([z.literal(""), webhookUrlSchema])
    .nullish()
    .transform((u) => (u === "" || u === undefined || u === null ? null : u)),
});
export type CreateServiceAccountInput = z.input<typeof createServiceAccountInput>;

export const revokeServiceAccountInput = z.object({ id: z.string().uuid("Not a service account id") });
