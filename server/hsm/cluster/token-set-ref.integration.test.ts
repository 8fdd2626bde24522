// Idempotent key creation under a caller's reference (the operation executor's key.create): a repeat
// returns the key the first call made and completes its missing replica clones, concurrent creates with one
// reference make one key even over pools of two threads, and a reference naming another kind of key is
// refused. Real SoftHSM tokens sharing one backup KEK, each behind a real worker pool.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shareBackupKek } from "../ceremonies/kek-sharing";
import { objectsWithRef } from "../keys/key-objects";
import { verifySignature } from "../keys/signature";
import { closeHsm } from "../pkcs11/pkcs11";
import { DirectExecutor } from "../pool/direct-executor";
import { TestPool } from "../testing/test-pool";
import { createTestToken, type TestToken } from "../testing/test-token";
import { addTestToken, asUser, soLogin } from "../testing/test-tokens";
import { createTokenSet, type HsmTokenSet } from "./token-set";

let a: TestToken; // primary
let b: TestToken;
let set: HsmTokenSet;

beforeAll(async () => {
  a = createTestToken("kw-ref-a");
  b = addTestToken(a, "kw-ref-b");
  await shareBackupKek({ source: soLogin(a), replicas: [soLogin(b)] });
  // Two threads per token, one call per thread at a time (no batching onto one thread): two creates with one
  // reference would otherwise search and generate at once in two threads.
  set = createTokenSet([a.config, b.config], (config) =>
    TestPool.startForTests(config, { size: 2, perThread: 1, batchSize: 1 }),
  );
});

afterAll(async () => {
  await set.close();
  closeHsm();
  a.cleanup();
});

const newRef = () => randomBytes(16).toString("hex");

/** Private and public objects holding the reference on a token, counted by a search of its own. */
function objectsOn(token: TestToken, ref: string): Promise<{ private: number; public: number }> {
  return asUser(token, false, (s) => ({
    private: objectsWithRef(s, "private", ref).length,
    public: objectsWithRef(s, "public", ref).length,
  }));
}

describe("createKey with a caller's reference", () => {
  it("a repeat returns the same key, not a second one", async () => {
    const ref = newRef();
    const options = { curve: "secp256k1", label: "op key", exportable: "wrapped-only", ref } as const;
    const first = await set.createKey(options);
    expect(first).toMatchObject({ ref, created: true, replicated: ["kw-ref-b"], notReplicated: [] });
    const again = await set.createKey({ ...options, label: "another label" });
    expect(again).toMatchObject({ ref, created: false, label: "op key", replicated: ["kw-ref-b"] });
    expect(again.publicKey.equals(first.publicKey)).toBe(true);
    await expect(objectsOn(a, ref)).resolves.toEqual({ private: 1, public: 1 });
    await expect(objectsOn(b, ref)).resolves.toEqual({ private: 1, public: 1 });
  });

  it("a repeat completes the clone a replica lacks", async () => {
    const ref = newRef();
    const options = { curve: "p256", label: "half done", exportable: "wrapped-only", ref } as const;
    const first = await set.createKey(options);
    // As if the replica had been down when the key was made: it holds no clone.
    const onB = new DirectExecutor(b.config);
    await onB.execute({ op: "destroy", ref });
    await set.createKey(options);
    const digest = randomBytes(32);
    const signature = await onB.execute({ op: "sign", ref, data: digest });
    await onB.close();
    expect(verifySignature("p256", first.publicKey, digest, signature)).toBe(true);
    await expect(objectsOn(b, ref)).resolves.toEqual({ private: 1, public: 1 });
  });

  it("concurrent creates with one reference make one key (repeated)", async () => {
    for (let round = 0; round < 5; round++) {
      const ref = newRef();
      const options = { curve: "ed25519", label: `race ${round}`, exportable: "never", ref } as const;
      const keys = await Promise.all(Array.from({ length: 4 }, () => set.createKey(options)));
      expect(keys.filter((k) => k.created)).toHaveLength(1);
      for (const key of keys) expect(key.publicKey.equals(keys[0]?.publicKey ?? Buffer.alloc(0))).toBe(true);
      await expect(objectsOn(a, ref)).resolves.toEqual({ private: 1, public: 1 });
    }
  });

  it("refuses a reference that names a key on another curve or with another export rule", async () => {
    const ref = newRef();
    await set.createKey({ curve: "secp256k1", label: "taken", exportable: "never", ref });
    await expect(
      set.createKey({ curve: "p256", label: "taken", exportable: "never", ref }),
    ).rejects.toMatchObject({ reason: "invalid-request" });
    await expect(
      set.createKey({ curve: "secp256k1", label: "taken", exportable: "wrapped-only", ref }),
    ).rejects.toMatchObject({ reason: "invalid-request" });
    await expect(objectsOn(a, ref)).resolves.toEqual({ private: 1, public: 1 });
  });

  it("removes a lone public half (an interrupted generation) and makes the key afresh", async () => {
    const ref = newRef();
    const key = await set.createKey({ curve: "p256", label: "lone", exportable: "never", ref });
    await asUser(a, true, (s) => {
      for (const h of objectsWithRef(s, "private", ref)) s.run("C_DestroyObject", (m, x) => m.C_DestroyObject(x, h));
    });
    const again = await set.createKey({ curve: "p256", label: "lone", exportable: "never", ref });
    expect(again.created).toBe(true);
    expect(again.publicKey.equals(key.publicKey)).toBe(false);
    await expect(objectsOn(a, ref)).resolves.toEqual({ private: 1, public: 1 });
  });
});

describe("findKey", () => {
  it("reads a key by reference from the primary, and answers null for none", async () => {
    const ref = newRef();
    const made = await set.createKey({ curve: "secp256k1", label: "found", exportable: "never", ref });
    const found = await set.findKey(ref);
    expect(found).toMatchObject({ ref, curve: "secp256k1", label: "found", exportable: "never" });
    expect(found?.publicKey.equals(made.publicKey)).toBe(true);
    await expect(set.findKey(newRef())).resolves.toBeNull();
    await expect(set.findKey("not a ref")).rejects.toMatchObject({ reason: "invalid-request" });
  });
});
