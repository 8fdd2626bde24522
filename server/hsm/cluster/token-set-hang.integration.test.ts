// A primary token that hangs mid-call while signatures stream, with every token behind a real HsmPool as in
// the server: the calls stuck behind it time out (maybe-done), are signed by the replica instead, none is
// lost, the primary is set aside (its hung thread replaced), and it serves again after a probe.
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shareBackupKek } from "../ceremonies/kek-sharing";
import { closeHsm, type HsmConfig } from "../pkcs11/pkcs11";
import { TestPool } from "../testing/test-pool";
import { verifySignature } from "../keys/signature";
import { createTestToken, type TestToken } from "../testing/test-token";
import { addTestToken, signStream, soLogin } from "../testing/test-tokens";
import { createTokenSet, type HsmTokenSet } from "./token-set";

let a: TestToken;
let b: TestToken;
let set: HsmTokenSet;
const pools = new Map<string, TestPool>();
const TIMEOUT_MS = 400;
const BACKOFF_MS = 1_000;
let now = Date.parse("2026-11-25T10:00:00Z");

beforeAll(async () => {
  a = createTestToken("kw-hang-a");
  b = addTestToken(a, "kw-hang-b");
  await shareBackupKek({ source: soLogin(a), replicas: [soLogin(b)] });
  const makeExecutor = async (config: HsmConfig) => {
    // One thread per token, signing there too ("auto" would sign from the main thread on SoftHSM), so one
    // hung call blocks the whole token; the watchdog ends a thread that answers nothing for the call deadline.
    const pool = await TestPool.startForTests(config, {
      size: 1,
      timeoutMs: TIMEOUT_MS,
      signFrom: "threads",
    });
    pools.set(config.tokenLabel, pool);
    return pool;
  };
  set = createTokenSet([a.config, b.config], makeExecutor, {
    signTimeoutMs: TIMEOUT_MS,
    clock: () => new Date(now),
    backoffMs: BACKOFF_MS,
  });
});

afterAll(async () => {
  await set.close();
  closeHsm();
  a.cleanup();
});

const digestOf = (i: number) => createHash("sha256").update(`hang ${i}`).digest();

describe("a primary token that hangs while signatures stream", () => {
  it("loses no request: calls stuck behind it time out and are signed by the replica", async () => {
    const key = await set.createKey({ curve: "secp256k1", label: "hang", exportable: "wrapped-only" });
    expect(key.replicated).toEqual(["kw-hang-b"]);
    const primary = pools.get("kw-hang-a");
    if (primary === undefined) throw new Error("the primary's pool was not made");
    const replaced = primary.nextStart();
    let hung: Promise<unknown> | undefined;

    const total = 60;
    const results = await signStream(set, key.ref, {
      total,
      clients: 3,
      digestOf,
      // The primary's only thread blocks as inside a PKCS#11 call that never returns.
      onAnswer: (n) => {
        if (n === 10) hung = primary.stall(30_000).catch((e: unknown) => e);
      },
    });

    expect(results).toHaveLength(total);
    expect(new Set(results.map((r) => r.i)).size).toBe(total);
    for (const r of results)
      expect(verifySignature("secp256k1", key.publicKey, digestOf(r.i), r.signature)).toBe(true);
    expect(results.filter((r) => r.token === "kw-hang-b").length).toBeGreaterThan(0);
    // The hung call itself is answered maybe-done, never left pending; its thread was ended and replaced.
    expect(await hung).toMatchObject({ kind: "outcome-unknown" });
    await replaced;
    expect(primary.stats().replaced).toBeGreaterThanOrEqual(1);
    // Each call the hung thread held counts as a fault: the primary is set aside, the replica serves.
    const [health, replica] = set.health();
    expect(health).toMatchObject({ state: "failed" });
    expect(replica).toMatchObject({ state: "healthy" });
    expect(health?.lastError).toMatchObject({ kind: "outcome-unknown" });
    expect(health?.lastError?.message).toMatch(/kw-hang-a/);
  });

  it("takes the primary back once its back-off is over and a probe succeeds, and signs there again", async () => {
    now += BACKOFF_MS;
    await set.probeDue();
    expect(set.health()[0]).toMatchObject({ state: "healthy" });
    const key = await set.createKey({ curve: "p256", label: "after hang", exportable: "wrapped-only" });
    const signed = await set.sign(key.ref, digestOf(1000));
    expect(signed.token).toBe("kw-hang-a");
    expect(verifySignature("p256", key.publicKey, digestOf(1000), signed.signature)).toBe(true);
  });
});
