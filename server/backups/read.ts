// What the key page shows of backups and drills, for every role: each backup's digest, KEK, token and time (never
// the file, which holds the wrapped key: admins download it, download.ts), the restores, and the last drill.
import "server-only";
import { desc, eq } from "drizzle-orm";
import type { DbOrTx } from "@/db/client";
import { keyBackups, keyRestores, keys } from "@/db/schema";
import { env } from "@/server/env";
import { isSoftHsmLibrary } from "@/server/hsm";
import { ED25519_UNWRAPPABLE } from "@/server/operations/kinds/key-backup";

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
  /** Why a backup of this key would be refused when proposed (the kind's own reasons), or null. */
  backupRefused: string | null;
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
  const [key] = await db
    .select({ lastDrillAt: keys.lastDrillAt, curve: keys.curve, exportable: keys.exportable })
    .from(keys)
    .where(eq(keys.id, keyId));
  const { tokens, library } = env().hsm;
  const backupRefused =
    key?.exportable === "never"
      ? "This key was created never exportable: its private key cannot leave the HSM, not even wrapped, so it cannot be backed up."
      : key?.curve === "ed25519" && isSoftHsmLibrary(library)
        ? `${ED25519_UNWRAPPABLE}.`
        : null;
  const at = key?.lastDrillAt ?? null;
  const latest = restores[0];
  return {
    backups,
    restores,
    lastDrill: at === null || latest === undefined ? null : { at, token: latest.tokenLabel },
    tokens: tokens.map((t) => t.tokenLabel),
    backupRefused,
  };
}
