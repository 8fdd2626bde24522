// The HTTP API's own schemas (zod): the Idempotency-Key header, a withdrawal's status as the API answers it,
// and RFC 9457 problem details. With the withdrawal kind's input schema (server/operations/kinds/
// withdrawal-schema.ts) they are the single source of both the route handlers' checks and the OpenAPI
// document (openapi.ts), so the document cannot drift from what the server accepts.
import { z } from "zod";
import { OPERATION_STATES } from "@/db/schema/operations";
import { WITHDRAWAL_STATES } from "@/db/schema/withdrawals";
import { CHAINS } from "@/server/custody/types";

/** Printable ASCII, 1–255 characters, as the IETF idempotency-key draft and Stripe accept (a UUID fits). */
export const idempotencyKeySchema = z
  .string({ message: "the Idempotency-Key header is required" })
  .min(1, "the Idempotency-Key header is required")
  .max(255, "the Idempotency-Key header is at most 255 characters")
  .regex(/^[\x21-\x7e]+$/, "the Idempotency-Key header must be printable ASCII without spaces")
  .meta({
    description:
      "A key you choose per withdrawal (a UUID is a good one). Sent again with the same body, the request " +
      "returns the same withdrawal and answer; with another body it is refused with 409.",
    example: "9f3c2b1e-4d5a-4b6c-8d7e-0f1a2b3c4d5e",
  });

export const withdrawalIdSchema = z.string().uuid("the id must be a withdrawal id (a UUID)").meta({
  description: "The withdrawal's id: the id of its operation, as returned by POST /api/v1/withdrawals.",
  example: "0b7e3f52-7c1d-4c8e-9a41-5d2f6e8a9b10",
});

const baseUnits = z.string().meta({ description: "An amount in base units, as a decimal string." });

export const withdrawalStatusSchema = z
  .object({
    id: withdrawalIdSchema,
    state: z.enum(OPERATION_STATES).meta({
      description:
        "The operation's state: pending (waiting for votes), waiting (a delay or window), approved, executing, " +
        "executed (signed), failed, rejected, expired or cancelled.",
    }),
    chain: z.enum(CHAINS),
    network: z.string(),
    asset: z.string(),
    decimals: z.number().int(),
    amount: baseUnits,
    destination: z.string(),
    feeCap: baseUnits,
    createdAt: z.string().meta({ description: "When it was proposed (ISO 8601, UTC)." }),
    expiresAt: z.string().meta({ description: "When it expires unless it reaches its quorum." }),
    transaction: z
      .object({
        state: z.enum(WITHDRAWAL_STATES),
        txid: z.string().nullable(),
        confirmations: z.number().int(),
        reason: z.string().nullable(),
      })
      .nullable()
      .meta({ description: "The chain transaction once the executor built it; null before." }),
  })
  .meta({ id: "WithdrawalStatus" });
export type WithdrawalStatus = z.infer<typeof withdrawalStatusSchema>;

export const problemSchema = z
  .object({
    type: z.string().meta({ description: "urn:keyward:problem:<code>" }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string().meta({ description: "Keyward's error code: switch on this, not on the text." }),
    field: z.string().nullable().meta({ description: "The request field (or header) at fault, if one is." }),
    errors: z
      .array(z.object({ field: z.string(), message: z.string() }))
      .optional()
      .meta({ description: "Every invalid field, when the body failed validation." }),
  })
  .meta({ id: "Problem", description: "RFC 9457 problem details." });
export type Problem = z.infer<typeof problemSchema>;
