// key.resume: a suspended key signs again. Loosening needs the quorum (restricting, key.suspend, is immediate:
// server/operations/restrict.ts). The proposer names the key; the proposing transaction reads it (it must be
// suspended) and stores its label and tags in the payload, so approvers see which key, the digest covers
// them, and rules match on the tags as they were when proposed.
import { z } from "zod";
import { keyTagSchema } from "@/server/policy/schema";
import { StepRefusedError } from "../executor/step-refused";
import type { OperationKind } from "./types";

export const keyResumeInputSchema = z.object({ keyId: z.string().uuid() }).strict();
export type KeyResumeInput = z.infer<typeof keyResumeInputSchema>;

export const keyResumePayloadSchema = z
  .object({
    keyId: z.string().uuid(),
    label: z.string().min(1).max(200),
    tags: z.array(keyTagSchema).max(32),
  })
  .strict();
export type KeyResumePayload = z.infer<typeof keyResumePayloadSchema>;

export const keyResume: OperationKind<KeyResumePayload, KeyResumeInput> = {
  kind: "key.resume",
  proposers: ["operator", "admin"],
  payload: keyResumePayloadSchema,
  propose: {
    input: keyResumeInputSchema,
    async prepare(input, read) {
      const key = await read.key(input.keyId, ["suspended"]);
      return { keyId: key.id, label: key.label, tags: [...key.tags] };
    },
  },
  describe(p) {
    return {
      title: `Resume the key “${p.label}”`,
      lines: [
        { label: "Key", value: `${p.label} (${p.keyId})` },
        { label: "Tags", value: p.tags.length > 0 ? p.tags.join(", ") : "none" },
        { label: "Effect", value: "the suspended key becomes active and can sign again" },
      ],
    };
  },
  facts(p) {
    return { keyTags: [...p.tags] };
  },
  // Safe to repeat: suspended → active is a conditional update, and a key already active counts as done. A key
  // gone or moved on to deactivated, compromised or destroyed can never be resumed: the operation fails.
  async execute(ctx, op) {
    const state = await ctx.keys.stateOf(op.payload.keyId);
    if (state !== "suspended" && state !== "active") {
      throw new StepRefusedError(
        state === null ? `the key ${op.payload.keyId} does not exist` : `the key is ${state}: it cannot be resumed`,
      );
    }
    return {
      result: { keyId: op.payload.keyId },
      record: async (tx, row, at) => {
        await ctx.keys.resume(tx, { keyId: op.payload.keyId, operationId: row.id }, at);
      },
    };
  },
};
