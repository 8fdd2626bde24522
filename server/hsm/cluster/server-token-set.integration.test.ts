// The server's own token set, configured from the environment as `npm start` does, with
// KEYWARD_HSM_SIGN_FROM=threads: every call runs in HsmPool worker threads (the main thread never loads the
// PKCS#11 library; the default, auto, signs from it on SoftHSM: pool/sign-from.integration.test.ts), keys are cloned into the
// replica, shutdown refuses further calls, and a primary whose PIN is changed mid-stream loses no request.
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { env } from "../../env";
import { shareBackupKek } from "../ceremonies/kek-sharing";
import { closeHsm, loadedLibraries } from "../pkcs11/pkcs11";
import { closeServerTokenSet, serverTokenSet } from "./server-token-set";
import { verifySignature } from "../keys/signature";
import { createTestToken, type TestToken } from "../testing/test-token";
import { hsmStatus } from "../status/token-status";
import { addTestToken, changePinAndLogOut, restorePin, signStream, soLogin } from "../testing/test-tokens";

let a: TestToken;
let b: TestToken;
let dataDir: string;

beforeAll(async () => {
  a = createTestToken("kw-server-a");
  b = addTestToken(a, "kw-server-b");
  await shareBackupKek({ source: soLogin(a), replicas: [soLogin(b)] });
  // The ceremony loaded the library on this thread (as setup does in its own process): unload it, so the
  // tests below can see that the server's calls never load it here.
  closeHsm();
  dataDir = mkdtempSync(path.join(tmpdir(), "keyward-server-set-"));
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
  vi.stubEnv("KEYWARD_HSM_POOL_SIZE", "2");
  vi.stubEnv("KEYWARD_HSM_TIMEOUT_MS", "10000");
  vi.stubEnv("KEYWARD_HSM_SIGN_FROM", "threads");
});

afterAll(async () => {
  await closeServerTokenSet();
  closeHsm();
  vi.unstubAllEnvs();
  a.cleanup();
  rmSync(dataDir, { recursive: true, force: true });
});

const digestOf = (i: number) => createHash("sha256").update(`server ${i}`).digest();

describe("the server's token set", () => {
  it("is configured from the environment: both tokens, a pool of the configured size per token", () => {
    expect(env().hsm.tokens.map((t) => [t.tokenLabel, t.role])).toEqual([
      ["kw-server-a", "primary"],
      ["kw-server-b", "replica"],
    ]);
    expect(env().hsm.pool).toEqual({ size: 2, timeoutMs: 10_000, queueLimit: 1024, signFrom: "threads" });
  });

  it("makes keys, signs and checks tokens in worker threads only: the main thread never loads the PKCS#11 library", async () => {
    const key = await serverTokenSet().createKey({
      curve: "secp256k1",
      label: "server-set",
      exportable: "wrapped-only",
    });
    expect(key.replicated).toEqual(["kw-server-b"]);
    const signed = await Promise.all(
      Array.from({ length: 200 }, (_, i) => serverTokenSet().sign(key.ref, digestOf(i))),
    );
    signed.forEach(({ signature, token }, i) => {
      expect(token).toBe("kw-server-a");
      expect(verifySignature("secp256k1", key.publicKey, digestOf(i), signature)).toBe(true);
    });
    // The status page's check of each token runs in the pools too (counting objects can take seconds).
    const status = await hsmStatus();
    expect(status).toMatchObject({ ok: true, state: "healthy", token: { label: "kw-server-a" } });
    expect(status.objects?.total).toBeGreaterThanOrEqual(3); // the KEK and the key's two halves
    expect(status.tokens.map((t) => [t.label, t.state, t.kek?.id])).toEqual([
      ["kw-server-a", "healthy", status.objects?.kek?.id],
      ["kw-server-b", "healthy", status.objects?.kek?.id],
    ]);
    expect(loadedLibraries()).toEqual([]);
  });

  it("refuses calls once shut down, starting no new threads, and a later start makes a fresh set", async () => {
    const before = serverTokenSet();
    const key = await before.createKey({
      curve: "secp256k1",
      label: "server-close",
      exportable: "wrapped-only",
    });
    await closeServerTokenSet();
    const refused = await before.sign(key.ref, digestOf(0)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refused).toMatchObject({ name: "TokenSetError" });
    expect(String(refused)).toMatch(/shutting down/);
    const after = serverTokenSet();
    expect(after).not.toBe(before);
    const { signature } = await after.sign(key.ref, digestOf(1));
    expect(verifySignature("secp256k1", key.publicKey, digestOf(1), signature)).toBe(true);
  });

  it("loses no request when the primary's PIN is changed mid-stream: the replica signs the rest", async () => {
    const set = serverTokenSet();
    const key = await set.createKey({ curve: "secp256k1", label: "server-pin", exportable: "wrapped-only" });
    const total = 120;
    let changedPin: string | undefined;
    const results = await signStream(set, key.ref, {
      total,
      clients: 4,
      digestOf,
      // Login state is per token for the whole process: this logs out every pool thread's session too.
      onAnswer: async (n) => {
        if (n === 30) changedPin = await changePinAndLogOut(a, a.pin);
      },
    });

    expect(results).toHaveLength(total);
    for (const r of results)
      expect(verifySignature("secp256k1", key.publicKey, digestOf(r.i), r.signature)).toBe(true);
    expect(results.filter((r) => r.token === "kw-server-b").length).toBeGreaterThan(total - 40);
    const [primary, replica] = set.health();
    expect(primary).toMatchObject({ label: "kw-server-a", state: "failed" });
    expect(primary?.lastError).toMatchObject({ reason: "pin-incorrect", kind: "configuration" });
    expect(replica).toMatchObject({ label: "kw-server-b", state: "healthy" });
    await restorePin(a, changedPin ?? a.pin);
  });
});
