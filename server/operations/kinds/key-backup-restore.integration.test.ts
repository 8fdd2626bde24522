// key.backup and key.restore end to end on PGlite and PostgreSQL, with two real SoftHSM tokens (a primary and a
// replica sharing its backup KEK) behind the server's signer facade: proposals judged and refused, execution by
// the executor, the stored file, the audit trail, restores into a replica that lost the key, drills that leave
// nothing behind, tampered files, lost answers, and the admin-only download.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { count, eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "@/db/client";
import { auditEvents, keyBackups, keyRestores, keys, operations } from "@/db/schema";
import { verifyWholeChain } from "@/server/audit/verify";
import { type BackupFile, backupDigest, checkBackupFile } from "@/server/backups/backup-file";
import { downloadBackup } from "@/server/backups/download";
import { keyBackupsOf } from "@/server/backups/read";
import { closeHsm, closeServerTokenSet, HsmError } from "@/server/hsm";
import * as signer from "@/server/hsm/signer";
import {
  createBackupTestTokens,
  destroyOnToken,
  objectsOn,
  signsOnToken,
  tokenFacts,
} from "@/server/hsm/testing/backup-tokens";
import type { TestToken } from "@/server/hsm/testing/test-token";
import { firstAdmin, invitedMember, type Person } from "@/server/testing/identity-fixtures";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";
import { claimApproved } from "../executor/claim";
import { executeClaimed } from "../executor/execute";
import { actionsOf, insertKeyCreates } from "../executor/testing/fixtures";
import type { BackupSigner } from "../executor/types";
import { proposeOperation } from "../propose";

/** The backup KEK's label (ceremonies/backup-kek.ts), as every backup file names it. */
const BACKUP_KEK_LABEL = "keyward-backup-kek";

let a: TestToken; // primary
let b: TestToken; // replica
let dataDir: string;
const saved: Record<string, string | undefined> = {};

beforeAll(async () => {
  [a, b] = await createBackupTestTokens("kw-restore");
  dataDir = mkdtempSync(path.join(tmpdir(), "keyward-backups-"));
  const env: Record<string, string> = {
    KEYWARD_DATA_DIR: dataDir,
    AUTH_SECRET: "s".repeat(32),
    SOFTHSM2_CONF: a.conf,
    KEYWARD_HSM_TOKENS: JSON.stringify([
      { label: a.label, pinEnv: "KW_BACKUP_TEST_PIN_A" },
      { label: b.label, pinEnv: "KW_BACKUP_TEST_PIN_B" },
    ]),
    KW_BACKUP_TEST_PIN_A: a.pin,
    KW_BACKUP_TEST_PIN_B: b.pin,
    KEYWARD_HSM_POOL_SIZE: "1",
  };
  for (const [k, v] of Object.entries(env)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
});

afterAll(async () => {
  await closeServerTokenSet();
  closeHsm();
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  rmSync(dataDir, { recursive: true, force: true });
  a.cleanup();
});

const noWait = { attempts: 3, backoffMs: 0, maxBackoffMs: 0 };

/** The real backup signer, except that the first `lose` calls of each lose their answer after the HSM acted. */
function losingSigner(lose: number): BackupSigner & { calls: () => number } {
  let calls = 0;
  const lost = () =>
    new HsmError("outcome-unknown", "the HSM's answer was lost (injected after it acted)", {
      operation: "backup",
    });
  return {
    calls: () => calls,
    exportWrapped: async (ref) => {
      const done = await signer.exportWrapped(ref);
      if (++calls <= lose) throw lost();
      return done;
    },
    restoreKey: async (request) => {
      const done = await signer.restoreKey(request);
      if (++calls <= lose) throw lost();
      return done;
    },
  };
}

describe.each(testEngines())("key backups on %s", (engine) => {
  const database = useTestDatabase(engine);
  let db: Db;
  let admin: Person;
  let operator: Person;
  let auditor: Person;
  const t0 = new Date("2026-12-02T09:00:00.000Z");
  const clock = () => t0;

  beforeAll(async () => {
    db = database();
    admin = await firstAdmin(db, { now: t0 });
    operator = await invitedMember(db, admin.acting, { now: t0, roles: ["operator"] });
    auditor = await invitedMember(db, admin.acting, { now: t0, roles: ["auditor"] });
  });

  async function execute(id: string, backupSigner?: BackupSigner) {
    const op = await claimApproved(db, t0, id);
    if (op === null) throw new Error(`operation ${id} was not claimed`);
    return executeClaimed({ db, clock, retry: noWait, ...(backupSigner ? { backupSigner } : {}) }, op);
  }

  /** A key made by an executed key.create. */
  async function newKey(curve: "secp256k1" | "ed25519" | "p256", exportable: "never" | "wrapped") {
    const seed = { memberId: operator.acting.id, policyVersion: 1 };
    const [id = ""] = await insertKeyCreates(db, seed, 1, {
      now: t0,
      payload: () => ({ label: `${curve} ${exportable}`, curve, tags: ["cold"], exportable }),
    });
    expect(await execute(id)).toMatchObject({ outcome: "executed" });
    const [key] = await db.select().from(keys).where(eq(keys.operationId, id));
    if (key === undefined) throw new Error("no key made");
    return key;
  }

  /** Proposes as the operator, then puts the operation in approved (the votes' own tests are elsewhere). */
  async function proposeApproved(kind: string, payload: unknown): Promise<string> {
    const op = await proposeOperation(db, { actor: operator.acting, kind, payload, now: t0 });
    await db.update(operations).set({ state: "approved", decidedAt: t0 }).where(eq(operations.id, op.id));
    return op.id;
  }

  async function backedUp(keyId: string, backupSigner?: BackupSigner) {
    const id = await proposeApproved("key.backup", { keyId });
    expect(await execute(id, backupSigner)).toEqual({ operationId: id, outcome: "executed" });
    const [row] = await db.select().from(keyBackups).where(eq(keyBackups.operationId, id));
    if (row === undefined) throw new Error("no backup stored");
    return { operationId: id, row, file: row.file as BackupFile };
  }

  async function written() {
    const [ops] = await db.select({ n: count() }).from(operations);
    const [events] = await db.select({ n: count() }).from(auditEvents);
    const [backups] = await db.select({ n: count() }).from(keyBackups);
    const [restores] = await db.select({ n: count() }).from(keyRestores);
    return { ops: ops?.n, events: events?.n, backups: backups?.n, restores: restores?.n };
  }

  async function refusal(
    promise: Promise<unknown>,
  ): Promise<{ code?: string; field?: string; message: string }> {
    const e = await promise.then(
      () => undefined,
      (err: unknown) => err,
    );
    if (!(e instanceof Error)) throw new Error("expected a refusal");
    return { code: Reflect.get(e, "code"), field: Reflect.get(e, "field"), message: e.message };
  }

  it("backs up a wrapped key: the file names its KEK and token, its digest verifies, the trail has no wrapped bytes", async () => {
    const key = await newKey("secp256k1", "wrapped");
    const { operationId, row, file } = await backedUp(key.id);
    const { serial, kekId } = await tokenFacts(a);
    const kek = { id: kekId };
    expect(file).toMatchObject({
      format: "keyward-key-backup/1",
      key: { id: key.id, curve: "secp256k1", publicKey: key.publicKey, hsmRef: key.hsmRef },
      wrapped: { mechanism: "CKM_AES_KEY_WRAP_PAD" },
      kek: { label: BACKUP_KEK_LABEL, id: kek?.id },
      token: { label: a.label, serial },
      operation: { id: operationId, kind: "key.backup" },
      createdAt: t0.toISOString(),
    });
    const checked = checkBackupFile(file);
    expect(checked.ok).toBe(true);
    const { sha256, ...document } = file;
    expect(backupDigest(document)).toBe(sha256);
    expect(row).toMatchObject({
      digest: sha256,
      kekLabel: BACKUP_KEK_LABEL,
      kekId: kek?.id,
      tokenLabel: a.label,
    });

    const events = await db
      .select()
      .from(auditEvents)
      .where(eq(auditEvents.subject, `key:${key.id}`));
    const backedUpEvent = events.find((e) => e.action === "key.backed_up");
    expect(backedUpEvent?.data).toEqual({
      keyId: key.id,
      backupId: row.id,
      operationId,
      digest: sha256,
      mechanism: "CKM_AES_KEY_WRAP_PAD",
      kek: { label: BACKUP_KEK_LABEL, id: kek?.id },
      token: { label: a.label, serial },
    });
    // The wrapped key, in any spelling, is nowhere in the trail nor in the operation's row.
    const blob = Buffer.from(file.wrapped.blob, "base64");
    const spellings = [file.wrapped.blob, blob.toString("hex"), blob.toString("base64url")];
    const trail = await db.select({ text: sql<string>`${auditEvents.data}::text` }).from(auditEvents);
    const [opRow] = await db
      .select({ text: sql<string>`${operations.result}::text || ${operations.payload}::text` })
      .from(operations)
      .where(eq(operations.id, operationId));
    for (const s of spellings) {
      expect(trail.some((t) => t.text.includes(s))).toBe(false);
      expect(opRow?.text.includes(s)).toBe(false);
    }
    expect(await actionsOf(db, operationId)).toContain("operation.executed");
  });

  it("refuses to propose a backup of a never-exportable key or an Ed25519 key, saying why, writing nothing", async () => {
    const never = await newKey("secp256k1", "never");
    const ed = await newKey("ed25519", "wrapped");
    const before = await written();
    const n = await refusal(
      proposeOperation(db, {
        actor: operator.acting,
        kind: "key.backup",
        payload: { keyId: never.id },
        now: t0,
      }),
    );
    expect(n.code).toBe("CONFLICT");
    expect(n.message).toContain("never exportable");
    const e = await refusal(
      proposeOperation(db, {
        actor: operator.acting,
        kind: "key.backup",
        payload: { keyId: ed.id },
        now: t0,
      }),
    );
    expect(e.code).toBe("CONFLICT");
    expect(e.message).toContain("SoftHSM 2.6.1");
    expect(e.message).toContain("cannot wrap Ed25519");
    expect(await written()).toEqual(before);
  });

  it("restores into a replica that lost the key: put back as token objects, it signs for the recorded public key", async () => {
    const key = await newKey("secp256k1", "wrapped");
    const { row } = await backedUp(key.id);
    expect((await objectsOn(b, key.hsmRef)).withRef).toBe(2);
    expect(await destroyOnToken(b, key.hsmRef)).toBe(true);
    expect((await objectsOn(b, key.hsmRef)).withRef).toBe(0);

    const id = await proposeApproved("key.restore", { backupId: row.id, token: b.label });
    expect(await execute(id)).toEqual({ operationId: id, outcome: "executed" });
    expect((await objectsOn(b, key.hsmRef)).withRef).toBe(2);
    // The restored token object signs on its own, in another session, for the recorded public key.
    expect(await signsOnToken(b, key.hsmRef, key.publicKey, key.curve)).toBe(true);

    const [restore] = await db.select().from(keyRestores).where(eq(keyRestores.operationId, id));
    expect(restore).toMatchObject({ keyId: key.id, backupId: row.id, tokenLabel: b.label, mode: "token" });
    const [after] = await db.select({ lastDrillAt: keys.lastDrillAt }).from(keys).where(eq(keys.id, key.id));
    expect(after?.lastDrillAt).toEqual(t0);
    const events = await db
      .select()
      .from(auditEvents)
      .where(eq(auditEvents.subject, `key:${key.id}`));
    expect(events.find((e) => e.action === "key.restored")?.data).toEqual({
      keyId: key.id,
      backupId: row.id,
      operationId: id,
      backupDigest: row.digest,
      token: b.label,
      mode: "token",
      drill: "passed",
    });
    expect((await keyBackupsOf(db, key.id)).lastDrill).toEqual({ at: t0, token: b.label });
  });

  it("drills on a token that holds the key with a session object: the same objects before and after", async () => {
    const key = await newKey("p256", "wrapped");
    const { row } = await backedUp(key.id);
    for (const token of [a, b]) {
      const before = await objectsOn(token, key.hsmRef);
      expect(before.withRef).toBe(2);
      const id = await proposeApproved("key.restore", { backupId: row.id, token: token.label });
      expect(await execute(id)).toEqual({ operationId: id, outcome: "executed" });
      expect(await objectsOn(token, key.hsmRef)).toEqual(before);
      const [restore] = await db.select().from(keyRestores).where(eq(keyRestores.operationId, id));
      expect(restore).toMatchObject({ tokenLabel: token.label, mode: "session" });
    }
  });

  it("takes an uploaded file only when it is a stored backup of the key; a tampered one is refused by field, nothing written", async () => {
    const key = await newKey("secp256k1", "wrapped");
    const other = await newKey("secp256k1", "wrapped");
    const { row, file } = await backedUp(key.id);
    const before = await written();

    const flipped = Buffer.from(file.wrapped.blob, "base64");
    flipped[5] = (flipped[5] ?? 0) ^ 0x01;
    const tampered = [
      { ...file, wrapped: { ...file.wrapped, blob: flipped.toString("base64") } },
      { ...file, key: { ...file.key, publicKey: other.publicKey } },
    ];
    for (const bad of tampered) {
      const r = await refusal(
        proposeOperation(db, {
          actor: operator.acting,
          kind: "key.restore",
          payload: { file: bad, token: b.label },
          now: t0,
        }),
      );
      expect(r).toMatchObject({ code: "BAD_INPUT", field: "payload.file.sha256" });
      expect(r.message).toContain("changed after the backup was made");
      // Even with its digest made again, it is no backup this console stored.
      const { sha256: _, ...document } = bad;
      const redigested = { ...document, sha256: backupDigest(document) };
      const again = await refusal(
        proposeOperation(db, {
          actor: operator.acting,
          kind: "key.restore",
          payload: { file: redigested, token: b.label },
          now: t0,
        }),
      );
      expect(again).toMatchObject({ code: "BAD_INPUT", field: "payload.file" });
      expect(again.message).toContain("not a backup this console stored");
    }
    const noFormat = await refusal(
      proposeOperation(db, {
        actor: operator.acting,
        kind: "key.restore",
        payload: { file: { ...file, format: "x" }, token: b.label },
        now: t0,
      }),
    );
    expect(noFormat).toMatchObject({ code: "BAD_INPUT", field: "payload.file.format" });
    const noToken = await refusal(
      proposeOperation(db, {
        actor: operator.acting,
        kind: "key.restore",
        payload: { file, token: "kw-nowhere" },
        now: t0,
      }),
    );
    expect(noToken).toMatchObject({ code: "BAD_INPUT", field: "payload.token" });
    expect(await written()).toEqual(before);

    // The genuine file proposes a restore from the stored backup it is.
    const op = await proposeOperation(db, {
      actor: operator.acting,
      kind: "key.restore",
      payload: { file, token: b.label },
      now: t0,
    });
    expect(op.payload).toMatchObject({
      keyId: key.id,
      backupId: row.id,
      backupDigest: row.digest,
      token: b.label,
    });
  });

  it("fails a restore whose backup does not unwrap, with the reason, leaving no object and no record", async () => {
    const key = await newKey("secp256k1", "wrapped");
    const { row, file } = await backedUp(key.id);
    // An insider rewrites the stored file consistently (digest made again): the HSM still refuses the blob.
    const flipped = Buffer.from(file.wrapped.blob, "base64");
    flipped[7] = (flipped[7] ?? 0) ^ 0x80;
    const { sha256: _, ...document } = {
      ...file,
      wrapped: { ...file.wrapped, blob: flipped.toString("base64") },
    };
    const forged = { ...document, sha256: backupDigest(document) };
    const id = await proposeApproved("key.restore", { backupId: row.id, token: b.label });
    await db.update(keyBackups).set({ file: forged, digest: forged.sha256 }).where(eq(keyBackups.id, row.id));
    await destroyOnToken(b, key.hsmRef);

    const outcome = await execute(id);
    expect(outcome).toMatchObject({ operationId: id, outcome: "failed" });
    expect(outcome.outcome === "failed" ? outcome.reason : "").toContain("not the one approved");
    // Approved against the original digest: put the forged one under the approved digest and try again.
    const id2 = await proposeApproved("key.restore", { backupId: row.id, token: b.label });
    const outcome2 = await execute(id2);
    expect(outcome2).toMatchObject({ operationId: id2, outcome: "failed" });
    expect(outcome2.outcome === "failed" ? outcome2.reason : "").toContain(
      "does not unwrap under this token's backup KEK",
    );
    expect((await objectsOn(b, key.hsmRef)).withRef).toBe(0);
    expect(await db.select().from(keyRestores).where(eq(keyRestores.keyId, key.id))).toEqual([]);
    const [after] = await db.select({ lastDrillAt: keys.lastDrillAt }).from(keys).where(eq(keys.id, key.id));
    expect(after?.lastDrillAt).toBeNull();
    expect(await actionsOf(db, id2)).toEqual([
      "operation.proposed",
      "operation.executing",
      "operation.failed",
    ]);
  });

  it("repeats a backup and a restore after a lost answer: one file, one restore, one key on the token", async () => {
    const key = await newKey("secp256k1", "wrapped");
    const lossy = losingSigner(2);
    const { operationId, row } = await backedUp(key.id, lossy);
    expect(lossy.calls()).toBe(3);
    expect(await db.select().from(keyBackups).where(eq(keyBackups.operationId, operationId))).toHaveLength(1);

    await destroyOnToken(b, key.hsmRef);
    const restoring = losingSigner(1);
    const id = await proposeApproved("key.restore", { backupId: row.id, token: b.label });
    expect(await execute(id, restoring)).toEqual({ operationId: id, outcome: "executed" });
    expect(restoring.calls()).toBe(2);
    expect((await objectsOn(b, key.hsmRef)).withRef).toBe(2);
    expect(await db.select().from(keyRestores).where(eq(keyRestores.operationId, id))).toHaveLength(1);
    const events = await db
      .select()
      .from(auditEvents)
      .where(eq(auditEvents.subject, `key:${key.id}`));
    expect(events.filter((e) => e.action === "key.backed_up")).toHaveLength(1);
    expect(events.filter((e) => e.action === "key.restored")).toHaveLength(1);
  });

  it("hands the file to admins only, auditing each download", async () => {
    const key = await newKey("secp256k1", "wrapped");
    const { row, file } = await backedUp(key.id);
    for (const who of [operator, auditor]) {
      const r = await refusal(downloadBackup(db, { actor: who.acting, backupId: row.id, now: t0 }));
      expect(r.code).toBe("FORBIDDEN");
    }
    const before = await db.select().from(auditEvents).where(eq(auditEvents.action, "key.backup_downloaded"));
    const got = await downloadBackup(db, { actor: admin.acting, backupId: row.id, now: t0 });
    expect(got.file).toEqual(file);
    const after = await db.select().from(auditEvents).where(eq(auditEvents.action, "key.backup_downloaded"));
    expect(after.length).toBe(before.length + 1);
    expect(after.at(-1)?.data).toEqual({
      keyId: key.id,
      backupId: row.id,
      digest: row.digest,
      memberId: admin.acting.id,
    });
    const report = await verifyWholeChain(db);
    expect(report.problems).toEqual([]);
  });
});
