// Downloading a key backup file: admins only, each download audited (key.backup_downloaded) in the transaction
// that reads the file. The file holds the key wrapped under the backup KEK; on SoftHSM that KEK is readable from
// the token files (server/hsm/README.md), so the file is a secret and leaves the server only this way.
import "server-only";
import { eq } from "drizzle-orm";
import type { Db } from "@/db/client";
import { keyBackups } from "@/db/schema";
import { appendAudit } from "@/server/audit/append";
import { AppError } from "@/server/errors";
import type { Acting } from "@/server/members/guards";
import { memberWithRole } from "@/server/operations/actors";
import { type BackupFile, checkBackupFile } from "./backup-file";
import { BACKUP_DOWNLOADERS } from "./viewer";

export async function downloadBackup(
  db: Db,
  input: { actor: Acting; backupId: string; now: Date },
): Promise<{ fileName: string; file: BackupFile }> {
  return db.transaction(async (tx) => {
    // Re-read: a member demoted or suspended since their session began downloads nothing.
    const admin = await memberWithRole(tx, input.actor.id, BACKUP_DOWNLOADERS, "download a key backup");
    const [row] = await tx.select().from(keyBackups).where(eq(keyBackups.id, input.backupId));
    if (row === undefined) {
      throw new AppError("NOT_FOUND", `backupId: no backup ${input.backupId}.`, { field: "backupId" });
    }
    const checked = checkBackupFile(row.file);
    if (!checked.ok || checked.file.sha256 !== row.digest) {
      throw new AppError("CONFLICT", `The stored backup ${row.id} fails its check; it is not handed out.`);
    }
    await appendAudit(tx, {
      action: "key.backup_downloaded",
      data: { keyId: row.keyId, backupId: row.id, digest: row.digest, memberId: admin.id },
      actor: `member:${admin.id}`,
      subject: `key:${row.keyId}`,
      at: input.now,
    });
    return {
      fileName: `keyward-key-backup-${row.keyId}-${row.digest.slice(0, 12)}.json`,
      file: checked.file,
    };
  });
}
