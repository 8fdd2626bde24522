// What each token attests of keys' exposure, on real SoftHSM tokens (a primary and a replica sharing one backup
// KEK, and a third token whose configured PIN is wrong): a never-exportable key and a wrapped-only key made by the
// token set (the latter cloned into the replica), as each token answers CKA_LOCAL, CKA_SENSITIVE,
// CKA_ALWAYS_SENSITIVE, CKA_EXTRACTABLE, CKA_NEVER_EXTRACTABLE and CKA_WRAP_WITH_TRUSTED; a key made behind
// Keyward's back with CKA_SENSITIVE false; keys not on a token, a malformed reference, a token that refuses its
// PIN, all as values. Then through the worker pool with its handle index: 1,000 keys with no search for the keys
// it knows and one search for the keys a token lacks, timed.
import { randomBytes } from "node:crypto";
import pkcs11js from "pkcs11js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shareBackupKek } from "../ceremonies/kek-sharing";
import { createTokenSet, type HsmTokenSet } from "../cluster/token-set";
import { closeHsm } from "../pkcs11/pkcs11";
import { DirectExecutor } from "../pool/direct-executor";
import { TestPool } from "../testing/test-pool";
import { createTestToken, type TestToken } from "../testing/test-token";
import { addTestToken, asUser, soLogin } from "../testing/test-tokens";
import { makeWeakKeyOnToken } from "../testing/weak-key";
import { keyAttestations } from "./key-attestation";

// Searches on this thread (DirectExecutor runs every call here), counted.
let searches = 0;
const findObjectsInit = pkcs11js.PKCS11.prototype.C_FindObjectsInit;
pkcs11js.PKCS11.prototype.C_FindObjectsInit = function (this: pkcs11js.PKCS11, ...args) {
  searches += 1;
  return findObjectsInit.apply(this, args);
};
// Every attribute type asked of the token on this thread: never CKA_VALUE.
const asked = new Set<number>();
const getAttributeValue = pkcs11js.PKCS11.prototype.C_GetAttributeValue;
pkcs11js.PKCS11.prototype.C_GetAttributeValue = function (this: pkcs11js.PKCS11, ...args) {
  for (const a of args[2]) asked.add(a.type);
  return getAttributeValue.apply(this, args);
};

let a: TestToken;
let b: TestToken;
let c: TestToken;
let set: HsmTokenSet;

beforeAll(async () => {
  a = createTestToken("kw-attest-a");
  b = addTestToken(a, "kw-attest-b");
  c = addTestToken(a, "kw-attest-c");
  await shareBackupKek({ source: soLogin(a), replicas: [soLogin(b)] });
  set = createTokenSet([a.config, b.config], (config) => new DirectExecutor(config));
});

afterAll(async () => {
  await set.close();
  closeHsm();
  a.cleanup();
});

const FLAGS_NEVER = {
  local: true,
  sensitive: true,
  alwaysSensitive: true,
  extractable: false,
  neverExtractable: true,
  wrapWithTrusted: false,
};

describe("keyAttestations", () => {
  it("says what each token holding a key attests, and 'not on this token' where it is not", async () => {
    const never = await set.createKey({ curve: "p256", label: "never", exportable: "never" });
    const wrapped = await set.createKey({ curve: "secp256k1", label: "wrapped", exportable: "wrapped-only" });
    expect(wrapped.replicated).toEqual(["kw-attest-b"]);
    const absent = randomBytes(16).toString("hex");
    const answer = await keyAttestations([never.ref, wrapped.ref, absent, "not-a-ref"], { set });
    expect(answer.error).toBeNull();
    const serials = await Promise.all([a, b].map((t) => asUser(t, false, (s) => s.token.description.serial)));
    expect(answer.tokens.map((t) => [t.label, t.role, t.serial, t.note])).toEqual([
      ["kw-attest-a", "primary", serials[0], null],
      ["kw-attest-b", "replica", serials[1], null],
    ]);
    expect(answer.tokens[0]?.vendorAttestation).toMatch(/^none: SoftHSM offers no vendor key attestation/);
    expect(answer.tokens[0]?.manufacturer).toMatch(/SoftHSM/);

    expect(answer.keys.get(never.ref)).toEqual([
      { state: "holds", flags: FLAGS_NEVER },
      { state: "missing", note: "not on this token" },
    ]);
    // Made on the primary: generated there, sensitive from birth, extractable (wrapped under the trusted KEK).
    // Its clone on the replica was unwrapped there: not local, and SoftHSM (as PKCS#11 says of unwrapped keys)
    // does not vouch that it was always sensitive.
    expect(answer.keys.get(wrapped.ref)).toEqual([
      {
        state: "holds",
        flags: {
          local: true,
          sensitive: true,
          alwaysSensitive: true,
          extractable: true,
          neverExtractable: false,
          wrapWithTrusted: true,
        },
      },
      {
        state: "holds",
        flags: {
          local: false,
          sensitive: true,
          alwaysSensitive: false,
          extractable: true,
          neverExtractable: false,
          wrapWithTrusted: true,
        },
      },
    ]);
    expect(answer.keys.get(absent)).toEqual([
      { state: "missing", note: "not on this token" },
      { state: "missing", note: "not on this token" },
    ]);
    expect(answer.keys.get("not-a-ref")?.map((k) => k.state)).toEqual(["unreadable", "unreadable"]);
    expect(asked.has(pkcs11js.CKA_VALUE)).toBe(false);
    expect(asked.has(pkcs11js.CKA_PRIVATE_EXPONENT)).toBe(false);
  });

  it("a key made with CKA_SENSITIVE false is attested as such", async () => {
    const weak = await makeWeakKeyOnToken(a, { curve: "p256", label: "weak", sensitive: false });
    const answer = await keyAttestations([weak.ref], { set });
    expect(answer.keys.get(weak.ref)?.[0]).toEqual({
      state: "holds",
      flags: { ...FLAGS_NEVER, sensitive: false, alwaysSensitive: false },
    });
  });

  it("reads keys the session has seen with no search; only keys it has no handle for cost one search per token", async () => {
    const keys = [];
    for (let i = 0; i < 5; i++)
      keys.push(await set.createKey({ curve: "p256", label: `seen ${i}`, exportable: "never" }));
    const refs = keys.map((k) => k.ref);
    await keyAttestations(refs, { set });
    const before = searches;
    const again = await keyAttestations(refs, { set, chunk: 2 });
    expect([...again.keys.values()].map((k) => k[0]?.state)).toEqual(Array(5).fill("holds"));
    // The replica has none of these never-exportable keys: one search there proves it, for all five.
    expect(searches - before).toBe(1);
  });
});

describe("a token that refuses its PIN", () => {
  it("is unreachable for every key, with the reason in words and no PIN, never thrown", async () => {
    const wrong = randomBytes(12).toString("base64url");
    const withWrongPin = createTokenSet(
      [a.config, { ...c.config, pin: wrong }],
      (config) => new DirectExecutor(config),
    );
    try {
      const key = await withWrongPin.createKey({ curve: "p256", label: "pin", exportable: "never" });
      const first = await keyAttestations([key.ref], { set: withWrongPin });
      expect(first.keys.get(key.ref)?.map((k) => k.state)).toEqual(["holds", "unreachable"]);
      expect(first.tokens[1]?.note).toMatch(/^token unreachable: its user PIN was refused/);
      expect(withWrongPin.health()[1]).toMatchObject({ state: "failed" });
      const second = await keyAttestations([key.ref], { set: withWrongPin });
      expect(second.keys.get(key.ref)?.[1]).toMatchObject({ state: "unreachable" });
      expect(second.tokens[1]?.note).toMatch(
        /^token unreachable: set aside because its user PIN was refused; not asked/,
      );
      const words = JSON.stringify([first, second, [...first.keys], [...second.keys]]);
      for (const pin of [wrong, c.pin, c.soPin, a.pin]) expect(words).not.toContain(pin);
    } finally {
      await withWrongPin.close();
    }
  });
});

describe("through the worker pool", () => {
  const COUNT = Number(process.env.KW_ATTEST_KEYS ?? 200);

  it(`${COUNT} keys on the primary: read through the pool's handle index with no search, the replica's lack of them settled by one search`, async () => {
    const direct = new DirectExecutor(a.config);
    const refs: string[] = [];
    try {
      for (let i = 0; i < COUNT; i++) {
        const key = await direct.execute({
          op: "generate",
          curve: "p256",
          label: `bulk ${i}`,
          exportable: "never",
        });
        refs.push(key.ref);
      }
    } finally {
      await direct.close();
    }
    const pools = new Map<string, TestPool>();
    const pooled = createTokenSet([a.config, b.config], async (config) => {
      const pool = await TestPool.startForTests(config, { size: 2 });
      pools.set(config.tokenLabel, pool);
      return pool;
    });
    try {
      await keyAttestations(refs.slice(0, 1), { set: pooled }); // starts both pools (each indexes its token)
      const both = [a, b].map((t) => {
        const pool = pools.get(t.label);
        if (pool === undefined) throw new Error(`no pool for ${t.label}`);
        return pool;
      });
      const before = await Promise.all(both.map((p) => p.searches()));
      const started = performance.now();
      const answer = await keyAttestations(refs, { set: pooled });
      const ms = performance.now() - started;
      const after = await Promise.all(both.map((p) => p.searches()));
      const states = [...answer.keys.values()].map((k) => k.map((t) => t.state).join("/"));
      expect(new Set(states)).toEqual(new Set(["holds/missing"]));
      expect(answer.keys.size).toBe(COUNT);
      // No search on the primary (every key indexed), one on the replica (none of them there).
      expect(after.map((n, i) => n - (before[i] ?? 0))).toEqual([0, 1]);
      // Each of the primary's threads reads them through the index's handles, the one that indexed and the other.
      const [onPrimary] = both;
      if (onPrimary === undefined) throw new Error("no primary pool");
      const searchesBefore = await onPrimary.searches();
      for (const thread of [0, 1]) {
        const read = await onPrimary.executeOn(thread, { op: "attest", refs: refs.slice(0, 50) });
        expect(read.keys.map((k) => k.state)).toEqual(Array(50).fill("holds"));
      }
      expect(await onPrimary.searches()).toBe(searchesBefore);
      // Twice more, for the spread on this shared machine.
      const times = [ms];
      for (let i = 0; i < 2; i++) {
        const t0 = performance.now();
        await keyAttestations(refs, { set: pooled });
        times.push(performance.now() - t0);
      }
      console.log(
        `keyAttestations: ${COUNT} keys on 2 tokens (pools of 2 threads): ${times.map((t) => t.toFixed(0)).join(", ")} ms`,
      );
    } finally {
      await pooled.close();
    }
  }, 600_000);
});
