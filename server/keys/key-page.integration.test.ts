// keyHolders, the key page's "HSM tokens" section, on PGlite and PostgreSQL with the server's own token set over
// three real SoftHSM tokens (a primary, a replica, and a third whose configured PIN is wrong): every configured
// token is listed, the key's recorded reference and public key (read from the keys table) are what each token is
// asked about and compared with, another key under the same reference on the replica is a mismatch, the token
// with the wrong PIN is unreachable and the answer still comes, and an unknown key is NOT_FOUND.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "@/db/client";
import { keys } from "@/db/schema";
import { closeHsm, closeServerTokenSet } from "@/server/hsm";
import { makeKeyOnToken } from "@/server/hsm/testing/key-on-token";
import { createTestToken, type TestToken } from "@/server/hsm/testing/test-token";
import { addTestToken } from "@/server/hsm/testing/test-tokens";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";
import { keyHolders } from "./key-page";

let a: TestToken; // primary
let b: TestToken; // replica
let c: TestToken; // a replica configured with a wrong PIN
let dataDir: string;
const wrongPin = randomBytes(12).toString("base64url");
const saved: Record<string, string | undefined> = {};

beforeAll(() => {
  // All three before the library is loaded: SoftHSM sees only the tokens there at C_Initialize.
  a = createTestToken("kw-holders-a");
  b = addTestToken(a, "kw-holders-b");
  c = addTestToken(a, "kw-holders-c");
  dataDir = mkdtempSync(path.join(tmpdir(), "keyward-holders-"));
  const env: Record<string, string> = {
    KEYWARD_DATA_DIR: dataDir,
    AUTH_SECRET: "s".repeat(32),
    SOFTHSM2_CONF: a.conf,
    KEYWARD_HSM_TOKENS: JSON.stringify([
      { label: a.label, pinEnv: "KW_HOLDERS_TEST_PIN_A" },
      { label: b.label, pinEnv: "KW_HOLDERS_TEST_PIN_B" },
      { label: c.label, pinEnv: "KW_HOLDERS_TEST_PIN_C" },
    ]),
    KW_HOLDERS_TEST_PIN_A: a.pin,
    KW_HOLDERS_TEST_PIN_B: b.pin,
    KW_HOLDERS_TEST_PIN_C: wrongPin,
    KEYWARD_HSM_POOL_SIZE: "1",
  };
  for (const [k, v] of Object.entries(env)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
});

afterAll(async () => {
  await closeServerTokenSet();
  closeHsm();
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  rmSync(dataDir, { recursive: true, force: true });
  a.cleanup();
});

describe.each(testEngines())("keyHolders on %s", (engine) => {
  const database = useTestDatabase(engine);
  let db: Db;

  beforeAll(() => {
    db = database();
  });

  async function recordKey(key: { ref: string; publicKey: string }, label: string): Promise<string> {
    const [row] = await db
      .insert(keys)
      .values({
        label,
        curve: "secp256k1",
        state: "active",
        hsmRef: key.ref,
        publicKey: key.publicKey,
        exportable: "never",
      })
      .returning({ id: keys.id });
    if (row === undefined) throw new Error("no key row");
    return row.id;
  }

  it("lists every configured token: the primary holds the recorded key, the replica lacks it, the third is unreachable", async () => {
    const key = await makeKeyOnToken(a, { curve: "secp256k1", label: `only on the primary (${engine})` });
    const keyId = await recordKey(key, "only on the primary");
    const holders = await keyHolders(db, keyId);
    expect(holders.error).toBeNull();
    expect(holders.tokens.map((t) => [t.label, t.role, t.state, t.matches])).toEqual([
      ["kw-holders-a", "primary", "holds", true],
      ["kw-holders-b", "replica", "missing", null],
      ["kw-holders-c", "replica", "unreachable", null],
    ]);
    expect(holders.tokens[2]?.note).toMatch(/user PIN was refused/);
    expect(JSON.stringify(holders)).not.toContain(wrongPin);
  });

  it("flags the replica holding another key under the recorded reference", async () => {
    const key = await makeKeyOnToken(a, { curve: "secp256k1", label: `swapped (${engine})` });
    const impostor = await makeKeyOnToken(b, {
      curve: "secp256k1",
      label: `swapped (${engine})`,
      ref: key.ref,
    });
    expect(impostor.publicKey).not.toBe(key.publicKey);
    const keyId = await recordKey(key, "swapped");
    const holders = await keyHolders(db, keyId);
    expect(holders.tokens.map((t) => [t.label, t.state, t.matches])).toEqual([
      ["kw-holders-a", "holds", true],
      ["kw-holders-b", "holds", false],
      ["kw-holders-c", "unreachable", null],
    ]);
  });

  it("refuses a key that is not recorded", async () => {
    await expect(keyHolders(db, "00000000-0000-4000-8000-000000000000")).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
  });
});
