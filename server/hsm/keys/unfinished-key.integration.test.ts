// A key pair whose C_GenerateKeyPair was cut short by kill -9 (SoftHSM writes each object from its template,
// CKA_ID included, and only then stores the generated curve and key values) leaves an object that names the
// reference but holds no key. A repeat of the same create must clear it and make the key, never refuse the
// reference as "on a curve Keyward does not use" (the batch kill -9 test failed that way on PostgreSQL).
import { randomBytes } from "node:crypto";
import pkcs11js from "pkcs11js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findKey, generateKeyPair } from "./keys";
import { objectsWithRef } from "./key-objects";
import { closeHsm, type Session } from "../pkcs11/pkcs11";
import { createTestToken, type TestToken } from "../testing/test-token";
import { asUser } from "../testing/test-tokens";

let token: TestToken;

beforeAll(() => {
  token = createTestToken("kw-unfinished");
});

afterAll(() => {
  closeHsm();
  token.cleanup();
});

const p = pkcs11js;
const rw = <T>(work: (s: Session) => T) => asUser(token, true, work);

/** The private half as SoftHSM leaves it between its two writes: the template's CKA_ID, no curve nor value yet. */
function unfinishedPrivateHalf(s: Session, ref: string) {
  return s.run("C_CreateObject", (m, h) =>
    m.C_CreateObject(h, [
      { type: p.CKA_CLASS, value: p.CKO_PRIVATE_KEY },
      { type: p.CKA_KEY_TYPE, value: p.CKK_EC },
      { type: p.CKA_TOKEN, value: true },
      { type: p.CKA_PRIVATE, value: true },
      { type: p.CKA_SENSITIVE, value: true },
      { type: p.CKA_ID, value: Buffer.from(ref, "hex") },
      { type: p.CKA_LABEL, value: "cut short" },
      { type: p.CKA_EC_PARAMS, value: Buffer.alloc(0) },
      { type: p.CKA_VALUE, value: Buffer.alloc(0) },
    ]),
  );
}

/** A finished public half under `ref`, copied from a key made under another reference. */
function finishedPublicHalf(s: Session, ref: string) {
  const other = randomBytes(16).toString("hex");
  generateKeyPair(s, { curve: "secp256k1", label: "donor", exportable: "never", ref: other });
  const [donor] = objectsWithRef(s, "public", other);
  if (donor === undefined) throw new Error("no donor key");
  const values = s.attributes(donor, [p.CKA_EC_PARAMS, p.CKA_EC_POINT]);
  return s.run("C_CreateObject", (m, h) =>
    m.C_CreateObject(h, [
      { type: p.CKA_CLASS, value: p.CKO_PUBLIC_KEY },
      { type: p.CKA_KEY_TYPE, value: p.CKK_EC },
      { type: p.CKA_TOKEN, value: true },
      { type: p.CKA_ID, value: Buffer.from(ref, "hex") },
      { type: p.CKA_LABEL, value: "cut short" },
      { type: p.CKA_EC_PARAMS, value: values.get(p.CKA_EC_PARAMS) ?? Buffer.alloc(0) },
      { type: p.CKA_EC_POINT, value: values.get(p.CKA_EC_POINT) ?? Buffer.alloc(0) },
    ]),
  );
}

describe("a repeat of a create whose generation was cut short", () => {
  it("clears the unfinished object and makes the key under the same reference", async () => {
    const ref = randomBytes(16).toString("hex");
    // SoftHSM makes the public half first: a kill while it wrote the private half leaves both, the second
    // unfinished. The finished public half is cleared too: its public key was never returned to anyone.
    await rw((s) => {
      finishedPublicHalf(s, ref);
      unfinishedPrivateHalf(s, ref);
    });
    const made = await rw((s) =>
      generateKeyPair(s, { curve: "secp256k1", label: "acct-1", exportable: "never", ref }),
    );
    expect(made.created).toBe(true);
    expect(made.publicKey).toHaveLength(65);
    const info = await rw((s) => findKey(s, ref));
    expect(info.publicKey.equals(made.publicKey)).toBe(true);
    expect(await rw((s) => objectsWithRef(s, "public", ref))).toHaveLength(1);
    expect(await rw((s) => objectsWithRef(s, "private", ref))).toHaveLength(1);
  });

  it("still finds a finished key as the same key (created: false)", async () => {
    const ref = randomBytes(16).toString("hex");
    const first = await rw((s) =>
      generateKeyPair(s, { curve: "ed25519", label: "acct-2", exportable: "never", ref }),
    );
    const again = await rw((s) =>
      generateKeyPair(s, { curve: "ed25519", label: "acct-2", exportable: "never", ref }),
    );
    expect(again.created).toBe(false);
    expect(again.publicKey.equals(first.publicKey)).toBe(true);
  });
});
