// key.create: one new custody key on the HSM, or a batch of customer-account keys (2 to 10,000) whose labels
// follow a pattern, with a curve, tags and exportability chosen by the proposer. Approvers see exactly what
// will be made (how many keys, the first and last label, curve, tags, export rule); the rule in force matches
// on the tags. A single key's payload keeps the shape it always had (no `batch`), so its digest is unchanged.
// `preActivation: true` makes the key (or every key of the batch) in NIST SP 800-57's pre-activation state: made
// in the HSM, its public key and addresses known (funds may be sent to it ahead of time), but it cannot sign
// until a key.activate operation (kinds/key-activate.ts) is approved. Absent or false: active when made, as before.
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

/** Where a batch's label pattern puts each key's number. */
export const BATCH_NUMBER = "{n}";
export const BATCH_MIN = 2;
export const BATCH_MAX = 10_000;
/** Account numbers stay at most 8 digits, so a label's length is known from the pattern. */
const NUMBER_MAX = 99_999_999;
const LABEL_MAX = 200;

/** 10000 → "10,000", the same on every server and browser (no locale data needed). */
function grouped(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

const batchSchema = z
  .object({
    count: z
      .number({ error: "the number of keys must be a whole number" })
      .int("the number of keys must be a whole number")
      .min(BATCH_MIN, `a batch has at least ${BATCH_MIN} keys (propose a single key otherwise)`)
      .max(BATCH_MAX, `a batch has at most ${grouped(BATCH_MAX)} keys`),
    /** The first key's number (the others follow one by one). */
    first: z
      .number({ error: "the first number must be a whole number" })
      .int("the first number must be a whole number")
      .min(0, "the first number cannot be negative")
      .max(NUMBER_MAX, `the first number is at most ${NUMBER_MAX}`),
  })
  .strict();

export const keyCreatePayloadSchema = z
  .object({
    label: z
      .string()
      .trim()
      .min(1, "a key needs a label")
      .max(LABEL_MAX)
      // No control characters: the label is shown to approvers and must read as what it is.
      .regex(/^[^\p{Cc}]*$/u, "the label cannot contain control characters"),
    curve: z.enum(KEY_CURVES),
    tags: z
      .array(keyTagSchema)
      .max(32)
      .refine((tags) => new Set(tags).size === tags.length, "each tag once"),
    exportable: z.enum(["never", "wrapped"]),
    /** A batch: `label` is then a pattern with {n} where each key's zero-padded number goes. */
    batch: batchSchema.optional(),
    /** True: made in pre-activation (cannot sign until key.activate's quorum). Absent or false: active. */
    preActivation: z.boolean({ error: "preActivation is true or false" }).optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.batch === undefined) return;
    const places = p.label.split(BATCH_NUMBER).length - 1;
    if (places !== 1) {
      ctx.addIssue({
        code: "custom",
        path: ["label"],
        message: `a batch's label pattern needs ${BATCH_NUMBER} exactly once, where each key's number goes (e.g. acct-${BATCH_NUMBER})`,
      });
      return;
    }
    const last = p.batch.first + p.batch.count - 1;
    if (last > NUMBER_MAX) {
      ctx.addIssue({
        code: "custom",
        path: ["batch", "count"],
        message: `the last key's number would be ${last}, above ${NUMBER_MAX}: start lower or make fewer keys`,
      });
      return;
    }
    const longest = p.label.length - BATCH_NUMBER.length + String(last).length;
    if (longest > LABEL_MAX) {
      ctx.addIssue({
        code: "custom",
        path: ["label"],
        message: `each key's label would be ${longest} characters, above ${LABEL_MAX}: shorten the pattern`,
      });
    }
  });
export type KeyCreatePayload = z.infer<typeof keyCreatePayloadSchema>;

/** What a batch makes: `count` keys, key i (0-based, its batch_index) labelled `labelOf(i)`. */
export type KeyBatch = {
  count: number;
  numberOf: (index: number) => string;
  labelOf: (index: number) => string;
};

/**
 * The batch a payload asks for, or null for a single key. Numbers are zero-padded to the width of the last
 * one (count 10,000 from 1: acct-00001 … acct-10000), so labels sort in number order.
 */
export function keyBatchOf(p: KeyCreatePayload): KeyBatch | null {
  const batch = p.batch;
  if (batch === undefined) return null;
  const width = String(batch.first + batch.count - 1).length;
  const [before = "", after = ""] = p.label.split(BATCH_NUMBER);
  const numberOf = (index: number) => String(batch.first + index).padStart(width, "0");
  return { count: batch.count, numberOf, labelOf: (index) => `${before}${numberOf(index)}${after}` };
}

/** The state the keys are recorded in once made. */
export function initialStateOf(p: KeyCreatePayload): "active" | "pre-activation" {
  return p.preActivation === true ? "pre-activation" : "active";
}

/** Shown only for pre-activation, so an ordinary key.create reads exactly as it always did. */
const PRE_ACTIVATION_LINE = {
  label: "Activation",
  value:
    "pre-activation: made in the HSM and its public key and addresses shown, but it cannot sign until a key.activate operation is approved",
};

const EXPORTABLE_LINES = {
  never: "never: the private key cannot leave the HSM",
  wrapped: "only wrapped under the HSM's trusted backup key (for backups)",
} as const;

export const keyCreate: OperationKind<KeyCreatePayload> = {
  kind: "key.create",
  proposers: ["operator", "admin"],
  payload: keyCreatePayloadSchema,
  describe(p) {
    const tags = p.tags.length > 0 ? p.tags.join(", ") : "none";
    const batch = keyBatchOf(p);
    if (batch === null) {
      return {
        title: `Create the key “${p.label}”`,
        lines: [
          { label: "Label", value: p.label },
          { label: "Curve", value: CURVE_NAMES[p.curve] },
          { label: "Tags", value: tags },
          { label: "Exportable", value: EXPORTABLE_LINES[p.exportable] },
          ...(p.preActivation === true ? [PRE_ACTIVATION_LINE] : []),
        ],
      };
    }
    const first = batch.labelOf(0);
    const last = batch.labelOf(batch.count - 1);
    const count = grouped(batch.count);
    return {
      title: `Create ${count} keys “${first}” … “${last}”`,
      lines: [
        {
          label: "What is made",
          value: `${count} ${p.curve} keys ${first} … ${last}, tags ${tags}, ${p.exportable === "never" ? "never exportable" : "exportable only wrapped"}${p.preActivation === true ? ", in pre-activation" : ""}`,
        },
        { label: "Keys", value: count },
        {
          label: "Labels",
          value: `${p.label} with ${BATCH_NUMBER} = ${batch.numberOf(0)} … ${batch.numberOf(batch.count - 1)}: ${batch.count === 2 ? `${first}, ${last}` : `${first}, ${batch.labelOf(1)}, … ${last}`}`,
        },
        { label: "Curve", value: CURVE_NAMES[p.curve] },
        { label: "Tags", value: `${tags} (on every key)` },
        { label: "Exportable", value: EXPORTABLE_LINES[p.exportable] },
        ...(p.preActivation === true ? [PRE_ACTIVATION_LINE] : []),
      ],
    };
  },
  facts(p) {
    return { keyTags: [...p.tags] };
  },
  // Safe to repeat: the key's HSM reference is derived from the operation id, so a repeat after an unknown
  // outcome or a crash finds the key a first attempt made (same public key) instead of making a second.
  // A batch never comes here: the executor runs it chunk by chunk (executor/batch.ts), keyed by (id, index).
  async execute(ctx, op) {
    if (op.payload.batch !== undefined) throw new Error("a key.create batch runs in executor/batch.ts");
    const key = await ctx.signer.createKey({
      curve: op.payload.curve,
      label: op.payload.label,
      exportable: op.payload.exportable === "wrapped" ? "wrapped-only" : "never",
      ref: ctx.signer.operationKeyRef(op.id),
      // First try of the first claim: the reference is unused, so the HSM need not search for it.
      fresh: ctx.firstTry,
    });
    const record = {
      operationId: op.id,
      label: op.payload.label,
      curve: op.payload.curve,
      tags: [...op.payload.tags],
      exportable: op.payload.exportable,
      hsmRef: key.ref,
      publicKey: key.publicKey.toString("hex"),
      ...(initialStateOf(op.payload) === "pre-activation" ? { state: "pre-activation" as const } : {}),
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
