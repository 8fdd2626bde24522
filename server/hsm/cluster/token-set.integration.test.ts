// A token set over three real SoftHSM tokens sharing one backup KEK (the setup ceremony), each behind a
// DirectExecutor: keys cloned into both replicas, a token failing while a stream of signatures goes on, the
// failure reported and the token coming back, and what cannot fail over (never keys, Ed25519 on SoftHSM).
import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DirectExecutor } from "../pool/direct-executor";
import { HsmError } from "../pkcs11/errors";
import { shareBackupKek } from "../ceremonies/kek-sharing";
import { closeHsm, type HsmConfig } from "../pkcs11/pkcs11";
import { verifySignature } from "../keys/signature";
import { createTestToken, type TestToken } from "../testing/test-token";
import { addTestToken, changePinAndLogOut, restorePin, signStream, soLogin } from "../testing/test-tokens";
import { createTokenSet, type CreatedKey, type HsmTokenSet } from "./token-set";
import { TokenSetError } from "./token-set-error";

let a: TestToken; // primary
let b: TestToken;
let c: TestToken;
let set: HsmTokenSet;
let now = Date.parse("2026-11-25T10:00:00Z");
const BACKOFF_MS = 1_000;

beforeAll(async () => {
  a = createTestToken("kw-set-a");
  b = addTestToken(a, "kw-set-b");
  c = addTestToken(a, "kw-set-c");
  await shareBackupKek({ source: soLogin(a), replicas: [soLogin(b), soLogin(c)] });
  set = createTokenSet([a.config, b.config, c.config], (config) => new DirectExecutor(config), {
    clock: () => new Date(now),
    backoffMs: BACKOFF_MS,
  });
});

afterAll(async () => {
  await set.close();
  closeHsm();
  a.cleanup();
});

/** Signs on one token directly, outside the set, with a session of its own. */
async function signOn(token: TestToken, ref: string, digest: Buffer): Promise<Buffer> {
  const executor = new DirectExecutor(token.config);
  try {
    return await executor.execute({ op: "sign", ref, data: digest });
  } finally {
    await executor.close();
  }
}

const digestOf = (i: number) => createHash("sha256").update(`request ${i}`).digest();

/** Error of a promise that must reject with a TokenSetError. */
async function setError(promise: Promise<unknown>): Promise<TokenSetError> {
  const e = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(e instanceof TokenSetError)) throw new Error(`expected a TokenSetError, got ${String(e)}`);
  return e;
}

/** Back-off over, failed tokens probed. */
async function laterProbe() {
  now += BACKOFF_MS * 64;
  await set.probeDue();
}

describe("keys made on the primary are cloned into the replicas", () => {
  it.each(["secp256k1", "p256"] as const)(
    "%s: both clones sign for the primary's public key",
    async (curve) => {
      const key = await set.createKey({ curve, label: `failover ${curve}`, exportable: "wrapped-only" });
      expect(key).toMatchObject({ curve, exportable: "wrapped-only", token: "kw-set-a", notReplicated: [] });
      expect(key.replicated).toEqual(["kw-set-b", "kw-set-c"]);
      for (const token of [a, b, c]) {
        const digest = randomBytes(32);
        expect(verifySignature(curve, key.publicKey, digest, await signOn(token, key.ref, digest))).toBe(
          true,
        );
      }
      // Idempotent: replicating again finds the clones in place and keeps them.
      expect(await set.replicate(key.ref)).toEqual({
        replicated: ["kw-set-b", "kw-set-c"],
        notReplicated: [],
      });
    },
  );

  it('keeps a "never" key on the primary and says why it has no clone', async () => {
    const key = await set.createKey({ curve: "p256", label: "checkpoints", exportable: "never" });
    expect(key.replicated).toEqual([]);
    expect(key.notReplicated.map((r) => [r.token, r.reason])).toEqual([
      ["kw-set-b", "key-not-wrappable"],
      ["kw-set-c", "key-not-wrappable"],
    ]);
    expect(key.notReplicated[0]?.message).toContain('Make keys that need failover "wrapped-only"');
  });

  it("keeps an Ed25519 key on the primary, since SoftHSM 2.6.1 cannot wrap it, and still signs with it", async () => {
    const key = await set.createKey({ curve: "ed25519", label: "solana", exportable: "wrapped-only" });
    expect(key.replicated).toEqual([]);
    expect(key.notReplicated.map((r) => r.reason)).toEqual([
      "mechanism-unsupported",
      "mechanism-unsupported",
    ]);
    expect(key.notReplicated[0]?.message).toContain("Ed25519");
    const message = Buffer.from("a Solana transaction message");
    const { signature, token } = await set.sign(key.ref, message);
    expect(token).toBe("kw-set-a");
    expect(verifySignature("ed25519", key.publicKey, message, signature)).toBe(true);
  });
});

describe("a token failing while signatures stream", () => {
  let key: CreatedKey;
  beforeAll(async () => {
    key = await set.createKey({ curve: "secp256k1", label: "hot wallet", exportable: "wrapped-only" });
  });

  it("loses no request when the primary's PIN is changed under it, reports it, and takes it back once fixed", async () => {
    const total = 240;
    let newPin: Promise<string> | undefined;
    // Four clients signing one request after another each; the PIN changes after the 60th answer.
    const results = await signStream(set, key.ref, {
      total,
      clients: 4,
      digestOf,
      onAnswer: (n) => {
        if (n === 60) newPin = changePinAndLogOut(a, a.pin);
      },
    });

    expect(results).toHaveLength(total);
    expect(new Set(results.map((r) => r.i)).size).toBe(total);
    for (const r of results)
      expect(verifySignature("secp256k1", key.publicKey, digestOf(r.i), r.signature)).toBe(true);
    const signedOn = (label: string) => results.filter((r) => r.token === label).length;
    expect(signedOn("kw-set-a")).toBeGreaterThanOrEqual(60);
    expect(signedOn("kw-set-b")).toBeGreaterThan(100);
    expect(signedOn("kw-set-a") + signedOn("kw-set-b")).toBe(total);

    const [primary, replica] = set.health();
    expect(primary).toMatchObject({ label: "kw-set-a", role: "primary", state: "failed" });
    expect(primary?.lastError).toMatchObject({
      reason: "pin-incorrect",
      kind: "configuration",
      at: new Date(now),
    });
    expect(primary?.lastError?.message).toContain("HSM token 'kw-set-a' refused the user PIN");
    expect(primary?.retryAt).toEqual(new Date(now + BACKOFF_MS));
    const pin = await newPin;
    if (pin === undefined) throw new Error("the PIN was never changed");
    expect(JSON.stringify(set.health())).not.toContain(pin);
    expect(JSON.stringify(set.health())).not.toContain(a.pin);
    expect(replica).toMatchObject({ label: "kw-set-b", state: "healthy", consecutiveFailures: 0 });

    // Still the old PIN configured: the probe after the back-off fails again, and waits twice as long.
    now += BACKOFF_MS;
    await set.probeDue();
    expect(set.health()[0]).toMatchObject({ state: "failed", setAsideCount: 2 });

    await restorePin(a, pin);
    await laterProbe();
    expect(set.health()[0]).toMatchObject({ state: "healthy", consecutiveFailures: 0 });
    expect((await set.sign(key.ref, digestOf(0))).token).toBe("kw-set-a");
  });

  it("rejects naming every token when all fail, then serves again once they are fixed", async () => {
    const pins = new Map<TestToken, string>();
    for (const token of [a, b, c]) pins.set(token, await changePinAndLogOut(token, token.pin));
    // A login lost is stale (reopen, retry); the retry then meets the wrong PIN. No request is answered
    // with a signature, and each rejection names all three tokens.
    for (let i = 0; i < 2; i++) {
      const err = await setError(set.sign(key.ref, digestOf(i)));
      expect(err.attempts.map((t) => t.token).sort()).toEqual(["kw-set-a", "kw-set-b", "kw-set-c"]);
      for (const label of ["'kw-set-a' (primary)", "'kw-set-b' (replica)", "'kw-set-c' (replica)"])
        expect(err.message).toContain(label);
      expect(err.code).toBe("HSM_UNAVAILABLE");
    }
    expect(set.health().map((t) => [t.state, t.lastError?.reason])).toEqual([
      ["failed", "pin-incorrect"],
      ["failed", "pin-incorrect"],
      ["failed", "pin-incorrect"],
    ]);
    const third = await setError(set.sign(key.ref, digestOf(2)));
    expect(third.attempts.map((t) => t.outcome)).toEqual(["set-aside", "set-aside", "set-aside"]);

    for (const [token, pin] of pins) await restorePin(token, pin);
    await laterProbe();
    expect(set.health().map((t) => t.state)).toEqual(["healthy", "healthy", "healthy"]);
    const { signature, token } = await set.sign(key.ref, digestOf(3));
    expect(token).toBe("kw-set-a");
    expect(verifySignature("secp256k1", key.publicKey, digestOf(3), signature)).toBe(true);
  });

  it("an Ed25519 key cannot fail over: the error says the replicas hold no clone", async () => {
    const ed = await set.createKey({ curve: "ed25519", label: "solana 2", exportable: "wrapped-only" });
    const pin = await changePinAndLogOut(a, a.pin);
    const err = await setError(set.sign(ed.ref, Buffer.from("message")));
    expect(err.attempts.map((t) => [t.token, t.outcome])).toEqual([
      ["kw-set-a", "failed"],
      ["kw-set-b", "no-key"],
      ["kw-set-c", "no-key"],
    ]);
    expect(err.reason).toBe("session-lost");
    expect(err.message).toContain("cannot fail over");
    await restorePin(a, pin);
    await set.sign(ed.ref, Buffer.from("message")).catch(() => undefined); // a's wrong-PIN verdict, if any
    await laterProbe();
    expect((await set.sign(ed.ref, Buffer.from("message"))).token).toBe("kw-set-a");
  });
});

describe("destroying a key", () => {
  it("destroys it on every token, after which no token signs with it", async () => {
    const key = await set.createKey({ curve: "secp256k1", label: "to destroy", exportable: "wrapped-only" });
    expect(await set.destroyKey(key.ref)).toEqual({
      destroyed: ["kw-set-a", "kw-set-b", "kw-set-c"],
      absent: [],
    });
    const err = await setError(set.sign(key.ref, digestOf(0)));
    expect(err).toMatchObject({ reason: "key-missing" });
    expect(err.message).toContain("'kw-set-a', 'kw-set-b', 'kw-set-c' each answered that it has no such key");
    expect(await set.destroyKey(key.ref)).toEqual({
      destroyed: [],
      absent: ["kw-set-a", "kw-set-b", "kw-set-c"],
    });
  });
});

describe("a token set that cannot reach any token", () => {
  it("names each token and what is wrong with it, without a PIN", async () => {
    const broken: HsmConfig[] = [
      { ...a.config, library: "/nonexistent/libpkcs11.so" },
      { ...b.config, tokenLabel: "kw-set-nowhere" },
    ];
    const lost = createTokenSet(broken, (config) => new DirectExecutor(config));
    try {
      const err = await setError(lost.sign("00112233445566778899aabbccddeeff", digestOf(0)));
      expect(err.attempts.map((t) => [t.token, t.reason])).toEqual([
        ["kw-set-a", "library-missing"],
        ["kw-set-nowhere", "token-missing"],
      ]);
      expect(err).toBeInstanceOf(HsmError);
      expect(err.message).toContain("apt-get install softhsm2");
      expect(err.message).not.toContain(a.pin);
    } finally {
      await lost.close();
    }
  });
});
