// The key backup file (key.backup): a versioned JSON document naming the key, the HSM token that wrapped it,
// the KEK it is wrapped under, the wrap mechanism and the operation, with a SHA-256 of its canonical form
// (RFC 8785) so anyone can check it was not changed. Pure: the executor builds it, an upload is checked with it.
// It must never accept a file whose digest does not match what it holds.
import { createHash } from "node:crypto";
import canonicalize from "canonicalize";
import { z } from "zod";

export const BACKUP_FORMAT = "keyward-key-backup/1";

const hex = (bytes: number) =>
  z.string().regex(new RegExp(`^[0-9a-f]{${bytes * 2}}$`), `${bytes} bytes of lowercase hex`);
const sha256Hex = hex(32);

/** Everything the digest covers. */
export const backupDocumentSchema = z
  .object({
    format: z.literal(BACKUP_FORMAT),
    key: z
      .object({
        id: z.string().uuid(),
        label: z.string().min(1).max(255),
        curve: z.enum(["secp256k1", "ed25519", "p256"]),
        /** The raw public key, hex: 65 bytes SEC1 uncompressed (secp256k1, P-256) or 32 bytes (Ed25519). */
        publicKey: z.string().regex(/^([0-9a-f]{130}|[0-9a-f]{64})$/, "a raw public key in lowercase hex"),
        /** The key's HSM reference (CKA_ID), the same on every token. */
        hsmRef: hex(16),
      })
      .strict(),
    wrapped: z
      .object({
        mechanism: z.literal("CKM_AES_KEY_WRAP_PAD"),
        /** The private key wrapped under the KEK (RFC 5649), base64. */
        blob: z
          .string()
          .min(1)
          .max(4096)
          .regex(/^[A-Za-z0-9+/]+={0,2}$/, "base64"),
      })
      .strict(),
    kek: z.object({ label: z.string().min(1).max(255), id: z.string().regex(/^[0-9a-f]{2,128}$/) }).strict(),
    token: z.object({ label: z.string().min(1).max(32), serial: z.string().max(32) }).strict(),
    operation: z.object({ id: z.string().uuid(), kind: z.literal("key.backup") }).strict(),
    /** When the key was wrapped, ISO 8601 UTC. */
    createdAt: z.string().datetime(),
  })
  .strict();
export type BackupDocument = z.infer<typeof backupDocumentSchema>;

/** The file as stored and downloaded: the document and the SHA-256 of its canonical form. */
export const backupFileSchema = backupDocumentSchema.extend({ sha256: sha256Hex }).strict();
export type BackupFile = z.infer<typeof backupFileSchema>;

/** SHA-256 hex of the document's RFC 8785 canonical JSON (the file's own `sha256` field left out). */
export function backupDigest(document: BackupDocument): string {
  const text = canonicalize(document);
  if (text === undefined) throw new TypeError("cannot canonicalise this backup document");
  return createHash("sha256").update(text, "utf8").digest("hex");
}

export function backupFile(document: BackupDocument): BackupFile {
  return { ...backupDocumentSchema.parse(document), sha256: backupDigest(document) };
}

export type CheckedBackupFile = { ok: true; file: BackupFile } | { ok: false; field: string; reason: string };

/**
 * Parses an uploaded file and checks its digest. The reason names the field: the format, the first field zod
 * refuses, or `sha256` when the content was changed after the digest was made (a flipped byte, another key).
 */
export function checkBackupFile(input: unknown): CheckedBackupFile {
  const parsed = backupFileSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue === undefined || issue.path.length === 0 ? "file" : `file.${issue.path.join(".")}`;
    return { ok: false, field, reason: `${field}: ${issue?.message ?? "not a Keyward key backup"}` };
  }
  const { sha256, ...document } = parsed.data;
  if (backupDigest(document) !== sha256) {
    return {
      ok: false,
      field: "file.sha256",
      reason:
        "file.sha256: the file's content does not match its SHA-256: it was changed after the backup was made",
    };
  }
  return { ok: true, file: parsed.data };
}
