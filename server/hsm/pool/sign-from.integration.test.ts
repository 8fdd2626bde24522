// signFrom "auto", the default, on a real SoftHSM token: the pool asks the library what it is (C_GetInfo, in
// its first thread) and signs from the main thread because SoftHSM signs in this process; "threads" asked
// for explicitly stays threads; the first thread's signing sessions, opened before the choice, are closed
// once it is "main"; and the server's token set, configured with nothing about it, says in the boot log
// which it chose and why. Signatures are checked by node:crypto. This thread's asynchronous C_Sign are
// counted here (the threads have their own copy of pkcs11js, not counted).
import { createHash, createPublicKey, randomBytes, verify } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pkcs11js from "pkcs11js";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { closeServerTokenSet, serverTokenSet } from "../cluster/server-token-set";
import { closeHsm } from "../pkcs11/pkcs11";
import { TestPool } from "../testing/test-pool";
import { createTestToken, type TestToken } from "../testing/test-token";
import { HsmPool, type HsmPoolOptions } from "./pool";

let mainThreadSigns = 0;
const cSign: unknown = Reflect.get(pkcs11js.PKCS11.prototype, "C_SignCallback");
Reflect.set(pkcs11js.PKCS11.prototype, "C_SignCallback", function (this: unknown, ...args: unknown[]) {
  if (typeof cSign !== "function") throw new Error("no C_SignCallback");
  mainThreadSigns += 1;
  return Reflect.apply(cSign, this, args);
});

let token: TestToken;
let dataDir: string;
const pools: HsmPool[] = [];

beforeAll(() => {
  token = createTestToken("kw-sign-from");
  dataDir = mkdtempSync(path.join(tmpdir(), "keyward-sign-from-"));
});

afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()));
});

afterAll(async () => {
  await closeServerTokenSet();
  // Only after every pool is closed: the library is shared by every thread of this process.
  closeHsm();
  vi.unstubAllEnvs();
  token.cleanup();
  rmSync(dataDir, { recursive: true, force: true });
});

/** The pool the server runs (the installed worker). */
async function serverPool(options: HsmPoolOptions): Promise<HsmPool> {
  const pool = await HsmPool.start(token.config, options);
  pools.push(pool);
  return pool;
}

async function testPool(options: HsmPoolOptions): Promise<TestPool> {
  const pool = await TestPool.startForTests(token.config, options);
  pools.push(pool);
  return pool;
}

/** Signs with a new Ed25519 and a new P-256 key and checks both signatures with node:crypto. */
async function signsVerifiably(pool: HsmPool): Promise<void> {
  const ed = await pool.execute({ op: "generate", curve: "ed25519", label: "sf-ed", exportable: "never" });
  const message = randomBytes(100);
  const edSignature = await pool.execute({ op: "sign", ref: ed.ref, data: message });
  // SPKI of an Ed25519 key: this fixed prefix, then its 32 bytes.
  const edKey = createPublicKey({
    key: Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), ed.publicKey]),
    format: "der",
    type: "spki",
  });
  expect(verify(null, message, edKey, edSignature)).toBe(true);
  expect(verify(null, randomBytes(100), edKey, edSignature)).toBe(false);

  const p256 = await pool.execute({ op: "generate", curve: "p256", label: "sf-p256", exportable: "never" });
  const text = Buffer.from("signed by the pool's default path");
  const signature = await pool.execute({
    op: "sign",
    ref: p256.ref,
    data: createHash("sha256").update(text).digest(),
  });
  // The pool gives the uncompressed point 04‖x‖y and r‖s.
  const point = Buffer.from(p256.publicKey);
  const p256Key = createPublicKey({
    key: {
      kty: "EC",
      crv: "P-256",
      x: point.subarray(1, 33).toString("base64url"),
      y: point.subarray(33, 65).toString("base64url"),
    },
    format: "jwk",
  });
  expect(verify("sha256", text, { key: p256Key, dsaEncoding: "ieee-p1363" }, signature)).toBe(true);
}

describe("signFrom auto (the default) on SoftHSM", () => {
  it("signs from the main thread, chosen from what the library reports", async () => {
    const pool = await serverPool({ size: 1, inFlight: 4 });
    expect(pool.signing?.signFrom).toBe("main");
    expect(pool.signing?.why).toMatch(/^auto: the library reports "SoftHSM"/);
    expect(pool.stats().mainSessions).toBe(4);
    const before = mainThreadSigns;
    await signsVerifiably(pool);
    expect(mainThreadSigns - before).toBe(2);
  });

  it("stays on the threads when threads is asked for", async () => {
    const pool = await serverPool({ size: 1, inFlight: 4, signFrom: "threads" });
    expect(pool.signing).toEqual({ signFrom: "threads", why: '"threads" was set' });
    expect(pool.stats().mainSessions).toBe(0);
    const before = mainThreadSigns;
    await signsVerifiably(pool);
    expect(mainThreadSigns).toBe(before);
  });

  it.each([
    ["auto", 0],
    ["threads", 4],
  ] as const)(
    "with %s, the thread signs asynchronously on up to %i sessions of its own",
    async (signFrom, most) => {
      // One thread, 4 in flight: it starts with 4 signing sessions either way (nothing is known yet).
      const pool = await testPool({ size: 1, inFlight: 4, signFrom });
      const key = await pool.execute({ op: "generate", curve: "p256", label: "sf-own", exportable: "never" });
      await pool.mostSigning();
      await pool.setLatency(30);
      // Aimed at the thread itself, as the main thread's signing sends it a key it has no handle for.
      const calls = Array.from({ length: 8 }, () =>
        pool.executeOn(0, { op: "sign", ref: key.ref, data: randomBytes(32) }),
      );
      await Promise.all(calls);
      expect(await pool.mostSigning()).toEqual([most]);
    },
  );
});

describe("the server's token set", () => {
  it("says in the boot log where each token signs from, and why", async () => {
    vi.stubEnv("KEYWARD_DATA_DIR", dataDir);
    vi.stubEnv("AUTH_SECRET", "s".repeat(32));
    vi.stubEnv("SOFTHSM2_CONF", token.conf);
    vi.stubEnv("KEYWARD_HSM_TOKENS", JSON.stringify([{ label: token.label, pinEnv: "KW_TEST_PIN" }]));
    vi.stubEnv("KW_TEST_PIN", token.pin);
    vi.stubEnv("KEYWARD_HSM_POOL_SIZE", "1");
    const log = vi.spyOn(console, "log").mockImplementation(() => undefined);
    try {
      const key = await serverTokenSet().createKey({
        curve: "p256",
        label: "sf-server",
        exportable: "never",
      });
      const before = mainThreadSigns;
      await serverTokenSet().sign(key.ref, randomBytes(32));
      expect(mainThreadSigns - before).toBe(1);
      const lines = log.mock.calls.map((call) => String(call[0]));
      expect(lines).toContainEqual(
        expect.stringMatching(
          /^Keyward: HSM token 'kw-sign-from' signs from main \(auto: the library reports "SoftHSM"/,
        ),
      );
    } finally {
      log.mockRestore();
    }
  });
});
