// Calls in flight apart from threads: a pool signing from its threads (signFrom "threads"; "auto" signs from
// the main thread on SoftHSM) keeps several sessions in each and signs with pkcs11js's asynchronous C_Sign,
// so one thread has as many signatures running as `inFlight` asks. Real SoftHSM; the
// testing worker adds a fixed latency per C_Sign (holding the call in flight, like a network HSM) and
// reports how many ran at once on each thread.
import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { verifySignature } from "../keys/signature";
import { closeHsm } from "../pkcs11/pkcs11";
import { TestPool } from "../testing/test-pool";
import { createTestToken, type TestToken } from "../testing/test-token";

let token: TestToken;
const pools: TestPool[] = [];

beforeAll(() => {
  token = createTestToken("kw-in-flight");
});

afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()));
});

afterAll(() => {
  closeHsm();
  token.cleanup();
});

async function signMany(pool: TestPool, count: number) {
  const key = await pool.execute({
    op: "generate",
    curve: "secp256k1",
    label: "in flight",
    exportable: "never",
  });
  const digests = Array.from({ length: count }, () => randomBytes(32));
  const signatures = await Promise.all(
    digests.map((data) => pool.execute({ op: "sign", ref: key.ref, data })),
  );
  signatures.forEach((signature, i) => {
    expect(verifySignature("secp256k1", key.publicKey, digests[i] ?? Buffer.alloc(0), signature)).toBe(true);
  });
}

describe("calls in flight", () => {
  it("with one call in flight per thread (the default) signs on the thread's own session, not asynchronously", async () => {
    const pool = await TestPool.startForTests(token.config, { size: 1, signFrom: "threads" });
    pools.push(pool);
    await pool.mostSigning();
    await signMany(pool, 6);
    expect(await pool.mostSigning()).toEqual([0]);
  });

  it.each([2, 4, 12])("one thread keeps %i signatures in flight when inFlight says so", async (inFlight) => {
    const pool = await TestPool.startForTests(token.config, { size: 1, inFlight, signFrom: "threads" });
    pools.push(pool);
    await pool.setLatency(40);
    await pool.mostSigning();
    await signMany(pool, 3 * inFlight);
    expect(await pool.mostSigning()).toEqual([inFlight]);
  });

  it("splits the calls in flight over the threads", async () => {
    const pool = await TestPool.startForTests(token.config, { size: 2, inFlight: 6, signFrom: "threads" });
    pools.push(pool);
    await pool.setLatency(40);
    await pool.mostSigning();
    await signMany(pool, 24);
    expect(await pool.mostSigning()).toEqual([3, 3]);
  });

  it("refuses an inFlight that is not a positive number", async () => {
    await expect(TestPool.startForTests(token.config, { size: 1, inFlight: 0 })).rejects.toMatchObject({
      reason: "invalid-request",
    });
  });
});
