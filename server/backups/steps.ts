// What key.backup and key.restore's execute steps read and write (handed to them on the ExecuteContext, so
// the kinds stay free of server-only imports). Reads run outside any transaction; `record*` run inside the one
// that marks the operation executed, writing their row, the key's drill date and the audit event together.
// The wrapped key goes into key_backups.file only: never into an operation result or the audit trail.
import "server-only";
import { eq } from "drizzle-orm";
import type { Db, Tx } from "@/db/client";
import { type KeyState, keyBackups, keyRestores, keys, type RestoreMode } from "@/db/schema";
import { appendAudit } from "@/server/audit/append";
import { StepRefusedError } from "@/server/operations/executor/step-refused";
import { type BackupDocument, type BackupFile, backupFile, checkBackupFile } from "./backup-file";

/** A key as a backup or restore step needs it: the keys row, its public key as bytes. */
export type KeyForBackup = {
  id: string;
  label: string;
  curve: "secp256k1" | "ed25519" | "p256";
  state: KeyState;
  exportable: "never" | "wrapped";
  hsmRef: string;
  publicKeyHex: string;
  publicKey: Uint8Array;
};

/** A stored backup checked again before a restore: its file's digest holds and it is this key's. */
export type BackupForRestore = {
  id: string;
  digest: string;
  file: BackupFile;
  key: KeyForBackup;
  blob: Uint8Array;
};

export type BackupRecord = {
  backupId: string;
  keyId: string;
  operationId: string;
  file: BackupFile;
};

export type RestoreRecord = {
  keyId: string;
  backupId: string;
  backupDigest: string;
  operationId: string;
  token: string;
  mode: RestoreMode;
  /** Hex of what the restored token object signed and its signature (token mode); empty for a session drill. */
  proof: { challenge?: string; signature?: string; verifiedIn: "token-set" | "hsm-thread" };
};

export type BackupSteps = {
  /** The file for a document: the document and its SHA-256 (backup-file.ts). */
  file(document: BackupDocument): BackupFile;
  key(keyId: string): Promise<KeyForBackup | null>;
  backupForRestore(backupId: string): Promise<BackupForRestore>;
  recordBackup(tx: Tx, record: BackupRecord, at: Date): Promise<void>;
  recordRestore(tx: Tx, record: RestoreRecord, at: Date): Promise<void>;
};

const CURVES = ["secp256k1", "ed25519", "p256"] as const;
type Curve = (typeof CURVES)[number];
const isCurve = (c: string): c is Curve => (CURVES as readonly string[]).includes(c);

async function keyRow(db: Db, keyId: string): Promise<KeyForBackup | null> {
  const [row] = await db.select().from(keys).where(eq(keys.id, keyId));
  if (row === undefined) return null;
  if (!isCurve(row.curve))
    throw new StepRefusedError(`the key is on ${row.curve}, which Keyward cannot back up`);
  return {
    id: row.id,
    label: row.label,
    curve: row.curve,
    state: row.state,
    exportable: row.exportable,
    hsmRef: row.hsmRef,
    publicKeyHex: row.publicKey,
    publicKey: Buffer.from(row.publicKey, "hex"),
  };
}

export function backupSteps(db: Db): BackupSteps {
  return {
    file: backupFile,
    key: (keyId) => keyRow(db, keyId),

    async backupForRestore(backupId) {
      const [row] = await db.select().from(keyBackups).where(eq(keyBackups.id, backupId));
      if (row === undefined) throw new StepRefusedError(`there is no backup ${backupId}`);
      const checked = checkBackupFile(row.file);
      if (!checked.ok)
        throw new StepRefusedError(`the stored backup ${backupId} fails its check: ${checked.reason}`);
      if (checked.file.sha256 !== row.digest) {
        throw new StepRefusedError(`the stored backup ${backupId} does not hold the file its digest names`);
      }
      const key = await keyRow(db, row.keyId);
      if (key === null) throw new StepRefusedError(`the key of backup ${backupId} does not exist`);
      const named = checked.file.key;
      if (named.id !== key.id || named.publicKey !== key.publicKeyHex || named.hsmRef !== key.hsmRef) {
        throw new StepRefusedError(
          `backup ${backupId} names another key than the one recorded (key id, public key or HSM reference differ)`,
        );
      }
      return {
        id: row.id,
        digest: row.digest,
        file: checked.file,
        key,
        blob: Buffer.from(checked.file.wrapped.blob, "base64"),
      };
    },

    async recordBackup(tx, record, at) {
      const { file } = record;
      // operation_id is unique: the executor records each operation once, and a second insert would fail loudly.
      await tx.insert(keyBackups).values({
        id: record.backupId,
        keyId: record.keyId,
        operationId: record.operationId,
        file,
        digest: file.sha256,
        kekLabel: file.kek.label,
        kekId: file.kek.id,
        tokenLabel: file.token.label,
        createdAt: at,
      });
      await appendAudit(tx, {
        action: "key.backed_up",
        data: {
          keyId: record.keyId,
          backupId: record.backupId,
          operationId: record.operationId,
          digest: file.sha256,
          mechanism: file.wrapped.mechanism,
          kek: file.kek,
          token: file.token,
        },
        actor: "system",
        subject: `key:${record.keyId}`,
        at,
      });
    },

    async recordRestore(tx, record, at) {
      await tx.insert(keyRestores).values({
        keyId: record.keyId,
        backupId: record.backupId,
        operationId: record.operationId,
        tokenLabel: record.token,
        mode: record.mode,
        proof: record.proof,
        createdAt: at,
      });
      // The key row before the trail (lock order: operation row, key row, audit append lock).
      await tx.update(keys).set({ lastDrillAt: at }).where(eq(keys.id, record.keyId));
      await appendAudit(tx, {
        action: "key.restored",
        data: {
          keyId: record.keyId,
          backupId: record.backupId,
          operationId: record.operationId,
          backupDigest: record.backupDigest,
          token: record.token,
          mode: record.mode,
          drill: "passed",
        },
        actor: "system",
        subject: `key:${record.keyId}`,
        at,
      });
    },
  };
}
