// Which tokens hold a key, on real SoftHSM tokens (a primary and a replica sharing one backup KEK, and a third
// token whose configured PIN is wrong): every token is asked what it holds under the key's reference and its
// public key there is compared with the recorded one. A key on the primary only, a key restored onto the
// replica, another key made on the replica under the same reference (a mismatch), a token that refuses its PIN
// (unreachable, then set aside and not asked again), no token-wide search for a key the session has seen, and
// an answer kept for PRESENCE_TTL_MS. A token that hangs is in key-presence-hang.integration.test.ts.
import { randomBytes } from "node:crypto";
import pkcs11js from "pkcs11js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shareBackupKek } from "../ceremonies/kek-sharing";
import { createTokenSet, type HsmTokenSet } from "../cluster/token-set";
import { generateKeyPair } from "../keys/keys";
import { closeHsm } from "../pkcs11/pkcs11";
import { DirectExecutor } from "../pool/direct-executor";
import { destroyOnToken } from "../testing/replicated-tokens";
import { createTestToken, type TestToken } from "../testing/test-token";
import { addTestToken, asUser, soLogin } from "../testing/test-tokens";
import { type KeyPresence, keyPresence, PRESENCE_TTL_MS, type RecordedKey } from "./key-presence";

// Searches on this thread (DirectExecutor runs every call here), counted.
let searches = 0;
const findObjectsInit = pkcs11js.PKCS11.prototype.C_FindObjectsInit;
pkcs11js.PKCS11.prototype.C_FindObjectsInit = function (this: pkcs11js.PKCS11, ...args) {
  searches += 1;
  return findObjectsInit.apply(this, args);
};

let a: TestToken;
let b: TestToken;
let c: TestToken;
let set: HsmTokenSet;
let now = Date.parse("2026-05-06T10:00:00.000Z");
/** Each view at its own time, past the previous view's cache. */
const nextView = () => {
  now += PRESENCE_TTL_MS;
  return new Date(now);
};

beforeAll(async () => {
  a = createTestToken("kw-presence-a");
  b = addTestToken(a, "kw-presence-b");
  c = addTestToken(a, "kw-presence-c");
  await shareBackupKek({ source: soLogin(a), replicas: [soLogin(b)] });
  set = createTokenSet([a.config, b.config], (config) => new DirectExecutor(config), {
    clock: () => new Date(now),
  });
});

afterAll(async () => {
  await set.close();
  closeHsm();
  a.cleanup();
});

const states = (p: KeyPresence) => p.tokens.map((t) => [t.label, t.role, t.state, t.matches]);

async function wrappedKey(label: string): Promise<RecordedKey> {
  const key = await set.createKey({ curve: "secp256k1", label, exportable: "wrapped-only" });
  expect(key.replicated).toEqual(["kw-presence-b"]);
  return { ref: key.ref, publicKey: key.publicKey.toString("hex"), curve: key.curve, exportable: "wrapped" };
}

describe("keyPresence", () => {
  it("a key on the primary only: the primary holds it with the recorded public key, the replica lacks it", async () => {
    const recorded = await wrappedKey("primary only");
    expect(await destroyOnToken(b, recorded.ref)).toBe(true);
    const presence = await keyPresence(recorded, { set, now: nextView() });
    expect(presence.error).toBeNull();
    expect(states(presence)).toEqual([
      ["kw-presence-a", "primary", "holds", true],
      ["kw-presence-b", "replica", "missing", null],
    ]);
    const serialA = await asUser(a, false, (s) => s.token.description.serial);
    expect(presence.tokens[0]?.serial).toBe(serialA);
    expect(presence.tokens[1]?.note).toMatch(/cannot fail over/);
  });

  it("a never-exportable key: the replica's lack of it is said to be expected", async () => {
    const key = await set.createKey({ curve: "p256", label: "never", exportable: "never" });
    const recorded = {
      ref: key.ref,
      publicKey: key.publicKey.toString("hex"),
      curve: "p256",
      exportable: "never",
    };
    const presence = await keyPresence(recorded, { set, now: nextView() });
    expect(states(presence)).toEqual([
      ["kw-presence-a", "primary", "holds", true],
      ["kw-presence-b", "replica", "missing", null],
    ]);
    expect(presence.tokens[1]?.note).toMatch(/^expected: a never-exportable key/);
  });

  it("after a restore onto the replica, both tokens hold it", async () => {
    const recorded = await wrappedKey("restored");
    await destroyOnToken(b, recorded.ref);
    expect(states(await keyPresence(recorded, { set, now: nextView() }))[1]).toEqual([
      "kw-presence-b",
      "replica",
      "missing",
      null,
    ]);
    const file = await set.exportWrapped(recorded.ref);
    const restored = await set.restoreKey({ ...file, token: "kw-presence-b" });
    expect(restored.mode).toBe("token");
    const presence = await keyPresence(recorded, { set, now: nextView() });
    expect(states(presence)).toEqual([
      ["kw-presence-a", "primary", "holds", true],
      ["kw-presence-b", "replica", "holds", true],
    ]);
    const serialB = await asUser(b, false, (s) => s.token.description.serial);
    expect(presence.tokens[1]?.serial).toBe(serialB);
    expect(presence.tokens[1]?.serial).not.toBe(presence.tokens[0]?.serial);
  });

  it("another key under the key's reference on the replica is a mismatch, however it got there", async () => {
    const recorded = await wrappedKey("swapped");
    await destroyOnToken(b, recorded.ref);
    // Made behind Keyward's back with the user PIN: same reference, same label, another key pair.
    const other = await asUser(b, true, (s) =>
      generateKeyPair(s, { curve: "secp256k1", label: "swapped", exportable: "never", ref: recorded.ref }),
    );
    expect(other.publicKey.toString("hex")).not.toBe(recorded.publicKey);
    const presence = await keyPresence(recorded, { set, now: nextView() });
    expect(states(presence)).toEqual([
      ["kw-presence-a", "primary", "holds", true],
      ["kw-presence-b", "replica", "holds", false],
    ]);
    expect(presence.tokens[1]?.note).toMatch(/another public key than the recorded one/);
    // The record is what is compared: the same tokens against a record naming the replica's key say the opposite.
    const asIfRecorded = { ...recorded, publicKey: other.publicKey.toString("hex") };
    expect(states(await keyPresence(asIfRecorded, { set, now: nextView() }))).toEqual([
      ["kw-presence-a", "primary", "holds", false],
      ["kw-presence-b", "replica", "holds", true],
    ]);
  });

  it("a key whose record names another curve is not the recorded key", async () => {
    const recorded = await wrappedKey("curve");
    const presence = await keyPresence({ ...recorded, curve: "p256" }, { set, now: nextView() });
    expect(presence.tokens.map((t) => [t.state, t.matches])).toEqual([
      ["holds", false],
      ["holds", false],
    ]);
    expect(presence.tokens[0]?.note).toMatch(/secp256k1 key .* recorded key is p256/);
  });

  it("reads a key the session has seen without a token-wide search", async () => {
    const recorded = await wrappedKey("no search");
    await keyPresence(recorded, { set, now: nextView() }); // the public halves' handles, found once
    const before = searches;
    const presence = await keyPresence(recorded, { set, now: nextView() });
    expect(states(presence)).toEqual([
      ["kw-presence-a", "primary", "holds", true],
      ["kw-presence-b", "replica", "holds", true],
    ]);
    expect(searches - before).toBe(0);
    // Handles are checked, not trusted: the key destroyed on the replica is seen gone (one search proves it).
    await destroyOnToken(b, recorded.ref);
    expect((await keyPresence(recorded, { set, now: nextView() })).tokens[1]?.state).toBe("missing");
  });

  it("keeps an answer for a few seconds, then asks again", async () => {
    const recorded = await wrappedKey("cached");
    const t0 = nextView();
    expect(states(await keyPresence(recorded, { set, now: t0 }))[0]?.[2]).toBe("holds");
    await set.destroyKey(recorded.ref);
    const soon = new Date(t0.getTime() + PRESENCE_TTL_MS - 1);
    expect((await keyPresence(recorded, { set, now: soon })).tokens[0]?.state).toBe("holds");
    const later = new Date(t0.getTime() + PRESENCE_TTL_MS);
    expect((await keyPresence(recorded, { set, now: later })).tokens[0]?.state).toBe("missing");
  });
});

describe("a token that refuses its PIN", () => {
  it("is unreachable, with the reason in words and no PIN; then set aside and not asked again", async () => {
    const wrong = randomBytes(12).toString("base64url");
    const withWrongPin = createTokenSet(
      [a.config, { ...c.config, pin: wrong }],
      (config) => new DirectExecutor(config),
      {
        clock: () => new Date(now),
      },
    );
    try {
      const key = await withWrongPin.createKey({ curve: "p256", label: "pin", exportable: "never" });
      const recorded = {
        ref: key.ref,
        publicKey: key.publicKey.toString("hex"),
        curve: "p256",
        exportable: "never",
      };
      const first = await keyPresence(recorded, { set: withWrongPin, now: nextView() });
      expect(states(first)).toEqual([
        ["kw-presence-a", "primary", "holds", true],
        ["kw-presence-c", "replica", "unreachable", null],
      ]);
      expect(first.tokens[1]?.note).toMatch(/user PIN was refused/);
      expect(withWrongPin.health()[1]).toMatchObject({ state: "failed" });
      const second = await keyPresence(recorded, { set: withWrongPin, now: nextView() });
      expect(second.tokens[1]).toMatchObject({ state: "unreachable", serial: null });
      expect(second.tokens[1]?.note).toMatch(/^set aside because its user PIN was refused; not asked/);
      const words = JSON.stringify([first, second]);
      for (const pin of [wrong, c.pin, c.soPin, a.pin]) expect(words).not.toContain(pin);
    } finally {
      await withWrongPin.close();
    }
  });
});
