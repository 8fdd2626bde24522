// key.rotate: a successor key replaces an active one. The successor is made on the HSM with the same curve,
// tags and exportability; the old key is deactivated: it stops receiving, and remains for sweeping its funds to
// the successor (the withdrawals issue lets a deactivated key sign only that sweep). Proposed by a person, or
// by Keyward itself when the policy's rotation period for one of the key's tags has passed
// (server/operations/rotation-due.ts); either way it needs its quorum.
import { z } from "zod";
import { keyTagSchema } from "@/server/policy/schema";
import { StepRefusedError } from "../executor/step-refused";
import type { ExecuteResult } from "../executor/types";
import { KEY_CURVES, type KeyCurve } from "./key-create";
import type { OperationKind } from "./types";

const labelSchema = z
  .string()
  .trim()
  .min(1, "a key needs a label")
  .max(200)
  .regex(/^[^\p{Cc}]*$/u, "the label cannot contain control characters");

export const keyRotateInputSchema = z
  .object({ keyId: z.string().uuid(), successorLabel: labelSchema.optional() })
  .strict();
export type KeyRotateInput = z.infer<typeof keyRotateInputSchema>;

export const keyRotatePayloadSchema = z
  .object({
    keyId: z.string().uuid(),
    label: z.string().min(1).max(200),
    tags: z.array(keyTagSchema).max(32),
    successorLabel: labelSchema,
  })
  .strict();
export type KeyRotatePayload = z.infer<typeof keyRotatePayloadSchema>;

/** "<label> (rotated <YYYY-MM-DD>)", the old label shortened so the whole stays within 200 characters. */
export function successorLabelFor(label: string, on: Date): string {
  const suffix = ` (rotated ${on.toISOString().slice(0, 10)})`;
  return `${label.slice(0, 200 - suffix.length)}${suffix}`;
}

const isCurve = (c: string): c is KeyCurve => KEY_CURVES.some((k) => k === c);

export const keyRotate: OperationKind<KeyRotatePayload, KeyRotateInput> = {
  kind: "key.rotate",
  proposers: ["operator", "admin"],
  payload: keyRotatePayloadSchema,
  propose: {
    input: keyRotateInputSchema,
    async prepare(input, read) {
      const key = await read.key(input.keyId, ["active"]);
      return {
        keyId: key.id,
        label: key.label,
        tags: [...key.tags],
        successorLabel: input.successorLabel ?? `${key.label.slice(0, 190)} (rotated)`,
      };
    },
  },
  describe(p) {
    return {
      title: `Rotate the key “${p.label}”`,
      lines: [
        { label: "Key", value: `${p.label} (${p.keyId})` },
        { label: "Tags", value: p.tags.length > 0 ? p.tags.join(", ") : "none" },
        {
          label: "Successor",
          value: `${p.successorLabel}: a new key with the same curve, tags and exportability`,
        },
        {
          label: "Effect",
          value:
            "the successor becomes active; the old key is deactivated: it stops receiving and remains only for sweeping its funds to the successor",
        },
      ],
    };
  },
  facts(p) {
    return { keyTags: [...p.tags] };
  },
  // Safe to repeat: the successor's HSM reference is derived from the operation id (as key.create's), so a
  // repeat after a lost answer or a crash finds the successor a first attempt made instead of making a second.
  // Only an active key is rotated. A key suspended, revoked or destroyed before anything was made fails the
  // operation and leaves nothing. A key restricted after an earlier try made the successor (between the HSM step
  // and its record, whose conditional update then refuses and rolls back) is found again on the repeat: the
  // successor is recorded suspended, the old key keeps its restricted state, and the operation ends failed
  // saying so (recordSuccessorOfRestricted). A restricted key is never reactivated or deactivated by a rotation.
  async execute(ctx, op): Promise<ExecuteResult> {
    const key = await ctx.keys.get(op.payload.keyId);
    if (key === null) throw new StepRefusedError(`the key ${op.payload.keyId} does not exist`);
    const curve = key.curve;
    if (!isCurve(curve)) throw new StepRefusedError(`the key's curve ${curve} cannot be made again`);
    const ref = ctx.signer.operationKeyRef(op.id);
    const successorOf = (made: { ref: string; publicKey: Buffer }) => ({
      operationId: op.id,
      label: op.payload.successorLabel,
      curve,
      tags: [...key.tags],
      exportable: key.exportable,
      hsmRef: made.ref,
      publicKey: made.publicKey.toString("hex"),
    });
    if (key.state !== "active") {
      // On the first try of the first claim nothing can have been made: no token-wide search.
      const made = ctx.firstTry ? null : await ctx.signer.findKey(ref);
      if (made === null) throw new StepRefusedError(`the key is ${key.state}: only an active key is rotated`);
      const successor = successorOf(made);
      const state = key.state;
      return {
        result: {
          predecessorId: key.id,
          predecessorState: state,
          successorState: "suspended",
          hsmRef: successor.hsmRef,
          publicKey: successor.publicKey,
        },
        failure:
          `the key became ${state} while its successor was being made, so nothing was rotated: the key stays ` +
          `${state}, and the successor “${successor.label}” made on the HSM is recorded suspended (it cannot be ` +
          "used unless key.resume's quorum resumes it; key.destroy removes it)",
        record: async (tx, _row, at) => {
          await ctx.keys.recordSuccessorOfRestricted(
            tx,
            { predecessorId: key.id, predecessorState: state, successor },
            at,
          );
        },
      };
    }
    const made = await ctx.signer.createKey({
      curve,
      label: op.payload.successorLabel,
      exportable: key.exportable === "wrapped" ? "wrapped-only" : "never",
      ref,
      // First try of the first claim: the reference is unused, so the HSM need not search for it.
      fresh: ctx.firstTry,
    });
    const successor = successorOf(made);
    return {
      result: {
        predecessorId: key.id,
        hsmRef: successor.hsmRef,
        publicKey: successor.publicKey,
        token: made.token,
        replicated: made.replicated,
        notReplicated: made.notReplicated.map((r) => r.token),
      },
      record: async (tx, _row, at) => {
        await ctx.keys.recordRotated(tx, { predecessorId: key.id, successor }, at);
      },
    };
  },
};
