// HsmPool on a real SoftHSM token in a temporary folder: worker threads started one after another, signatures
// verified by @noble/curves, back-pressure, deadlines, a crashed thread replaced, key destruction seen by
// every thread, and a clean shutdown.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Curve } from "../keys/curves";
import { HsmError } from "../pkcs11/errors";
import { closeHsm } from "../pkcs11/pkcs11";
import { HsmPool, type HsmPoolOptions } from "./pool";
import { TestPool } from "../testing/test-pool";
import { builtWorker, INSTALLED_WORKER, WORKER_BUILD_DIR } from "./worker-file";
import { verifySignature } from "../keys/signature";
import { createTestToken, type TestToken } from "../testing/test-token";
import { addTestToken, asUser } from "../testing/test-tokens";

let token: TestToken;
/** A second token for the wrong-PIN case, made before the library starts (SoftHSM lists tokens then). */
let other: TestToken;
const pools: HsmPool[] = [];

beforeAll(() => {
  token = createTestToken("kw-pool");
  other = addTestToken(token, "kw-pool-pin");
});

afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()));
});

afterAll(() => {
  // Only after every pool is closed: the library is shared by every thread of this process.
  closeHsm();
  token.cleanup();
});

/**
 * `hooks` is the same pool: TestPool's test-only calls (stall, exit, executeOn, starts). Signing from the
 * threads, as these tests are about them ("auto" signs from the main thread on SoftHSM: main-signing tests).
 */
async function startPool(options: HsmPoolOptions = {}): Promise<{ pool: TestPool; hooks: TestPool }> {
  const pool = await TestPool.startForTests(token.config, { size: 2, signFrom: "threads", ...options });
  pools.push(pool);
  return { pool, hooks: pool };
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

describe("HsmPool", () => {
  it("starts its threads one after another, each only once the previous one has its session open", async () => {
    const { pool, hooks } = await startPool({ size: 3 });
    const starts = hooks.starts();
    expect(starts.map((s) => s.thread)).toEqual([1, 2, 3]);
    for (const [i, s] of starts.entries()) {
      expect(s.initStartedAt).toBeGreaterThanOrEqual(s.createdAt);
      expect(s.readyAt).toBeGreaterThanOrEqual(s.initStartedAt);
      const before = starts[i - 1];
      if (before !== undefined) expect(s.createdAt).toBeGreaterThanOrEqual(before.readyAt);
    }
    expect(pool.stats()).toMatchObject({ size: 3, live: 3, queued: 0, inFlight: 0 });
  });

  it("signs many calls at once across its threads, every signature valid", async () => {
    const { pool } = await startPool();
    const keys = await Promise.all(
      (["secp256k1", "ed25519", "p256"] as const).map(async (curve) => ({
        curve,
        ...(await pool.execute({ op: "generate", curve, label: `pool-${curve}`, exportable: "never" })),
      })),
    );
    const calls = Array.from({ length: 300 }, (_, i) => {
      const key = keys[i % keys.length];
      if (key === undefined) throw new Error("no key");
      const data = input(key.curve);
      return pool.execute({ op: "sign", ref: key.ref, data }).then((signature) => ({ key, data, signature }));
    });
    const results = await Promise.all(calls);
    for (const { key, data, signature } of results) {
      expect(Buffer.isBuffer(signature)).toBe(true);
      expect(verifySignature(key.curve, key.publicKey, data, signature)).toBe(true);
    }
    const found = await pool.execute({ op: "find", ref: keys[0]?.ref ?? "" });
    expect(Buffer.isBuffer(found.publicKey)).toBe(true);
    expect(found).toMatchObject({ curve: "secp256k1", label: "pool-secp256k1", exportable: "never" });
  });

  it("keeps the class, reason, kind and message of errors thrown in a thread", async () => {
    const { pool } = await startPool();
    const ref = "00".repeat(16);
    const missing = await pool.execute({ op: "sign", ref, data: randomBytes(32) }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(HsmError);
    expect(missing).toMatchObject({ reason: "key-missing", kind: "configuration", code: "INTERNAL" });
    expect(String(missing)).toContain(ref);
    const key = await pool.execute({
      op: "generate",
      curve: "secp256k1",
      label: "short",
      exportable: "never",
    });
    await expect(pool.execute({ op: "sign", ref: key.ref, data: randomBytes(20) })).rejects.toMatchObject({
      reason: "invalid-request",
      message: expect.stringContaining("32-byte digest"),
    });
  });

  it("answers busy at once when the queue is full, and loses none of the calls it accepted", async () => {
    // Two threads taking one call each, eight more waiting: ten accepted, the rest refused.
    const { pool } = await startPool({ queueLimit: 8, perThread: 1 });
    const key = await pool.execute({
      op: "generate",
      curve: "secp256k1",
      label: "busy",
      exportable: "never",
    });
    const digests = Array.from({ length: 50 }, () => randomBytes(32));
    const settled = await Promise.allSettled(
      digests.map((data) => pool.execute({ op: "sign", ref: key.ref, data })),
    );
    const refused = settled.filter((s) => s.status === "rejected");
    for (const r of refused) expect(r.reason).toMatchObject({ reason: "busy", kind: "device" });
    settled.forEach((s, i) => {
      const data = digests[i];
      if (s.status === "fulfilled" && data !== undefined) {
        expect(verifySignature("secp256k1", key.publicKey, data, s.value)).toBe(true);
      }
    });
    expect(settled.length - refused.length).toBe(10);
    expect(pool.stats()).toMatchObject({ queued: 0, inFlight: 0 });
  });

  it("times out a hung call as maybe-done, replaces its thread, and keeps serving", async () => {
    const { pool, hooks } = await startPool({ stuckAfterMs: 300 });
    const before = hooks.threadIds();
    const replacement = hooks.nextStart();
    const hung = await outcomeOf(hooks.stall(30_000, { timeoutMs: 100 }));
    expect(hung).toBe("timeout");
    // The thread answered nothing while holding a call for stuckAfterMs: ended and replaced.
    await replacement;
    expect(pool.stats()).toMatchObject({ live: 2, replaced: 1 });
    expect(hooks.threadIds()).not.toEqual(before);
    const key = await pool.execute({ op: "generate", curve: "ed25519", label: "after", exportable: "never" });
    const data = randomBytes(64);
    const signatures = await Promise.all(
      [1, 2, 3, 4].map(() => pool.execute({ op: "sign", ref: key.ref, data })),
    );
    for (const s of signatures) expect(verifySignature("ed25519", key.publicKey, data, s)).toBe(true);
  });

  it("answers a short deadline with timeout without ending a thread that is still making progress", async () => {
    const { pool, hooks } = await startPool({ size: 1 });
    const busy = hooks.stall(400);
    // Posted behind the stall on the one thread: it misses its deadline, and is then skipped, not run.
    const late = await outcomeOf(pool.execute({ op: "mechanisms" }, { timeoutMs: 50 }));
    expect(late).toBe("timeout");
    expect(await outcomeOf(busy)).toBe("fulfilled");
    expect(pool.stats()).toMatchObject({ live: 1, replaced: 0, inFlight: 0 });
    await expect(pool.execute({ op: "mechanisms" })).resolves.toMatchObject({ backup: true });
  });

  it("answers busy, not timeout, for a call whose deadline passes before any thread took it", async () => {
    const { pool, hooks } = await startPool({ size: 1, perThread: 1 });
    const hung = hooks.stall(400);
    const waiting = await outcomeOf(pool.execute({ op: "mechanisms" }, { timeoutMs: 50 }));
    expect(waiting).toBe("busy");
    expect(await outcomeOf(hung)).toBe("fulfilled");
    expect(pool.stats().replaced).toBe(0);
  });

  it("never blocks the event loop while a thread is busy in the HSM", async () => {
    const { hooks } = await startPool({ size: 1 });
    const hung = hooks.stall(400);
    const started = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(performance.now() - started).toBeLessThan(200);
    await hung;
  });

  it("replaces a crashed thread, fails its calls as maybe-done, and keeps serving", async () => {
    const { pool, hooks } = await startPool();
    const replacement = hooks.nextStart();
    // Both posted to thread 0: it ends inside the first, so the second, held behind it, never runs.
    const crashing = hooks.exitThread(0);
    const held = hooks.executeOn(0, { op: "mechanisms" });
    expect(await outcomeOf(crashing)).toBe("outcome-unknown");
    expect(await outcomeOf(held)).toBe("outcome-unknown");
    await replacement;
    expect(pool.stats()).toMatchObject({ live: 2, replaced: 1 });
    const key = await pool.execute({ op: "generate", curve: "p256", label: "crash", exportable: "never" });
    for (const index of [0, 1]) {
      const data = randomBytes(32);
      const signature = await hooks.executeOn(index, { op: "sign", ref: key.ref, data });
      expect(verifySignature("p256", key.publicKey, data, signature)).toBe(true);
    }
  });

  it("makes every thread forget a destroyed key", async () => {
    const { pool, hooks } = await startPool();
    const key = await pool.execute({
      op: "generate",
      curve: "secp256k1",
      label: "gone",
      exportable: "never",
    });
    // Each thread caches the key's handle by signing once.
    for (const index of [0, 1])
      await hooks.executeOn(index, { op: "sign", ref: key.ref, data: randomBytes(32) });
    expect(await hooks.executeOn(0, { op: "destroy", ref: key.ref })).toBe(true);
    await pool.execute({ op: "forget", ref: key.ref });
    for (const index of [0, 1]) {
      const call = hooks.executeOn(index, { op: "sign", ref: key.ref, data: randomBytes(32) });
      await expect(call).rejects.toMatchObject({ reason: "key-missing" });
    }
    expect(await pool.execute({ op: "destroy", ref: key.ref })).toBe(false);
  });

  it("opens a new session and logs in again after the login was lost", async () => {
    const { pool } = await startPool({ size: 1 });
    const key = await pool.execute({
      op: "generate",
      curve: "secp256k1",
      label: "relogin",
      exportable: "never",
    });
    // Login state is per token for the whole process: a logout anywhere logs every session out.
    await asUser(token, false, (s) => s.run("C_Logout", (m, h) => m.C_Logout(h)));
    const lost = pool.execute({ op: "sign", ref: key.ref, data: randomBytes(32) });
    await expect(lost).rejects.toMatchObject({ reason: "session-lost", kind: "stale-session" });
    const data = randomBytes(32);
    const signature = await pool.execute({ op: "sign", ref: key.ref, data });
    expect(verifySignature("secp256k1", key.publicKey, data, signature)).toBe(true);
  });

  it("closes cleanly: accepted calls finish, later calls are refused", async () => {
    const { pool } = await startPool();
    const key = await pool.execute({
      op: "generate",
      curve: "secp256k1",
      label: "close",
      exportable: "never",
    });
    const digests = Array.from({ length: 40 }, () => randomBytes(32));
    const accepted = digests.map((data) => pool.execute({ op: "sign", ref: key.ref, data }));
    const closed = pool.close();
    const signatures = await Promise.all(accepted);
    signatures.forEach((s, i) => {
      const data = digests[i];
      if (data !== undefined) expect(verifySignature("secp256k1", key.publicKey, data, s)).toBe(true);
    });
    await expect(closed).resolves.toBeUndefined();
    expect(pool.stats()).toMatchObject({ live: 0, queued: 0, inFlight: 0 });
    await expect(pool.execute({ op: "mechanisms" })).rejects.toMatchObject({
      reason: "busy",
      message: expect.stringContaining("closed"),
    });
  });

  it("runs the installed worker, which carries no test operation: a stall sent to it is refused", async () => {
    /** The server's pool, with one way to post what only the testing worker knows. */
    class Probe extends HsmPool {
      static open(): Promise<Probe> {
        return HsmPool.launch(new Probe(token.config, { size: 1 }, builtWorker()));
      }
      stall(): Promise<unknown> {
        return this.jobs.add({ kind: "extension", name: "stall", args: [30_000] }, "stall", 2000);
      }
    }
    const pool = await Probe.open();
    pools.push(pool);
    await expect(pool.stall()).rejects.toMatchObject({
      reason: "invalid-request",
      message: "This HSM worker has no operation 'stall'.",
    });
    await expect(pool.execute({ op: "mechanisms" })).resolves.toMatchObject({ backup: true });
    const record = JSON.parse(readFileSync(builtWorker().replace(/\.mjs$/, ".json"), "utf8"));
    const inputs = Object.keys(record.inputs);
    expect(inputs).toContain("server/hsm/pool/pool-worker.ts");
    expect(inputs.filter((input) => input.startsWith("server/hsm/testing/"))).toEqual([]);
    expect(builtWorker()).toBe(
      path.resolve(import.meta.dirname, "../../..", WORKER_BUILD_DIR, `${INSTALLED_WORKER}.mjs`),
    );
  });

  it("refuses to start with a wrong PIN", async () => {
    const started = HsmPool.start({ ...other.config, pin: "wrong-pin-1" }, { size: 2 });
    await expect(started).rejects.toMatchObject({ reason: "pin-incorrect", kind: "configuration" });
  });
});
