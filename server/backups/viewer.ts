// What the viewer of a key's backups may do there, decided on the server from the same role lists that decide
// the requests: downloading a file (BACKUP_DOWNLOADERS, which the download procedure and download.ts check) and
// proposing a backup or a restore (the key.backup and key.restore kinds' proposers). The key page's backup panel
// shows exactly what this says, so it never offers a button the server would refuse. Display only: every
// request is checked again by its procedure and domain function.
import type { Role } from "@/db/schema";
import type { Acting } from "@/server/members/guards";
import { keyBackup } from "@/server/operations/kinds/key-backup";
import { keyRestore } from "@/server/operations/kinds/key-restore";

/** Who may download a backup file: it holds the key wrapped under a KEK that SoftHSM leaves readable. */
export const BACKUP_DOWNLOADERS = ["admin"] as const satisfies readonly Role[];

export type BackupViewer = { canDownload: boolean; canProposeBackup: boolean; canProposeRestore: boolean };

const holdsOneOf = (who: Acting, roles: readonly Role[]) => roles.some((r) => who.roles.includes(r));

export function backupViewer(who: Acting): BackupViewer {
  return {
    canDownload: holdsOneOf(who, BACKUP_DOWNLOADERS),
    canProposeBackup: holdsOneOf(who, keyBackup.proposers),
    canProposeRestore: holdsOneOf(who, keyRestore.proposers),
  };
}
