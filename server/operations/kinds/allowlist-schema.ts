// allowlist.update's schemas, on their own so the allow-lists page's form validates with them without loading
// any chain library: what a proposer sends (addresses as pasted) and the payload stored, digested and approved
// (addresses in their chain's canonical form, checked by the kind's prepare with the chain module's parseAddress).
// Pure and browser-safe.
import { z } from "zod";
import { CHAINS } from "@/server/custody/types";
import { allowListNameSchema } from "@/server/policy/clauses";

export const ALLOWLIST_UPDATE_KIND = "allowlist.update";

/** At most this many additions and removals together in one operation (each is shown to the approvers). */
export const MAX_ALLOWLIST_CHANGES = 100;

const labelSchema = z
  .string()
  .trim()
  .min(1, "a label has 1 to 60 characters")
  .max(60, "a label has 1 to 60 characters")
  .regex(/^[^\p{Cc}\p{Cf}]*$/u, "a label has no control or formatting characters");

const pastedAddress = z
  .string()
  .trim()
  .min(1, "the address is required")
  .max(200, "an address is at most 200 characters");

export const allowlistUpdateInputSchema = z
  .object({
    list: allowListNameSchema,
    chain: z.enum(CHAINS, { message: `chain must be one of ${CHAINS.join(", ")}` }),
    add: z.array(z.object({ address: pastedAddress, label: labelSchema.optional() }).strict()).default([]),
    remove: z.array(pastedAddress).default([]),
  })
  .strict()
  .refine((p) => p.add.length + p.remove.length > 0, {
    message: "Add or remove at least one address",
    path: ["add"],
  })
  .refine((p) => p.add.length + p.remove.length <= MAX_ALLOWLIST_CHANGES, {
    message: `At most ${MAX_ALLOWLIST_CHANGES} additions and removals in one change`,
    path: ["add"],
  });
export type AllowlistUpdateInput = z.input<typeof allowlistUpdateInputSchema>;

const canonical = z.string().min(1).max(200);
const entrySchema = z.object({ address: canonical, label: labelSchema.optional() }).strict();

/** The payload as stored, digested, approved and executed. */
export const allowlistUpdatePayloadSchema = z
  .object({
    list: allowListNameSchema,
    chain: z.enum(CHAINS),
    /** The network the addresses were checked for: "testnet", "11155111", "devnet". */
    network: z.string().min(1).max(40),
    add: z.array(entrySchema).max(MAX_ALLOWLIST_CHANGES),
    /** With the label each had on the list, for the words. */
    remove: z.array(entrySchema).max(MAX_ALLOWLIST_CHANGES),
    /** How many addresses the list held on this chain when proposed. */
    before: z.int().min(0),
  })
  .strict()
  .refine((p) => p.add.length + p.remove.length > 0, { message: "no change", path: ["add"] })
  .refine(
    (p) => new Set([...p.add, ...p.remove].map((e) => e.address)).size === p.add.length + p.remove.length,
    { message: "each address once", path: ["add"] },
  );
export type AllowlistUpdatePayload = z.infer<typeof allowlistUpdatePayloadSchema>;
