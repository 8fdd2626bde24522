// What a key.backup or key.restore proposal reads in its proposing transaction (propose.ts hands these to the
// kind's prepare through the ProposeReader): a stored backup, by id or from an uploaded file, and the
// configured HSM tokens. An uploaded file is accepted only when it is, byte for byte in canonical form, a backup
// this console stored for the key whose recorded public key it names: nothing else can be restored.
import "server-only";
import { eq } from "drizzle-orm";
import type { Tx } from "@/db/client";
import { keyBackups, keys } from "@/db/schema";
import { env } from "@/server/env";
import { AppError } from "@/server/errors";
import { isSoftHsmLibrary } from "@/server/hsm";
import type { ProposedBackup, ProposedHsm } from "@/server/operations/kinds/types";
import { checkBackupFile } from "./backup-file";

function refused(field: string, why: string): AppError {
  return new AppError("BAD_INPUT", `${field}: ${why}`, { field });
}

export async function proposedBackup(
  tx: Tx,
  ref: { id: string } | { file: unknown },
): Promise<ProposedBackup> {
  let where: ReturnType<typeof eq>;
  let uploadedKey: string | undefined;
  if ("id" in ref) {
    where = eq(keyBackups.id, ref.id);
  } else {
    const uploaded = checkBackupFile(ref.file);
    if (!uploaded.ok)
      throw refused(`payload.${uploaded.field}`, `${uploaded.reason.replace(/^[^:]*: /, "")}.`);
    where = eq(keyBackups.digest, uploaded.file.sha256);
    uploadedKey = uploaded.file.key.publicKey;
  }
  const [row] = await tx.select().from(keyBackups).where(where);
  if (row === undefined) {
    throw "id" in ref
      ? new AppError("NOT_FOUND", `payload.backupId: no backup ${ref.id}.`, { field: "payload.backupId" })
      : refused(
          "payload.file",
          "this file is not a backup this console stored (no stored backup has its SHA-256).",
        );
  }
  const checked = checkBackupFile(row.file);
  if (!checked.ok)
    throw new AppError("CONFLICT", `The stored backup ${row.id} fails its check: ${checked.reason}.`);
  const [key] = await tx.select({ publicKey: keys.publicKey }).from(keys).where(eq(keys.id, row.keyId));
  const named = checked.file.key.publicKey;
  if (key === undefined || key.publicKey !== named || (uploadedKey !== undefined && uploadedKey !== named)) {
    throw refused("payload.file", "the backup's public key is not the key's recorded public key.");
  }
  return {
    id: row.id,
    keyId: row.keyId,
    digest: row.digest,
    tokenLabel: row.tokenLabel,
    kekId: row.kekId,
    publicKey: named,
    createdAt: row.createdAt,
  };
}

/** The configured tokens, primary first; SoftHSM 2.6.1 (the primary wraps backups) cannot wrap Ed25519 keys. */
export function proposedHsm(): ProposedHsm {
  const { tokens, library } = env().hsm;
  return { tokens: tokens.map((t) => t.tokenLabel), wrapsEd25519: !isSoftHsmLibrary(library) };
}
