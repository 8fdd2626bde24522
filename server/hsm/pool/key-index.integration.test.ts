// The pool's handle index on a real SoftHSM token: keys already on the token are indexed in one pass at
// start, a key made in one thread signs in another with no search, a key made elsewhere is searched once
// for the whole pool, and a destroyed key is dropped. Searches are counted in the testing worker
// (server/hsm/testing/pool-worker-entry.ts), never by the runtime.
import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { verifySignature } from "../keys/signature";
import { closeHsm } from "../pkcs11/pkcs11";
import { TestPool } from "../testing/test-pool";
import { createTestToken, type TestToken } from "../testing/test-token";
import { DirectExecutor } from "./direct-executor";

let token: TestToken;
const pools: TestPool[] = [];

beforeAll(() => {
  token = createTestToken("kw-index");
});

afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()));
});

afterAll(() => {
  closeHsm();
  token.cleanup();
});

/** Two threads, each call to its own thread: what one thread learns must reach the other. */
async function startPool(): Promise<TestPool> {
  const pool = await TestPool.startForTests(token.config, { size: 2, perThread: 1, batchSize: 1 });
  pools.push(pool);
  return pool;
}

/** Makes keys outside any pool, as an earlier process or another server would have. */
async function keysMadeElsewhere(count: number): Promise<{ ref: string; publicKey: Buffer }[]> {
  const direct = new DirectExecutor(token.config);
  try {
    const keys = [];
    for (let i = 0; i < count; i++) {
      keys.push(await direct.execute({ op: "generate", curve: "p256", label: `elsewhere ${i}`, exportable: "never" }));
    }
    return keys;
  } finally {
    await direct.close();
  }
}

describe("the pool's handle index", () => {
  it("indexes the keys already on the token in one pass at start: no thread searches to sign with them", async () => {
    const keys = await keysMadeElsewhere(5);
    const pool = await startPool();
    expect(pool.indexed()).toBeGreaterThanOrEqual(5);
    const before = await pool.searches();
    for (const key of keys) {
      for (const thread of [0, 1]) {
        const digest = randomBytes(32);
        const signature = await pool.executeOn(thread, { op: "sign", ref: key.ref, data: digest });
        expect(verifySignature("p256", key.publicKey, digest, signature)).toBe(true);
      }
    }
    expect(await pool.searches()).toBe(before);
  });

  it("a key made in one thread signs in the other with no search", async () => {
    const pool = await startPool();
    const before = await pool.searches();
    for (const curve of ["secp256k1", "ed25519", "p256"] as const) {
      const key = await pool.executeOn(0, { op: "generate", curve, label: `made in 0 ${curve}`, exportable: "never" });
      const data = randomBytes(32);
      const signature = await pool.executeOn(1, { op: "sign", ref: key.ref, data });
      expect(verifySignature(curve, key.publicKey, data, signature)).toBe(true);
    }
    expect(await pool.searches()).toBe(before);
  });

  it("a key made elsewhere after start is searched once for the whole pool, then signs everywhere", async () => {
    const pool = await startPool();
    const [key] = await keysMadeElsewhere(1);
    if (key === undefined) throw new Error("no key");
    const before = await pool.searches();
    const data = randomBytes(32);
    // Concurrent first uses share one search.
    const first = await Promise.all([0, 1, 0, 1].map((t) => pool.executeOn(t, { op: "sign", ref: key.ref, data })));
    for (const signature of first) expect(verifySignature("p256", key.publicKey, data, signature)).toBe(true);
    expect(await pool.searches()).toBe(before + 1);
    await pool.execute({ op: "sign", ref: key.ref, data });
    await pool.executeOn(1, { op: "sign", ref: key.ref, data });
    expect(await pool.searches()).toBe(before + 1);
  });

  it("drops a destroyed key: signing with it then says key-missing", async () => {
    const pool = await startPool();
    const key = await pool.executeOn(0, { op: "generate", curve: "p256", label: "doomed", exportable: "never" });
    await pool.executeOn(1, { op: "sign", ref: key.ref, data: randomBytes(32) });
    const indexed = pool.indexed();
    await pool.execute({ op: "destroy", ref: key.ref });
    expect(pool.indexed()).toBe(indexed - 1);
    for (const thread of [0, 1]) {
      await expect(pool.executeOn(thread, { op: "sign", ref: key.ref, data: randomBytes(32) })).rejects.toMatchObject(
        { reason: "key-missing" },
      );
    }
  });

  it("a key destroyed by another process is dropped from the index on the first failed signature", async () => {
    const pool = await startPool();
    const [key] = await keysMadeElsewhere(1);
    if (key === undefined) throw new Error("no key");
    await pool.execute({ op: "sign", ref: key.ref, data: randomBytes(32) });
    const direct = new DirectExecutor(token.config);
    await direct.execute({ op: "destroy", ref: key.ref });
    await direct.close();
    const indexed = pool.indexed();
    await expect(pool.execute({ op: "sign", ref: key.ref, data: randomBytes(32) })).rejects.toMatchObject({
      reason: "key-missing",
    });
    expect(pool.indexed()).toBe(indexed - 1);
  });
});
