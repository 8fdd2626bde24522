// Which tokens hold a key, on real SoftHSM tokens (a primary and a replica sharing one backup KEK): the
// primary is asked through the token set and says whether it holds the key's CKA_ID; the replica is reported
// as not asked; an answer is kept for PRESENCE_TTL_MS, then asked afresh.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shareBackupKek } from "../ceremonies/kek-sharing";
import { createTokenSet, type HsmTokenSet } from "../cluster/token-set";
import { closeHsm } from "../pkcs11/pkcs11";
import { DirectExecutor } from "../pool/direct-executor";
import { createTestToken, type TestToken } from "../testing/test-token";
import { addTestToken, soLogin } from "../testing/test-tokens";
import { keyPresence, PRESENCE_TTL_MS } from "./key-presence";

let a: TestToken;
let b: TestToken;
let set: HsmTokenSet;

beforeAll(async () => {
  a = createTestToken("kw-presence-a");
  b = addTestToken(a, "kw-presence-b");
  await shareBackupKek({ source: soLogin(a), replicas: [soLogin(b)] });
  set = createTokenSet([a.config, b.config], (config) => new DirectExecutor(config));
});

afterAll(async () => {
  await set.close();
  closeHsm();
  a.cleanup();
});

describe("keyPresence", () => {
  it("says the primary holds a key made there and not one it lacks; the replica is not asked", async () => {
    const ref = randomBytes(16).toString("hex");
    await set.createKey({ curve: "p256", label: "presence", exportable: "never", ref });
    const now = new Date("2026-05-06T10:00:00.000Z");
    const held = await keyPresence(ref, { set, now });
    expect(held.error).toBeNull();
    expect(held.tokens.map((t) => [t.label, t.role, t.holds])).toEqual([
      ["kw-presence-a", "primary", true],
      ["kw-presence-b", "replica", null],
    ]);
    const other = await keyPresence(randomBytes(16).toString("hex"), { set, now });
    expect(other.tokens[0]?.holds).toBe(false);
  });

  it("keeps an answer for a few seconds, then asks again", async () => {
    const ref = randomBytes(16).toString("hex");
    await set.createKey({ curve: "p256", label: "presence 2", exportable: "never", ref });
    const t0 = new Date("2026-05-06T11:00:00.000Z");
    expect((await keyPresence(ref, { set, now: t0 })).tokens[0]?.holds).toBe(true);
    await set.destroyKey(ref);
    const soon = new Date(t0.getTime() + PRESENCE_TTL_MS - 1);
    expect((await keyPresence(ref, { set, now: soon })).tokens[0]?.holds).toBe(true);
    const later = new Date(t0.getTime() + PRESENCE_TTL_MS);
    expect((await keyPresence(ref, { set, now: later })).tokens[0]?.holds).toBe(false);
  });
});
