// key.activate: a key made in pre-activation (key.create with `preActivation`) becomes active and may sign.
// NIST SP 800-57's pre-activation state: the key exists (made in the HSM, public key and addresses known, so
// funds may be sent to it ahead of time) but is not yet authorised for use; activating it is loosening, so it
// needs the quorum under the rule in force for its kind and tags, like key.resume. The proposer names the key;
// the proposing transaction reads it (it must be in pre-activation: anything else is refused, CONFLICT, nothing
// written) and stores its label, tags, curve and public key in the payload, so approvers see which key, the
// digest covers it, and rules match on its tags as they were when proposed.
import { z } from "zod";
import { keyTagSchema } from "@/server/policy/schema";
import { StepRefusedError } from "../executor/step-refused";
import type { OperationKind } from "./types";

export const keyActivateInputSchema = z.object({ keyId: z.string().uuid() }).strict();
export type KeyActivateInput = z.infer<typeof keyActivateInputSchema>;

export const keyActivatePayloadSchema = z
  .object({
    keyId: z.string().uuid(),
    label: z.string().min(1).max(200),
    tags: z.array(keyTagSchema).max(32),
    curve: z.string().min(1).max(20),
    /** Hex of the raw public key, as recorded when the key was made. */
    publicKey: z
      .string()
      .min(2)
      .max(1024)
      .regex(/^[0-9a-f]+$/, "the public key is lower-case hex"),
  })
  .strict();
export type KeyActivatePayload = z.infer<typeof keyActivatePayloadSchema>;

export const keyActivate: OperationKind<KeyActivatePayload, KeyActivateInput> = {
  kind: "key.activate",
  proposers: ["operator", "admin"],
  payload: keyActivatePayloadSchema,
  propose: {
    input: keyActivateInputSchema,
    async prepare(input, read) {
      // CONFLICT naming its state for a key not in pre-activation (active, suspended, scheduled for destruction,
      // which deactivates it, …): only a key never activated is activated.
      const key = await read.key(input.keyId, ["pre-activation"]);
      return {
        keyId: key.id,
        label: key.label,
        tags: [...key.tags],
        curve: key.curve,
        publicKey: key.publicKey,
      };
    },
  },
  describe(p) {
    return {
      title: `Activate the key “${p.label}”`,
      lines: [
        { label: "Key", value: `${p.label} (${p.keyId})` },
        { label: "Tags", value: p.tags.length > 0 ? p.tags.join(", ") : "none" },
        { label: "Curve", value: p.curve },
        { label: "Public key", value: p.publicKey },
        {
          label: "Effect",
          value:
            "the key leaves pre-activation and becomes active: from then on it can sign (withdrawals from its addresses, under the policy in force)",
        },
      ],
    };
  },
  facts(p) {
    return { keyTags: [...p.tags] };
  },
  // No HSM step. Safe to repeat: pre-activation → active is a conditional update in the completing transaction,
  // and a key already active counts as done. A key gone, or moved on (compromised, deactivated by a scheduled
  // destruction, destroyed) since the proposal fails the operation: it can never be activated.
  async execute(ctx, op) {
    const state = await ctx.keys.stateOf(op.payload.keyId);
    if (state !== "pre-activation" && state !== "active") {
      throw new StepRefusedError(
        state === null
          ? `the key ${op.payload.keyId} does not exist`
          : `the key is ${state}: only a key in pre-activation can be activated`,
      );
    }
    return {
      result: { keyId: op.payload.keyId },
      record: async (tx, row, at) => {
        await ctx.keys.activate(tx, { keyId: op.payload.keyId, operationId: row.id }, at);
      },
    };
  },
};
