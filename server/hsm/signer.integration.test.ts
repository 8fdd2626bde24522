// The signer facade (what the operation executor and the audit checkpointer use) drives the server's token
// set: a key made on the primary and cloned into the replica, signed, backed up again, and destroyed on both.
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { closeServerTokenSet } from "./cluster/server-token-set";
import { shareBackupKek } from "./ceremonies/kek-sharing";
import { closeHsm } from "./pkcs11/pkcs11";
import {
  backupKey,
  createKey,
  destroyKey,
  findKey,
  operationKeyRef,
  sign,
  verifySignature,
} from "./signer";
import { createTestToken, type TestToken } from "./testing/test-token";
import { addTestToken, soLogin } from "./testing/test-tokens";

let a: TestToken;
let b: TestToken;
let dataDir: string;

beforeAll(async () => {
  a = createTestToken("kw-signer-a");
  b = addTestToken(a, "kw-signer-b");
  await shareBackupKek({ source: soLogin(a), replicas: [soLogin(b)] });
  dataDir = mkdtempSync(path.join(tmpdir(), "keyward-signer-"));
  vi.stubEnv("KEYWARD_DATA_DIR", dataDir);
  vi.stubEnv("AUTH_SECRET", "s".repeat(32));
  vi.stubEnv("SOFTHSM2_CONF", a.conf);
  vi.stubEnv(
    "KEYWARD_HSM_TOKENS",
    JSON.stringify([
      { label: a.label, pinEnv: "KW_TEST_PIN_A" },
      { label: b.label, pinEnv: "KW_TEST_PIN_B" },
    ]),
  );
  vi.stubEnv("KW_TEST_PIN_A", a.pin);
  vi.stubEnv("KW_TEST_PIN_B", b.pin);
  vi.stubEnv("KEYWARD_HSM_POOL_SIZE", "1");
});

afterAll(async () => {
  await closeServerTokenSet();
  closeHsm();
  vi.unstubAllEnvs();
  a.cleanup();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("the signer facade", () => {
  it("makes, signs with, backs up and destroys a key through the server's token set", async () => {
    const key = await createKey({ curve: "secp256k1", label: "signer", exportable: "wrapped-only" });
    expect(key).toMatchObject({ token: "kw-signer-a", replicated: ["kw-signer-b"], notReplicated: [] });
    const data = createHash("sha256").update("signer").digest();
    const signed = await sign(key.ref, data);
    expect(signed.token).toBe("kw-signer-a");
    expect(verifySignature("secp256k1", key.publicKey, data, signed.signature)).toBe(true);
    await expect(backupKey(key.ref)).resolves.toEqual({ replicated: ["kw-signer-b"], notReplicated: [] });
    await expect(destroyKey(key.ref)).resolves.toEqual({
      destroyed: ["kw-signer-a", "kw-signer-b"],
      absent: [],
    });
    await expect(sign(key.ref, data)).rejects.toMatchObject({ reason: "key-missing" });
  });

  it("creates an operation's key once under operationKeyRef, and finds it by that reference", async () => {
    const operationId = "5b0f3c1e-8a8d-4c1b-9d6e-2f4a1c0e7b21";
    const ref = operationKeyRef(operationId);
    // The length of every Keyward key reference (16-byte CKA_ID), stable for one id, distinct between ids.
    expect(ref).toMatch(/^[0-9a-f]{32}$/);
    expect(operationKeyRef(operationId)).toBe(ref);
    expect(operationKeyRef("5b0f3c1e-8a8d-4c1b-9d6e-2f4a1c0e7b22")).not.toBe(ref);
    await expect(findKey(ref)).resolves.toBeNull();
    const options = { curve: "p256", label: "by operation", exportable: "wrapped-only", ref } as const;
    const [first, second] = await Promise.all([createKey(options), createKey(options)]);
    expect([first?.created, second?.created].sort()).toEqual([false, true]);
    expect(second?.publicKey.equals(first?.publicKey ?? Buffer.alloc(0))).toBe(true);
    const again = await createKey(options);
    expect(again).toMatchObject({ ref, created: false, replicated: ["kw-signer-b"], notReplicated: [] });
    const found = await findKey(ref);
    expect(found).toMatchObject({ ref, curve: "p256", label: "by operation", exportable: "wrapped-only" });
    expect(found?.publicKey.equals(again.publicKey)).toBe(true);
  });
});
