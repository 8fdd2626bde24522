// Which tokens hold a key with every token behind a real HsmPool, as in the server: the look-up runs in the
// pool threads (the `inspect` operation, its answer revived across the thread boundary), a repeated view costs
// no search in them, and a replica whose only thread hangs is answered "unreachable" within its deadline while
// the primary still answers, so the key page never waits on a hung token; once the hung thread is replaced,
// the replica answers again.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shareBackupKek } from "../ceremonies/kek-sharing";
import { createTokenSet, type HsmTokenSet } from "../cluster/token-set";
import { closeHsm, type HsmConfig } from "../pkcs11/pkcs11";
import { TestPool } from "../testing/test-pool";
import { createTestToken, type TestToken } from "../testing/test-token";
import { addTestToken, soLogin } from "../testing/test-tokens";
import { keyPresence, PRESENCE_TTL_MS } from "./key-presence";

let a: TestToken;
let b: TestToken;
let set: HsmTokenSet;
const pools = new Map<string, TestPool>();
const TIMEOUT_MS = 2_000;
let now = Date.parse("2026-11-25T10:00:00Z");
const nextView = () => {
  now += PRESENCE_TTL_MS;
  return new Date(now);
};

beforeAll(async () => {
  a = createTestToken("kw-presence-hang-a");
  b = addTestToken(a, "kw-presence-hang-b");
  await shareBackupKek({ source: soLogin(a), replicas: [soLogin(b)] });
  const makeExecutor = async (config: HsmConfig) => {
    // One thread per token: one hung call blocks the whole token.
    const pool = await TestPool.startForTests(config, { size: 1, timeoutMs: TIMEOUT_MS });
    pools.set(config.tokenLabel, pool);
    return pool;
  };
  set = createTokenSet([a.config, b.config], makeExecutor, {
    signTimeoutMs: TIMEOUT_MS,
    clock: () => new Date(now),
  });
});

afterAll(async () => {
  await set.close();
  closeHsm();
  a.cleanup();
});

function poolOf(label: string): TestPool {
  const pool = pools.get(label);
  if (pool === undefined) throw new Error(`no pool for ${label}`);
  return pool;
}

describe("key presence through the server's pools", () => {
  it("answers from the pool threads, and a repeated view searches nothing there", async () => {
    const key = await set.createKey({ curve: "p256", label: "pooled", exportable: "wrapped-only" });
    const recorded = {
      ref: key.ref,
      publicKey: key.publicKey.toString("hex"),
      curve: "p256",
      exportable: "wrapped",
    };
    const first = await keyPresence(recorded, { set, now: nextView() });
    expect(first.tokens.map((t) => [t.label, t.state, t.matches])).toEqual([
      ["kw-presence-hang-a", "holds", true],
      ["kw-presence-hang-b", "holds", true],
    ]);
    expect(first.tokens.every((t) => typeof t.serial === "string" && t.serial.length > 0)).toBe(true);
    const before = [await poolOf(a.label).searches(), await poolOf(b.label).searches()];
    await keyPresence(recorded, { set, now: nextView() });
    expect([await poolOf(a.label).searches(), await poolOf(b.label).searches()]).toEqual(before);
  });

  it("says a hung replica is unreachable within its deadline, and asks it again once its thread is replaced", async () => {
    const key = await set.createKey({ curve: "secp256k1", label: "hang", exportable: "wrapped-only" });
    expect(key.replicated).toEqual(["kw-presence-hang-b"]);
    const recorded = {
      ref: key.ref,
      publicKey: key.publicKey.toString("hex"),
      curve: "secp256k1",
      exportable: "wrapped",
    };
    const replica = poolOf(b.label);
    const replaced = replica.nextStart();
    // The replica's only thread blocks as inside a PKCS#11 call that never returns.
    const hung = replica.stall(30_000).catch((e: unknown) => e);

    const presence = await keyPresence(recorded, { set, now: nextView() });
    expect(presence.tokens.map((t) => [t.label, t.state, t.matches])).toEqual([
      ["kw-presence-hang-a", "holds", true],
      ["kw-presence-hang-b", "unreachable", null],
    ]);
    expect(presence.tokens[1]?.note).toMatch(/did not answer in time|a call to it broke off|busy/);

    expect(await hung).toMatchObject({ kind: "outcome-unknown" });
    await replaced;
    const after = await keyPresence(recorded, { set, now: nextView() });
    expect(after.tokens.map((t) => [t.label, t.state, t.matches])).toEqual([
      ["kw-presence-hang-a", "holds", true],
      ["kw-presence-hang-b", "holds", true],
    ]);
  });
});
