// HsmPool with signFrom "main": signatures started on the main thread as asynchronous C_Sign over `inFlight`
// sessions of its own, apart from the number of threads, on a real SoftHSM token. The asynchronous C_Sign of
// this thread is watched here (how many run at once, how many started) and can be slowed by a fixed latency
// per call, held before the answer like a network HSM holds the session; searches on this thread are
// counted. The threads' own C_Sign are not affected (each thread has its own copy of pkcs11js).
import "server-only";
import { createHash, randomBytes } from "node:crypto";
import pkcs11js from "pkcs11js";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { shareBackupKek } from "../ceremonies/kek-sharing";
import { createTokenSet } from "../cluster/token-set";
import type { Curve } from "../keys/curves";
import { verifySignature } from "../keys/signature";
import { HsmError } from "../pkcs11/errors";
import { closeHsm, type HsmConfig } from "../pkcs11/pkcs11";
import { TestPool } from "../testing/test-pool";
import { createTestToken, type TestToken } from "../testing/test-token";
import { addTestToken, asUser, signStream, soLogin } from "../testing/test-tokens";
import { DirectExecutor } from "./direct-executor";
import { HsmPool, type HsmPoolOptions } from "./pool";

const watch = { latencyMs: 0, running: 0, most: 0, started: 0, searches: 0 };
const cSign: unknown = Reflect.get(pkcs11js.PKCS11.prototype, "C_SignCallback");
Reflect.set(pkcs11js.PKCS11.prototype, "C_SignCallback", function (this: unknown, ...args: unknown[]) {
  const callback = args[3];
  if (typeof cSign !== "function" || typeof callback !== "function") throw new Error("no C_SignCallback");
  watch.started += 1;
  watch.running += 1;
  watch.most = Math.max(watch.most, watch.running);
  const latency = watch.latencyMs;
  return Reflect.apply(cSign, this, [
    args[0],
    args[1],
    args[2],
    (error: unknown, data: unknown) => {
      const answer = () => {
        watch.running -= 1;
        Reflect.apply(callback, undefined, [error, data]);
      };
      if (latency > 0) setTimeout(answer, latency);
      else answer();
    },
  ]);
});
const findObjectsInit = pkcs11js.PKCS11.prototype.C_FindObjectsInit;
pkcs11js.PKCS11.prototype.C_FindObjectsInit = function (this: pkcs11js.PKCS11, ...args) {
  watch.searches += 1;
  return Reflect.apply(findObjectsInit, this, args);
};

let token: TestToken;
let replica: TestToken;
const pools: HsmPool[] = [];

beforeAll(async () => {
  token = createTestToken("kw-main-sign");
  replica = addTestToken(token, "kw-main-sign-b");
  await shareBackupKek({ source: soLogin(token), replicas: [soLogin(replica)] });
});

beforeEach(() => {
  watch.latencyMs = 0;
  watch.most = 0;
});

afterEach(async () => {
  watch.latencyMs = 0;
  await Promise.all(pools.splice(0).map((pool) => pool.close()));
});

afterAll(() => {
  // Only after every pool is closed: the library is shared by every thread of this process.
  closeHsm();
  token.cleanup();
});

async function startPool(options: HsmPoolOptions = {}): Promise<TestPool> {
  const pool = await TestPool.startForTests(token.config, { size: 1, signFrom: "main", ...options });
  pools.push(pool);
  return pool;
}

const input = (curve: Curve) => (curve === "ed25519" ? randomBytes(100) : randomBytes(32));

/** The reason of a rejected call, or "fulfilled". */
async function outcomeOf(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return "fulfilled";
  } catch (e) {
    if (e instanceof HsmError) return e.reason;
    throw e;
  }
}

describe("signing from the main thread", () => {
  it.each([1, 8])(
    "keeps %i signatures in flight on the main thread's sessions, none in the thread",
    async (inFlight) => {
      const pool = await startPool({ inFlight });
      expect(pool.stats().mainSessions).toBe(inFlight);
      const key = await pool.execute({
        op: "generate",
        curve: "secp256k1",
        label: "main",
        exportable: "never",
      });
      await pool.mostSigning();
      watch.latencyMs = 40;
      watch.most = 0;
      const digests = Array.from({ length: 3 * inFlight }, () => randomBytes(32));
      const signatures = await Promise.all(
        digests.map((data) => pool.execute({ op: "sign", ref: key.ref, data })),
      );
      signatures.forEach((signature, i) => {
        expect(verifySignature("secp256k1", key.publicKey, digests[i] ?? Buffer.alloc(0), signature)).toBe(
          true,
        );
      });
      expect(watch.most).toBe(inFlight);
      expect(await pool.mostSigning()).toEqual([0]);
    },
  );

  it("gives every call its own signature: many keys and curves at once, and a hint naming another key", async () => {
    const pool = await startPool({ inFlight: 6 });
    const keys = await Promise.all(
      (["secp256k1", "ed25519", "p256", "secp256k1", "p256"] as const).map(async (curve, i) => ({
        curve,
        ...(await pool.execute({ op: "generate", curve, label: `main-${i}`, exportable: "never" })),
      })),
    );
    const calls = Array.from({ length: 200 }, (_, i) => {
      const key = keys[i % keys.length];
      if (key === undefined) throw new Error("no key");
      const data = input(key.curve);
      return pool.execute({ op: "sign", ref: key.ref, data }).then((signature) => ({ key, data, signature }));
    });
    for (const { key, data, signature } of await Promise.all(calls)) {
      expect(verifySignature(key.curve, key.publicKey, data, signature)).toBe(true);
    }
    const [a, b] = keys;
    if (a === undefined || b === undefined) throw new Error("no keys");
    // A caller's hint that is another key's handle, or no handle at all, is checked and never signed with.
    const other = await pool.execute({ op: "locate", ref: b.ref });
    for (const hint of [other, { handle: randomBytes(8), curve: a.curve }]) {
      const data = input(a.curve);
      const signature = await pool.execute({ op: "sign", ref: a.ref, data, hint });
      expect(verifySignature(a.curve, a.publicKey, data, signature)).toBe(true);
      expect(verifySignature(b.curve, b.publicKey, data, signature)).toBe(false);
    }
  });

  it("never searches on the main thread: a key made elsewhere is located by a thread, then signed here", async () => {
    const pool = await startPool({ inFlight: 4 });
    const direct = new DirectExecutor(token.config);
    const outside = await direct.execute({
      op: "generate",
      curve: "p256",
      label: "made elsewhere",
      exportable: "never",
    });
    await direct.close();
    const searchesBefore = watch.searches;
    const startedBefore = watch.started;
    const data = randomBytes(32);
    const signatures = await Promise.all(
      Array.from({ length: 8 }, () => pool.execute({ op: "sign", ref: outside.ref, data })),
    );
    for (const signature of signatures)
      expect(verifySignature("p256", outside.publicKey, data, signature)).toBe(true);
    expect(watch.searches - searchesBefore).toBe(0);
    expect(await pool.searches()).toBeGreaterThan(0);
    // Signed on the main thread's sessions, not handed to the thread.
    expect(watch.started - startedBefore).toBe(8);
    const missing = await outcomeOf(pool.execute({ op: "sign", ref: "00".repeat(16), data }));
    expect(missing).toBe("key-missing");
    expect(watch.searches - searchesBefore).toBe(0);
  });

  it("answers busy at once past the queue limit, and what it refused never reached C_Sign", async () => {
    const pool = await startPool({ inFlight: 2, queueLimit: 2 });
    const key = await pool.execute({
      op: "generate",
      curve: "secp256k1",
      label: "busy",
      exportable: "never",
    });
    watch.latencyMs = 150;
    const startedBefore = watch.started;
    const calls = Array.from({ length: 10 }, () =>
      outcomeOf(pool.execute({ op: "sign", ref: key.ref, data: randomBytes(32) })),
    );
    // Each call reaches C_Sign or the queue before its execute first awaits: the state is known at once.
    expect(pool.stats()).toMatchObject({ queued: 2, inFlight: 2 });
    const outcomes = await Promise.all(calls);
    expect(outcomes.filter((o) => o === "fulfilled")).toHaveLength(4);
    expect(outcomes.filter((o) => o === "busy")).toHaveLength(6);
    expect(watch.started - startedBefore).toBe(4);
    expect(pool.stats()).toMatchObject({ queued: 0, inFlight: 0 });
  });

  it("answers timeout (maybe-done) for a started call past its deadline and busy for one still waiting", async () => {
    const pool = await startPool({ inFlight: 1 });
    const key = await pool.execute({ op: "generate", curve: "ed25519", label: "late", exportable: "never" });
    watch.latencyMs = 400;
    const startedBefore = watch.started;
    const running = pool
      .execute({ op: "sign", ref: key.ref, data: randomBytes(10) }, { timeoutMs: 100 })
      .catch((e: unknown) => e);
    const waiting = pool
      .execute({ op: "sign", ref: key.ref, data: randomBytes(10) }, { timeoutMs: 100 })
      .catch((e: unknown) => e);
    expect(await running).toMatchObject({ reason: "timeout", kind: "outcome-unknown" });
    expect(await waiting).toMatchObject({ reason: "busy", kind: "device" });
    expect(watch.started - startedBefore).toBe(1);
    // The session is free again once the late call returns; the next call waits for it, then signs.
    watch.latencyMs = 0;
    const data = randomBytes(10);
    expect(
      verifySignature("ed25519", key.publicKey, data, await pool.execute({ op: "sign", ref: key.ref, data })),
    ).toBe(true);
  });

  it("closes cleanly: accepted calls finish, later ones are refused, nothing is left running", async () => {
    const pool = await startPool({ inFlight: 4 });
    const key = await pool.execute({
      op: "generate",
      curve: "secp256k1",
      label: "close",
      exportable: "never",
    });
    watch.latencyMs = 80;
    const digests = Array.from({ length: 6 }, () => randomBytes(32));
    const accepted = digests.map((data) => pool.execute({ op: "sign", ref: key.ref, data }));
    const closed = pool.close();
    expect(await outcomeOf(pool.execute({ op: "sign", ref: key.ref, data: randomBytes(32) }))).toBe("busy");
    const signatures = await Promise.all(accepted);
    signatures.forEach((signature, i) => {
      expect(verifySignature("secp256k1", key.publicKey, digests[i] ?? Buffer.alloc(0), signature)).toBe(
        true,
      );
    });
    await closed;
    expect(pool.stats()).toMatchObject({ queued: 0, inFlight: 0, mainSessions: 0, live: 0 });
    expect(watch.running).toBe(0);
  });

  it("after the close grace period, a running call answers outcome-unknown and a waiting one busy", async () => {
    const pool = await startPool({ inFlight: 1, closeTimeoutMs: 1_000 });
    const key = await pool.execute({
      op: "generate",
      curve: "secp256k1",
      label: "close-late",
      exportable: "never",
    });
    watch.latencyMs = 1_500;
    const running = outcomeOf(pool.execute({ op: "sign", ref: key.ref, data: randomBytes(32) }));
    const waiting = outcomeOf(pool.execute({ op: "sign", ref: key.ref, data: randomBytes(32) }));
    await pool.close();
    expect(await running).toBe("outcome-unknown");
    expect(await waiting).toBe("busy");
    // close() waited (up to another grace period) for the abandoned call to return from the library, so that
    // closeHsm after it does not finalise the library under a running C_Sign.
    expect(watch.running).toBe(0);
  });

  it("heals after the login was lost: the thread logs in again, then the main thread signs again", async () => {
    const pool = await startPool({ inFlight: 2 });
    const key = await pool.execute({
      op: "generate",
      curve: "secp256k1",
      label: "relogin",
      exportable: "never",
    });
    await pool.execute({ op: "sign", ref: key.ref, data: randomBytes(32) });
    // Login state is per token for the whole process: a logout anywhere logs every session out.
    await asUser(token, false, (s) => s.run("C_Logout", (m, h) => m.C_Logout(h)));
    const searchesBefore = watch.searches;
    const lost = pool.execute({ op: "sign", ref: key.ref, data: randomBytes(32) });
    await expect(lost).rejects.toMatchObject({ reason: "session-lost", kind: "stale-session" });
    // The thread logs in again and finds the key's new handle (SoftHSM drops handles at a logout)…
    const data = randomBytes(32);
    expect(
      verifySignature(
        "secp256k1",
        key.publicKey,
        data,
        await pool.execute({ op: "sign", ref: key.ref, data }),
      ),
    ).toBe(true);
    // …which the main thread's sessions then check and sign with.
    const startedBefore = watch.started;
    const more = Array.from({ length: 4 }, () => randomBytes(32));
    const signatures = await Promise.all(
      more.map((d) => pool.execute({ op: "sign", ref: key.ref, data: d })),
    );
    signatures.forEach((signature, i) => {
      expect(verifySignature("secp256k1", key.publicKey, more[i] ?? Buffer.alloc(0), signature)).toBe(true);
    });
    expect(watch.started - startedBefore).toBe(4);
    expect(watch.searches - searchesBefore).toBe(0);
  });

  it("refuses a signFrom it does not know", async () => {
    const wrong = { signFrom: "elsewhere" } as unknown as HsmPoolOptions;
    await expect(TestPool.startForTests(token.config, wrong)).rejects.toMatchObject({
      reason: "invalid-request",
    });
  });
});

describe("signing from the main thread in a token set", () => {
  it("fails over without losing a request when the primary's signatures hang past their deadline", async () => {
    // The primary signs from the main thread (slowed below); the replica in its thread (not slowed).
    const makeExecutor = async (config: HsmConfig) => {
      const options: HsmPoolOptions =
        config.tokenLabel === token.label
          ? { size: 1, signFrom: "main", inFlight: 4 }
          : { size: 1, signFrom: "threads" };
      return HsmPool.start(config, options);
    };
    const set = createTokenSet([token.config, replica.config], makeExecutor, { signTimeoutMs: 300 });
    try {
      const key = await set.createKey({
        curve: "secp256k1",
        label: "main-failover",
        exportable: "wrapped-only",
      });
      expect(key.replicated).toEqual([replica.label]);
      const digestOf = (i: number) => createHash("sha256").update(`main failover ${i}`).digest();
      const total = 60;
      const results = await signStream(set, key.ref, {
        total,
        clients: 4,
        digestOf,
        onAnswer: (n) => {
          if (n === 10) watch.latencyMs = 2_000;
        },
      });
      watch.latencyMs = 0;
      expect(results).toHaveLength(total);
      expect(new Set(results.map((r) => r.i)).size).toBe(total);
      for (const r of results)
        expect(verifySignature("secp256k1", key.publicKey, digestOf(r.i), r.signature)).toBe(true);
      expect(results.filter((r) => r.token === token.label).length).toBeGreaterThan(0);
      expect(results.filter((r) => r.token === replica.label).length).toBeGreaterThan(0);
      const primary = set.health().find((t) => t.label === token.label);
      expect(primary?.state).not.toBe("healthy");
    } finally {
      await set.close();
      // Calls still held by the slowed sessions return within the latency; let them before the library goes.
      await vi.waitFor(() => expect(watch.running).toBe(0), { timeout: 10_000 });
    }
  });
});
