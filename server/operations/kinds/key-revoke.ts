// key.revoke: the key is compromised and never signs again. NIST SP 800-57's compromised state: reached from
// pre-activation, active, suspended or deactivated, and final except for destruction. The proposer names the key and says why;
// the proposing transaction reads the key (label and tags as they are now) into the payload, so approvers see
// which key, the digest covers it, and rules match on its tags.
import { z } from "zod";
import { keyTagSchema } from "@/server/policy/schema";
import { StepRefusedError } from "../executor/step-refused";
import type { OperationKind } from "./types";

/** Kept in step with executor/keys.ts REVOCABLE_STATES (that file is server-only; this one is browser-safe). */
const REVOCABLE = ["pre-activation", "active", "suspended", "deactivated"] as const;

const reasonSchema = z
  .string()
  .trim()
  .min(1, "say why the key is compromised")
  .max(500, "at most 500 characters")
  // Shown to approvers: no control or formatting characters that could fake a line or reorder text.
  .regex(/^[^\p{Cc}\p{Cf}]*$/u, "the reason cannot contain control characters");

export const keyRevokeInputSchema = z.object({ keyId: z.string().uuid(), reason: reasonSchema }).strict();
export type KeyRevokeInput = z.infer<typeof keyRevokeInputSchema>;

export const keyRevokePayloadSchema = z
  .object({
    keyId: z.string().uuid(),
    label: z.string().min(1).max(200),
    tags: z.array(keyTagSchema).max(32),
    reason: reasonSchema,
  })
  .strict();
export type KeyRevokePayload = z.infer<typeof keyRevokePayloadSchema>;

export const keyRevoke: OperationKind<KeyRevokePayload, KeyRevokeInput> = {
  kind: "key.revoke",
  proposers: ["operator", "admin"],
  payload: keyRevokePayloadSchema,
  propose: {
    input: keyRevokeInputSchema,
    async prepare(input, read) {
      const key = await read.key(input.keyId, REVOCABLE);
      return { keyId: key.id, label: key.label, tags: [...key.tags], reason: input.reason };
    },
  },
  describe(p) {
    return {
      title: `Revoke the key “${p.label}” as compromised`,
      lines: [
        { label: "Key", value: `${p.label} (${p.keyId})` },
        { label: "Tags", value: p.tags.length > 0 ? p.tags.join(", ") : "none" },
        { label: "Reason", value: p.reason },
        {
          label: "Effect",
          value: "the key becomes compromised: it never signs again; it can afterwards only be destroyed",
        },
      ],
    };
  },
  facts(p) {
    return { keyTags: [...p.tags] };
  },
  // No HSM step. Safe to repeat: the record is a conditional update and an already compromised key counts as
  // done. A key destroyed or gone since the proposal fails the operation.
  async execute(ctx, op) {
    const state = await ctx.keys.stateOf(op.payload.keyId);
    if (state === null) throw new StepRefusedError(`the key ${op.payload.keyId} does not exist`);
    if (state !== "compromised" && !REVOCABLE.some((s) => s === state))
      throw new StepRefusedError(`the key is ${state}: it cannot be revoked`);
    return {
      result: { keyId: op.payload.keyId },
      record: async (tx, row, at) => {
        await ctx.keys.revoke(
          tx,
          { keyId: op.payload.keyId, operationId: row.id, reason: op.payload.reason },
          at,
        );
      },
    };
  },
};
