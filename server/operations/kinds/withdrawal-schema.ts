// The withdrawal kind's schemas, on their own so the propose form, the tRPC router and the HTTP API (service
// accounts) share them without loading any chain library: what a proposer sends (`withdrawalInputSchema`, amounts
// in the asset's units as typed: "1.25") and the payload stored, digested and approved
// (`withdrawalPayloadSchema`, amounts in base units as decimal strings). Pure and browser-safe.
import { z } from "zod";
import { CHAINS } from "@/server/custody/types";
import { BASE_UNITS_PATTERN } from "@/server/policy/amounts";
import { keyTagSchema } from "@/server/policy/schema";

/** "1.25" as a person types it: digits with at most one decimal point, no sign, no exponent. */
export const DECIMAL_AMOUNT_PATTERN = /^[0-9]{1,78}(\.[0-9]{1,78})?$/;

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

const noteSchema = z
  .string()
  .trim()
  .max(500, "a note is at most 500 characters")
  .regex(/^[^\p{Cc}]*$/u, "the note cannot contain control characters");

/** Base64 (standard alphabet, padded), as wallets export PSBTs; at most ~300 KB of PSBT. */
const psbtSchema = z
  .string()
  .trim()
  .min(1, "the PSBT is empty")
  .max(400_000, "the PSBT is larger than Keyward accepts (300 KB)")
  .regex(/^[A-Za-z0-9+/]+={0,2}$/, "the PSBT must be base64 (as wallets export it)");

/**
 * An unsigned transaction from the wallet backend: Ethereum as 0x-hex (an EIP-1559 type-2 transaction), Solana as
 * base64 (the unsigned wire transaction, or the message alone). Which of the two the chain decides (prepare.ts).
 */
const unsignedTransactionSchema = z
  .string()
  .trim()
  .min(1, "the unsigned transaction is empty")
  .max(20_000, "the unsigned transaction is larger than Keyward accepts (about 15 KB)")
  .regex(
    /^(0[xX][0-9a-fA-F]+|[A-Za-z0-9+/]+={0,2})$/,
    "the unsigned transaction must be 0x-hex (Ethereum) or base64 (Solana)",
  );

/** What a proposer sends: which key pays, what to whom, and the most the fee may be. */
export const withdrawalInputSchema = z
  .object({
    keyId: z.string().uuid("keyId must be a key's id"),
    chain: z.enum(CHAINS, { message: `chain must be one of ${CHAINS.join(", ")}` }),
    /**
     * Optional: the network the proposer means ("11155111", "regtest", "devnet"); refused when Keyward runs the
     * chain on another, so a backend pointed at the wrong network is told instead of paying there.
     */
    network: z.string().trim().min(1).max(40).optional(),
    /** The asset's symbol on the chain: "BTC", "ETH", "SOL", "USDC". */
    asset: z.string().trim().min(1, "the asset is required").max(32),
    /** In the asset's units, as typed: "1.25" USDC is 1250000 base units. */
    amount: decimalAmount("the amount"),
    destination: z.string().trim().min(1, "the destination is required").max(200),
    /** The most the fee may cost, in the chain's native coin's units ("0.001" ETH). */
    feeCap: decimalAmount("the fee cap"),
    /** Bitcoin only, and required there: the unsigned PSBT the wallet backend made, whose exact bytes are approved. */
    psbt: psbtSchema.optional(),
    /**
     * Ethereum and Solana only, optional: the wallet backend's unsigned transaction, whose exact bytes approvers
     * approve (decoded for them) instead of Keyward building one at execution. It must do exactly what the other
     * fields say, from the key, within the fee cap; Ethereum: its nonce must be the key's next when it executes.
     */
    unsignedTransaction: unsignedTransactionSchema.optional().meta({
      description:
        "Optional, Ethereum and Solana: the wallet backend's unsigned transaction — Ethereum an EIP-1559 " +
        "(type 2) transaction as 0x-hex, Solana the unsigned wire transaction or its message as base64. " +
        "Approvers approve these exact bytes, decoded; they must pay exactly `amount` of `asset` to " +
        "`destination` from the key (Solana: the key is the fee payer), on the configured chain id, with a " +
        "maximum fee (gas limit × max fee per gas; Solana: signature fee and priority fee) within `feeCap`. " +
        "Ethereum: the nonce must be the key's next nonce when the withdrawal executes; Solana: the blockhash " +
        "must still be valid then.",
    }),
    note: noteSchema.optional(),
  })
  .strict();
export type WithdrawalInput = z.infer<typeof withdrawalInputSchema>;

const baseUnits = z.string().regex(BASE_UNITS_PATTERN, "an amount in base units");

/** The payload as stored, digested, approved and executed. */
export const withdrawalPayloadSchema = z
  .object({
    keyId: z.string().uuid(),
    /** The key's label and tags when proposed: shown to approvers, matched by rules. */
    keyLabel: z.string().min(1).max(200),
    keyTags: z.array(keyTagSchema).max(32),
    chain: z.enum(CHAINS),
    /** "regtest"; the Ethereum chain id in decimal; the Solana cluster. */
    network: z.string().min(1).max(40),
    /** The key's own address on the chain (canonical). */
    from: z.string().min(1).max(200),
    asset: z.string().min(1).max(32),
    /** The asset's decimals when proposed (for words only: every comparison is on base units). */
    decimals: z.number().int().min(0).max(36),
    amount: baseUnits,
    /** Canonical form (EIP-55, lower-case bech32, base58). */
    destination: z.string().min(1).max(200),
    /** Native coin base units. */
    feeCap: baseUnits,
    /** The chain's fee for this transaction when proposed, native base units (Bitcoin: the PSBT's exact fee). */
    feeEstimate: baseUnits.optional(),
    psbt: z.string().min(1).max(400_000).optional(),
    /**
     * An imported Ethereum or Solana transaction, as approved and as the executor signs it: Ethereum lower-case
     * 0x-hex; Solana the base64 unsigned wire transaction (a message imported alone is stored inside one: the same
     * message bytes, which are what the key signs).
     */
    unsignedTransaction: z.string().min(1).max(30_000).optional(),
    /** With an imported transaction of a token: the token's contract (ERC-20) or mint (SPL), to decode it for display. */
    contract: z.string().min(1).max(200).optional(),
    note: z.string().max(500).optional(),
  })
  .strict()
  .refine((p) => (p.chain === "bitcoin") === (p.psbt !== undefined), {
    message: "a Bitcoin withdrawal carries its PSBT, and only a Bitcoin withdrawal does",
    path: ["psbt"],
  })
  .refine((p) => p.chain !== "bitcoin" || p.unsignedTransaction === undefined, {
    message: "a Bitcoin withdrawal carries a PSBT, not an unsigned transaction",
    path: ["unsignedTransaction"],
  })
  .refine((p) => p.contract === undefined || p.unsignedTransaction !== undefined, {
    message: "a token contract is carried only with an imported transaction",
    path: ["contract"],
  });
export type WithdrawalPayload = z.infer<typeof withdrawalPayloadSchema>;
