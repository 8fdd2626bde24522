// The start-up unwrap self-check through real HsmPool threads (the installed worker), over a token whose KEK
// carries the unwrap template and one whose KEK was made before: the first passes, the second fails, and a
// token set whose primary failed refuses to make wrapped-only keys (on every pool thread) but still makes
// never-exportable ones.
import pkcs11js from "pkcs11js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shareBackupKek } from "../ceremonies/kek-sharing";
import { createTokenSet, type HsmTokenSet } from "../cluster/token-set";
import { closeHsm, openToken, withSession } from "../pkcs11/pkcs11";
import { HsmPool } from "../pool/pool";
import { createTestToken, type TestToken } from "../testing/test-token";
import { addTestToken, soLogin } from "../testing/test-tokens";
import { checkUnwrapGuards, lastUnwrapGuards, unwrapGuardLine } from "./unwrap-guards";

const p = pkcs11js;
let good: TestToken;
let old: TestToken;
let unused: TestToken;
const sets: HsmTokenSet[] = [];

beforeAll(async () => {
  good = createTestToken("kw-guards-good");
  const replica = addTestToken(good, "kw-guards-replica");
  old = addTestToken(good, "kw-guards-old");
  // Never logged in by this process (a login is per token for the whole process).
  unused = addTestToken(good, "kw-guards-unused");
  await shareBackupKek({ source: soLogin(good), replicas: [soLogin(replica)] });
  // A trusted KEK as Keyward made it before unwrap templates.
  await withSession(openToken(old.config), { write: true, login: { role: "so", pin: old.soPin } }, (s) =>
    s.run("C_GenerateKey", (m, h) =>
      m.C_GenerateKey(h, { mechanism: p.CKM_AES_KEY_GEN }, [
        { type: p.CKA_VALUE_LEN, value: 32 },
        { type: p.CKA_TOKEN, value: true },
        { type: p.CKA_PRIVATE, value: false },
        { type: p.CKA_LABEL, value: "keyward-backup-kek" },
        { type: p.CKA_ID, value: Buffer.alloc(16, 3) },
        { type: p.CKA_TRUSTED, value: true },
        { type: p.CKA_WRAP, value: true },
        { type: p.CKA_UNWRAP, value: true },
        { type: p.CKA_ENCRYPT, value: false },
        { type: p.CKA_DECRYPT, value: false },
        { type: p.CKA_SENSITIVE, value: true },
        { type: p.CKA_EXTRACTABLE, value: false },
        { type: p.CKA_MODIFIABLE, value: false },
      ]),
    ),
  );
});

afterAll(async () => {
  for (const set of sets) await set.close();
  closeHsm();
  good.cleanup();
});

function poolSet(tokens: TestToken[]): HsmTokenSet {
  const set = createTokenSet(
    tokens.map((t) => t.config),
    (config) => HsmPool.start(config, { size: 2 }),
  );
  sets.push(set);
  return set;
}

describe("checkUnwrapGuards", () => {
  it("passes a token whose KEK has the unwrap template and fails one whose KEK predates it", async () => {
    const tokens = [good, old];
    const views = await checkUnwrapGuards({ set: poolSet(tokens), tokens: tokens.map((t) => t.config) });
    expect(views.map((v) => [v.tokenLabel, v.guard?.state, v.wrappedOnly])).toEqual([
      ["kw-guards-good", "enforced", true],
      ["kw-guards-old", "not-enforced", false],
    ]);
    const failed = views[1];
    if (failed === undefined) throw new Error("no view for the second token");
    expect(unwrapGuardLine(failed)).toContain("unwrap self-check FAILED");
    // Kept per token for the status page.
    expect(lastUnwrapGuards().find((v) => v.tokenLabel === "kw-guards-old")?.wrappedOnly).toBe(false);
  });

  it("a set whose primary failed makes no wrapped-only keys, on any of its pool threads", async () => {
    const set = poolSet([old]);
    await checkUnwrapGuards({ set, tokens: [old.config] });
    const attempts = await Promise.allSettled(
      [1, 2, 3, 4].map((i) =>
        set.createKey({ curve: "secp256k1", label: `no-${i}`, exportable: "wrapped-only" }),
      ),
    );
    for (const attempt of attempts) {
      expect(attempt.status).toBe("rejected");
      if (attempt.status === "rejected") {
        expect(attempt.reason).toMatchObject({ reason: "refused" });
        expect(String(attempt.reason.message)).toContain("Keyward makes no wrapped-only (exportable) keys");
      }
    }
    const kept = await set.createKey({ curve: "secp256k1", label: "stays", exportable: "never" });
    expect(kept.ref).toMatch(/^[0-9a-f]{32}$/);
  });

  it("a replica that failed blocks wrapped-only keys on the whole set: it would expose the primary's", async () => {
    const set = poolSet([good, old]);
    await checkUnwrapGuards({ set, tokens: [good.config, old.config] });
    const refused = await set.createKey({ curve: "secp256k1", label: "no", exportable: "wrapped-only" }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refused).toMatchObject({ reason: "refused" });
    expect(String(Object(refused).message)).toContain("replica 'kw-guards-old' failed its unwrap self-check");
    const kept = await set.createKey({ curve: "secp256k1", label: "stays", exportable: "never" });
    expect(kept.token).toBe("kw-guards-good");
  });

  it("says why a token could not be checked, and counts it as not proven", async () => {
    const wrongPin = { ...unused, config: { ...unused.config, pin: "not-the-pin" } };
    const views = await checkUnwrapGuards({ set: poolSet([wrongPin]), tokens: [wrongPin.config] });
    expect(views[0]).toMatchObject({ guard: null, wrappedOnly: false });
    expect(views[0]?.error).toBeTruthy();
    expect(views[0]?.error).not.toContain("not-the-pin");
  });
});
