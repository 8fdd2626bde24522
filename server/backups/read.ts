// What the key page shows of backups and drills, for every role: each backup's digest, KEK, token and time (never
// the file, which holds the wrapped key: admins download it, download.ts), the restores, and the last drill.
import "server-only";
import { desc, eq } from "drizzle-orm";
import type { DbOrTx } from "@/db/client";
import { keyBackups, keyRestores, keys } from "@/db/schema";
import { env } from "@/server/env";

export type BackupSummary = {
  id: string;
  operationId: string;
  digest: string;
  kekLabel: string;
  kekId: string;
  tokenLabel: string;
  createdAt: Date;
};

export type RestoreSummary = {
  id: string;
  backupId: string;
  operationId: string;
  tokenLabel: string;
  mode: "token" | "session";
  createdAt: Date;
};

export type KeyBackups = {
  backups: BackupSummary[];
  restores: RestoreSummary[];
  /** keys.last_drill_at and the token of the restore that set it; null when never drilled. */
  lastDrill: { at: Date; token: string } | null;
  /** The configured HSM tokens a restore can target, primary first. */
  tokens: string[];
};

export async function keyBackupsOf(db: DbOrTx, keyId: string): Promise<KeyBackups> {
  const backups = await db
    .select({
      id: keyBackups.id,
      operationId: keyBackups.operationId,
      digest: keyBackups.digest,
      kekLabel: keyBackups.kekLabel,
      kekId: keyBackups.kekId,
      tokenLabel: keyBackups.tokenLabel,
      createdAt: keyBackups.createdAt,
    })
    .from(keyBackups)
    .where(eq(keyBackups.keyId, keyId))
    .orderBy(desc(keyBackups.createdAt));
  const restores = await db
    .select({
      id: keyRestores.id,
      backupId: keyRestores.backupId,
      operationId: keyRestores.operationId,
      tokenLabel: keyRestores.tokenLabel,
      mode: keyRestores.mode,
      createdAt: keyRestores.createdAt,
    })
    .from(keyRestores)
    .where(eq(keyRestores.keyId, keyId))
    .orderBy(desc(keyRestores.createdAt));
  const [key] = await db.select({ lastDrillAt: keys.lastDrillAt }).from(keys).where(eq(keys.id, keyId));
  const at = key?.lastDrillAt ?? null;
  const latest = restores[0];
  return {
    backups,
    restores,
    lastDrill: at === null || latest === undefined ? null : { at, token: latest.tokenLabel },
    tokens: env().hsm.tokens.map((t) => t.tokenLabel),
  };
}
