// key.create: one new custody key on the HSM, with a label, curve, tags and exportability chosen by the
// proposer. Approvers see exactly these four things; the rule in force matches on the tags.
import { z } from "zod";
// Tags spelled as policy rules match them (browser-safe: the propose form validates with this schema too).
import { keyTagSchema } from "@/server/policy/schema";
import type { OperationKind } from "./types";

export const KEY_CURVES = ["secp256k1", "ed25519", "p256"] as const;
export type KeyCurve = (typeof KEY_CURVES)[number];

const CURVE_NAMES: Record<KeyCurve, string> = {
  secp256k1: "secp256k1 (Bitcoin, Ethereum)",
  ed25519: "Ed25519 (Solana)",
  p256: "P-256 (NIST)",
};

export const keyCreatePayloadSchema = z
  .object({
    label: z
      .string()
      .trim()
      .min(1, "a key needs a label")
      .max(200)
      // No control characters: the label is shown to approvers and must read as what it is.
      .regex(/^[^\p{Cc}]*$/u, "the label cannot contain control characters"),
    curve: z.enum(KEY_CURVES),
    tags: z
      .array(keyTagSchema)
      .max(32)
      .refine((tags) => new Set(tags).size === tags.length, "each tag once"),
    exportable: z.enum(["never", "wrapped"]),
  })
  .strict();
export type KeyCreatePayload = z.infer<typeof keyCreatePayloadSchema>;

export const keyCreate: OperationKind<KeyCreatePayload> = {
  kind: "key.create",
  proposers: ["operator", "admin"],
  payload: keyCreatePayloadSchema,
  describe(p) {
    return {
      title: `Create the key “${p.label}”`,
      lines: [
        { label: "Label", value: p.label },
        { label: "Curve", value: CURVE_NAMES[p.curve] },
        { label: "Tags", value: p.tags.length > 0 ? p.tags.join(", ") : "none" },
        {
          label: "Exportable",
          value:
            p.exportable === "never"
              ? "never: the private key cannot leave the HSM"
              : "only wrapped under the HSM's trusted backup key (for backups)",
        },
      ],
    };
  },
  facts(p) {
    return { keyTags: [...p.tags] };
  },
  // Safe to repeat: the key's HSM reference is derived from the operation id, so a repeat after an unknown
  // outcome or a crash finds the key a first attempt made (same public key) instead of making a second.
  async execute(ctx, op) {
    const key = await ctx.signer.createKey({
      curve: op.payload.curve,
      label: op.payload.label,
      exportable: op.payload.exportable === "wrapped" ? "wrapped-only" : "never",
      ref: ctx.signer.operationKeyRef(op.id),
    });
    const record = {
      operationId: op.id,
      label: op.payload.label,
      curve: op.payload.curve,
      tags: [...op.payload.tags],
      exportable: op.payload.exportable,
      hsmRef: key.ref,
      publicKey: key.publicKey.toString("hex"),
    };
    return {
      result: {
        hsmRef: record.hsmRef,
        publicKey: record.publicKey,
        token: key.token,
        replicated: key.replicated,
        notReplicated: key.notReplicated.map((r) => r.token),
      },
      record: async (tx, _row, at) => {
        await ctx.keys.recordCreated(tx, record, at);
      },
    };
  },
};
