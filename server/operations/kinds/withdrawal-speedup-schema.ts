// The withdrawal.speedup kind's schemas, on their own so the speed-up form and the tRPC router share them without
// loading any chain library: what a proposer sends (`speedUpInputSchema`: the withdrawal operation and the new
// fees, per gas in gwei and the cap in ETH, as typed) and the payload stored, digested and approved
// (`speedUpPayloadSchema`: wei as decimal strings, and everything the approvers see about the transaction it
// replaces). Pure and browser-safe.
import { z } from "zod";
import { BASE_UNITS_PATTERN } from "@/server/policy/amounts";
import { keyTagSchema } from "@/server/policy/schema";
import { DECIMAL_AMOUNT_PATTERN } from "./withdrawal-schema";

export const SPEEDUP_KIND = "withdrawal.speedup";

const decimalAmount = (what: string) =>
  z
    .string()
    .trim()
    .min(1, `${what} is required`)
    .max(160)
    .refine((s) => !s.startsWith("-"), `${what} cannot be negative`)
    .refine(
      (s) => s.startsWith("-") || DECIMAL_AMOUNT_PATTERN.test(s),
      `${what} must be a number written like 1.25 (digits, one decimal point, no sign or exponent)`,
    );

/** What a proposer sends: which withdrawal to speed up, its new fees, and the most the new fee may be. */
export const speedUpInputSchema = z
  .object({
    /** The withdrawal operation whose stuck Ethereum transaction is replaced (same nonce, higher fees). */
    withdrawalOperationId: z.string().uuid("withdrawalOperationId must be a withdrawal operation's id"),
    /** The replacement's max fee per gas, in gwei as typed ("3.5"). */
    maxFeePerGas: decimalAmount("the max fee per gas"),
    /** The replacement's priority fee (tip) per gas, in gwei as typed. */
    maxPriorityFeePerGas: decimalAmount("the priority fee per gas"),
    /** The most the replacement's fee may cost, in ETH as typed ("0.001"): at least gas limit × max fee. */
    feeCap: decimalAmount("the fee cap"),
    note: z
      .string()
      .trim()
      .max(500, "a note is at most 500 characters")
      .regex(/^[^\p{Cc}]*$/u, "the note cannot contain control characters")
      .optional(),
  })
  .strict();
export type SpeedUpInput = z.infer<typeof speedUpInputSchema>;

const baseUnits = z.string().regex(BASE_UNITS_PATTERN, "an amount in base units");
const txHash = z.string().regex(/^0x[0-9a-f]{64}$/, "an Ethereum transaction hash");

/** The payload as stored, digested, approved and executed. Wei and token base units as decimal strings. */
export const speedUpPayloadSchema = z
  .object({
    withdrawalOperationId: z.string().uuid(),
    /** The withdrawal's own first transaction: what it signed and broadcast. */
    originalTxid: txHash,
    /** The transaction this one replaces: the original, or the latest speed-up signed before this one. */
    replaces: z
      .object({
        operationId: z.string().uuid(),
        txid: txHash,
        maxFeePerGas: baseUnits,
        maxPriorityFeePerGas: baseUnits,
      })
      .strict(),
    // The withdrawal as approved (unchanged by a speed-up): shown again, matched by rules.
    keyId: z.string().uuid(),
    keyLabel: z.string().min(1).max(200),
    keyTags: z.array(keyTagSchema).max(32),
    /** The Ethereum chain id in decimal. */
    network: z.string().min(1).max(40),
    from: z.string().min(1).max(200),
    asset: z.string().min(1).max(32),
    decimals: z.number().int().min(0).max(36),
    amount: baseUnits,
    destination: z.string().min(1).max(200),
    /** The nonce both transactions carry: only one of them can ever be mined. */
    nonce: z.string().regex(/^(0|[1-9][0-9]{0,19})$/),
    gasLimit: baseUnits,
    /** The new fees, wei per gas. */
    maxFeePerGas: baseUnits,
    maxPriorityFeePerGas: baseUnits,
    /** The most the replacement may cost in fees, wei: the executor refuses to sign above it. */
    feeCap: baseUnits,
    /** The chain's base fee per gas when proposed (wei), when a node is configured. */
    baseFeeWhenProposed: baseUnits.optional(),
    note: z.string().max(500).optional(),
  })
  .strict();
export type SpeedUpPayload = z.infer<typeof speedUpPayloadSchema>;
