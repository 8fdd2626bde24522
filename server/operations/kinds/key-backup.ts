// key.backup: a wrapped export file of one "wrapped-only" key, made only by quorum. The file names the key, the
// HSM token that wrapped it, the KEK it is wrapped under and the operation (server/backups/backup-file.ts).
// Refused when proposed, writing nothing: a key created "never" exportable, and an Ed25519 key on SoftHSM
// 2.6.1 (it cannot wrap Ed25519 keys). The wrapped key is stored with the backup only, never in the result.
import { z } from "zod";
import { AppError } from "@/server/errors";
import { keyTagSchema } from "@/server/policy/schema";
import { StepRefusedError } from "../executor/step-refused";
import type { OperationKind } from "./types";

export const keyBackupInputSchema = z.object({ keyId: z.string().uuid() }).strict();
export type KeyBackupInput = z.infer<typeof keyBackupInputSchema>;

export const keyBackupPayloadSchema = z
  .object({
    keyId: z.string().uuid(),
    label: z.string().min(1).max(200),
    curve: z.enum(["secp256k1", "ed25519", "p256"]),
    tags: z.array(keyTagSchema).max(32),
  })
  .strict();
export type KeyBackupPayload = z.infer<typeof keyBackupPayloadSchema>;

/** States a key can be backed up in: it exists on the HSM and is not compromised. */
export const BACKUP_STATES = ["pre-activation", "active", "suspended", "deactivated"] as const;

const CURVES = ["secp256k1", "ed25519", "p256"] as const;
const isCurve = (c: string): c is (typeof CURVES)[number] => (CURVES as readonly string[]).includes(c);

export const ED25519_UNWRAPPABLE =
  "SoftHSM 2.6.1, this installation's HSM, cannot wrap Ed25519 keys (it wraps RSA, DSA, DH and EC keys only), so an Ed25519 (Solana) key cannot be backed up here; an HSM that wraps Ed25519 keys can";

export const keyBackup: OperationKind<KeyBackupPayload, KeyBackupInput> = {
  kind: "key.backup",
  proposers: ["operator", "admin"],
  payload: keyBackupPayloadSchema,
  propose: {
    input: keyBackupInputSchema,
    async prepare(input, read) {
      const key = await read.key(input.keyId, BACKUP_STATES);
      if (key.exportable !== "wrapped") {
        throw new AppError(
          "CONFLICT",
          `The key “${key.label}” was created never exportable: its private key cannot leave the HSM, not even wrapped, so it cannot be backed up.`,
        );
      }
      if (!isCurve(key.curve)) throw new AppError("CONFLICT", `The key “${key.label}” is on ${key.curve}.`);
      if (key.curve === "ed25519" && !read.hsm().wrapsEd25519) {
        throw new AppError("CONFLICT", `The key “${key.label}” cannot be backed up: ${ED25519_UNWRAPPABLE}.`);
      }
      return { keyId: key.id, label: key.label, curve: key.curve, tags: [...key.tags] };
    },
  },
  describe(p) {
    return {
      title: `Back up the key “${p.label}”`,
      lines: [
        { label: "Key", value: `${p.label} (${p.keyId})` },
        { label: "Curve", value: p.curve },
        { label: "Tags", value: p.tags.length > 0 ? p.tags.join(", ") : "none" },
        {
          label: "Effect",
          value:
            "the private key is wrapped under the HSM's trusted backup key (KEK) on the primary token and stored as a backup file that admins can download; it never leaves in plaintext",
        },
      ],
    };
  },
  facts(p) {
    return { keyTags: [...p.tags] };
  },
  // Safe to repeat: AES key wrap is deterministic (same key, same KEK: same bytes), so a repeat after a lost
  // answer makes an equivalent file; the one recorded is the first whose execution commits.
  async execute(ctx, op) {
    const key = await ctx.backups.key(op.payload.keyId);
    if (key === null) throw new StepRefusedError(`the key ${op.payload.keyId} does not exist`);
    if (!(BACKUP_STATES as readonly string[]).includes(key.state)) {
      throw new StepRefusedError(`the key is ${key.state}: it cannot be backed up`);
    }
    if (key.exportable !== "wrapped") throw new StepRefusedError("the key is never exportable");
    const exported = await ctx.backupSigner.exportWrapped(key.hsmRef);
    if (exported.publicKey.toString("hex") !== key.publicKeyHex || exported.curve !== key.curve) {
      throw new StepRefusedError(
        `the HSM's key under reference ${key.hsmRef} has another public key than the one recorded for this key`,
      );
    }
    const file = ctx.backups.file({
      format: "keyward-key-backup/1",
      key: {
        id: key.id,
        label: key.label,
        curve: key.curve,
        publicKey: key.publicKeyHex,
        hsmRef: key.hsmRef,
      },
      wrapped: { mechanism: exported.mechanism, blob: exported.blob.toString("base64") },
      kek: exported.kek,
      token: exported.token,
      operation: { id: op.id, kind: "key.backup" },
      createdAt: ctx.now.toISOString(),
    });
    exported.blob.fill(0);
    const backupId = crypto.randomUUID();
    return {
      result: {
        backupId,
        digest: file.sha256,
        kek: { label: file.kek.label, id: file.kek.id },
        token: { label: file.token.label, serial: file.token.serial },
      },
      record: async (tx, row, at) => {
        await ctx.backups.recordBackup(tx, { backupId, keyId: key.id, operationId: row.id, file }, at);
      },
    };
  },
};
