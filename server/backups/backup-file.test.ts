// The backup file format: its digest is over the canonical form (key order does not matter, any change does),
// and a check names the field it refuses.
import { describe, expect, it } from "vitest";
import { type BackupDocument, backupDigest, backupFile, checkBackupFile } from "./backup-file";

const document: BackupDocument = {
  format: "keyward-key-backup/1",
  key: {
    id: "5b0c1f7e-8d2a-4c1b-9e3f-2a6d7c8b9e01",
    label: "Cold 1",
    curve: "secp256k1",
    publicKey: `04${"ab".repeat(64)}`,
    hsmRef: "00".repeat(16),
  },
  wrapped: { mechanism: "CKM_AES_KEY_WRAP_PAD", blob: Buffer.alloc(72, 7).toString("base64") },
  kek: { label: "keyward-backup-kek", id: "11".repeat(16) },
  token: { label: "keyward", serial: "1234567890abcdef" },
  operation: { id: "0a5e1d2c-3b4a-4f6e-8d7c-9b0a1e2d3c4b", kind: "key.backup" },
  createdAt: "2026-12-02T09:00:00.000Z",
};

describe("backup file", () => {
  it("digests the canonical form: the same for any key order, a 64-hex SHA-256", () => {
    const reordered = JSON.parse(JSON.stringify(Object.fromEntries(Object.entries(document).reverse())));
    expect(backupDigest(reordered)).toBe(backupDigest(document));
    expect(backupFile(document).sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(checkBackupFile(JSON.parse(JSON.stringify(backupFile(document))))).toMatchObject({ ok: true });
  });

  it("refuses a file changed after its digest was made, naming file.sha256", () => {
    const file = backupFile(document);
    const changed = [
      { ...file, key: { ...file.key, publicKey: `04${"cd".repeat(64)}` } },
      { ...file, wrapped: { ...file.wrapped, blob: Buffer.alloc(72, 8).toString("base64") } },
      { ...file, token: { ...file.token, label: "keyward-replica-1" } },
    ];
    for (const bad of changed) {
      expect(checkBackupFile(bad)).toMatchObject({ ok: false, field: "file.sha256" });
    }
  });

  it("names the field the schema refuses, and refuses unknown fields and other formats", () => {
    const file = backupFile(document);
    expect(checkBackupFile({ ...file, format: "keyward-key-backup/2" })).toMatchObject({
      field: "file.format",
    });
    expect(checkBackupFile({ ...file, key: { ...file.key, curve: "rsa" } })).toMatchObject({
      field: "file.key.curve",
    });
    expect(checkBackupFile({ ...file, plaintext: "x" })).toMatchObject({ ok: false, field: "file" });
    expect(checkBackupFile("not an object")).toMatchObject({ ok: false, field: "file" });
  });
});
