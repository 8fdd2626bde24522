// Key backups on the key page: what exists (every role; digests, KEK, token and times, never the file) and the
// download of a file, for admins only: it holds the key wrapped under the backup KEK, which on SoftHSM can be
// read from the token files, so it is a secret the installation's administrators keep offline. A download is a
// mutation because it writes key.backup_downloaded. Backups and restores are proposed as operations
// (operations.propose with kind key.backup / key.restore) and need the quorum.
import "server-only";
import { z } from "zod";
import { downloadBackup } from "@/server/backups/download";
import { keyBackupsOf } from "@/server/backups/read";
import { BACKUP_DOWNLOADERS, backupViewer } from "@/server/backups/viewer";
import { createTRPCRouter, withRole } from "../trpc";

export const backupsRouter = createTRPCRouter({
  ofKey: withRole("admin", "operator", "approver", "auditor")
    .input(z.object({ keyId: z.string().uuid() }))
    // `viewer`: what this member may do with them, from the roles the procedures below check (viewer.ts).
    .query(async ({ ctx, input }) => ({
      ...(await keyBackupsOf(ctx.db, input.keyId)),
      viewer: backupViewer(ctx.member),
    })),

  download: withRole(...BACKUP_DOWNLOADERS)
    .input(z.object({ backupId: z.string().uuid() }))
    .mutation(({ ctx, input }) =>
      downloadBackup(ctx.db, { actor: ctx.member, backupId: input.backupId, now: ctx.clock() }),
    ),
});
