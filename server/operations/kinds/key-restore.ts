// key.restore: a stored key backup is imported into one configured HSM token and proven to sign for the key's
// recorded public key — the recovery drill whose last date the key page shows. Proposed with a backup's id or
// with an uploaded backup file, which must be one this console stored (same SHA-256) for the same key. A token
// that lost the key gets it back as token objects; a token that holds it is drilled with a session object
// destroyed afterwards, so a drill never leaves a second copy. A failed proof fails the operation, nothing left.
import { z } from "zod";
import { AppError } from "@/server/errors";
import { keyTagSchema } from "@/server/policy/schema";
import { StepRefusedError } from "../executor/step-refused";
import type { OperationKind } from "./types";

/** A token label as PKCS#11 allows one (32 bytes at most). */
const tokenLabel = z.string().trim().min(1, "choose an HSM token").max(32);

export const keyRestoreInputSchema = z.union([
  z.object({ backupId: z.string().uuid(), token: tokenLabel }).strict(),
  // An uploaded file: checked by the proposing transaction (schema, its SHA-256, a stored backup of the key).
  z.object({ file: z.record(z.string(), z.unknown()), token: tokenLabel }).strict(),
]);
export type KeyRestoreInput = z.infer<typeof keyRestoreInputSchema>;

export const keyRestorePayloadSchema = z
  .object({
    keyId: z.string().uuid(),
    label: z.string().min(1).max(200),
    curve: z.enum(["secp256k1", "ed25519", "p256"]),
    tags: z.array(keyTagSchema).max(32),
    backupId: z.string().uuid(),
    backupDigest: z.string().regex(/^[0-9a-f]{64}$/),
    /** Where the backup was wrapped, and under which KEK (shown to approvers). */
    backupToken: z.string().min(1).max(32),
    kekId: z.string().min(1).max(128),
    /** The configured HSM token to restore into. */
    token: tokenLabel,
  })
  .strict();
export type KeyRestorePayload = z.infer<typeof keyRestorePayloadSchema>;

/** A restore puts back a key that still exists: never a compromised or destroyed one. */
export const RESTORE_STATES = ["pre-activation", "active", "suspended", "deactivated"] as const;

export const keyRestore: OperationKind<KeyRestorePayload, KeyRestoreInput> = {
  kind: "key.restore",
  proposers: ["operator", "admin"],
  payload: keyRestorePayloadSchema,
  propose: {
    input: keyRestoreInputSchema,
    async prepare(input, read) {
      const backup = await read.backup("backupId" in input ? { id: input.backupId } : { file: input.file });
      const key = await read.key(backup.keyId, RESTORE_STATES);
      const { tokens } = read.hsm();
      if (!tokens.includes(input.token)) {
        throw new AppError(
          "BAD_INPUT",
          `payload.token: no HSM token '${input.token}' is configured (tokens: ${tokens.join(", ")}).`,
          { field: "payload.token" },
        );
      }
      const curve = keyRestorePayloadSchema.shape.curve.parse(key.curve);
      return {
        keyId: key.id,
        label: key.label,
        curve,
        tags: [...key.tags],
        backupId: backup.id,
        backupDigest: backup.digest,
        backupToken: backup.tokenLabel,
        kekId: backup.kekId,
        token: input.token,
      };
    },
  },
  describe(p) {
    return {
      title: `Restore the key “${p.label}” into HSM token ${p.token}`,
      lines: [
        { label: "Key", value: `${p.label} (${p.keyId})` },
        { label: "Tags", value: p.tags.length > 0 ? p.tags.join(", ") : "none" },
        { label: "Backup", value: `${p.backupId}, SHA-256 ${p.backupDigest}` },
        { label: "Wrapped on", value: `HSM token ${p.backupToken}, under the backup KEK ${p.kekId}` },
        { label: "Into", value: `HSM token ${p.token}` },
        {
          label: "Effect",
          value:
            "the backup is unwrapped on that token and must sign a fresh challenge for the key's recorded public key (a recovery drill); a token that lost the key gets it back, a token that holds it keeps no second copy",
        },
      ],
    };
  },
  facts(p) {
    return { keyTags: [...p.tags] };
  },
  // Safe to repeat: a repeat finds the key put back by a first attempt and drills it with a session object.
  async execute(ctx, op) {
    const backup = await ctx.backups.backupForRestore(op.payload.backupId);
    if (backup.digest !== op.payload.backupDigest || backup.key.id !== op.payload.keyId) {
      throw new StepRefusedError("the stored backup is not the one approved (its digest or key differ)");
    }
    const { key } = backup;
    if (!(RESTORE_STATES as readonly string[]).includes(key.state)) {
      throw new StepRefusedError(`the key is ${key.state}: it cannot be restored`);
    }
    const restored = await ctx.backupSigner.restoreKey({
      ref: key.hsmRef,
      curve: key.curve,
      label: key.label,
      publicKey: key.publicKey,
      blob: backup.blob,
      token: op.payload.token,
    });
    const proof =
      restored.mode === "token"
        ? {
            challenge: restored.challenge.toString("hex"),
            signature: restored.signature.toString("hex"),
            verifiedIn: "token-set" as const,
          }
        : { verifiedIn: "hsm-thread" as const };
    return {
      result: { backupId: backup.id, token: restored.token, mode: restored.mode, drill: "passed" },
      record: async (tx, row, at) => {
        await ctx.backups.recordRestore(
          tx,
          {
            keyId: key.id,
            backupId: backup.id,
            backupDigest: backup.digest,
            operationId: row.id,
            token: restored.token,
            mode: restored.mode,
            proof,
          },
          at,
        );
      },
    };
  },
};
