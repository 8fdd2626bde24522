// Key backups and recovery drills (issue 12 item 5): the wrapped export file each key.backup made, and what
// each key.restore did on which HSM token. Rows are written only by the executor, in the transaction that
// marks their operation executed (one per operation), and are never changed afterwards.
import { index, jsonb, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { keys, operations } from "./operations";

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });

export const keyBackups = pgTable(
  "key_backups",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    keyId: uuid("key_id")
      .notNull()
      .references(() => keys.id),
    /** The key.backup that made it: one file per operation, so a repeated execution cannot add a second. */
    operationId: uuid("operation_id")
      .notNull()
      .unique()
      .references(() => operations.id),
    /** The whole backup file (server/backups/backup-file.ts), wrapped key included: shown to admins only. */
    file: jsonb("file").notNull(),
    /** SHA-256 hex of the file's canonical form (RFC 8785), as written in the file. */
    digest: text("digest").notNull().unique(),
    kekLabel: text("kek_label").notNull(),
    kekId: text("kek_id").notNull(),
    tokenLabel: text("token_label").notNull(),
    createdAt: ts("created_at").notNull(),
  },
  (t) => [index("key_backups_key_idx").on(t.keyId)],
);

export const RESTORE_MODES = ["token", "session"] as const;
export type RestoreMode = (typeof RESTORE_MODES)[number];

export const keyRestores = pgTable(
  "key_restores",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    keyId: uuid("key_id")
      .notNull()
      .references(() => keys.id),
    backupId: uuid("backup_id")
      .notNull()
      .references(() => keyBackups.id),
    /** The key.restore that did it: one per operation. */
    operationId: uuid("operation_id")
      .notNull()
      .unique()
      .references(() => operations.id),
    tokenLabel: text("token_label").notNull(),
    /** token: put back as token objects; session: a drill with a session object, destroyed afterwards. */
    mode: text("mode").$type<RestoreMode>().notNull(),
    /** The proof: for token mode the challenge and signature (hex) verified against the recorded public key. */
    proof: jsonb("proof").notNull(),
    createdAt: ts("created_at").notNull(),
  },
  (t) => [index("key_restores_key_idx").on(t.keyId)],
);

export type KeyBackup = typeof keyBackups.$inferSelect;
export type KeyRestore = typeof keyRestores.$inferSelect;
