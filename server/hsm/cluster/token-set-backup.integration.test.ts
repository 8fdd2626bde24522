// Backups and restores through a token set over real SoftHSM tokens sharing one backup KEK (the setup ceremony),
// each behind a DirectExecutor: the export names the token and KEK and is deterministic; "never" and Ed25519 keys
// are refused; a replica that lost a key gets it back and signs; a drill on a token holding the key leaves no
// object behind; tampered blobs and wrong public keys are refused with nothing left on the token.
import { createHash, randomBytes } from "node:crypto";
import pkcs11js from "pkcs11js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BACKUP_KEK_LABEL, describeBackupKek } from "../ceremonies/backup-kek";
import { ensureBackupKek } from "../ceremonies/backup-kek";
import { shareBackupKek } from "../ceremonies/kek-sharing";
import { verifySignature } from "../keys/signature";
import { HsmError } from "../pkcs11/errors";
import { closeHsm } from "../pkcs11/pkcs11";
import { DirectExecutor } from "../pool/direct-executor";
import { createTestToken, type TestToken } from "../testing/test-token";
import { addTestToken, asUser, soLogin } from "../testing/test-tokens";
import { createTokenSet, type HsmTokenSet } from "./token-set";

let a: TestToken; // primary
let b: TestToken; // replica sharing a's KEK
let c: TestToken; // a token with another KEK (in a set of its own)
let set: HsmTokenSet;
let other: HsmTokenSet;

beforeAll(async () => {
  a = createTestToken("kw-bk-a");
  b = addTestToken(a, "kw-bk-b");
  c = addTestToken(a, "kw-bk-c");
  await shareBackupKek({ source: soLogin(a), replicas: [soLogin(b)] });
  await ensureBackupKek({ soPin: c.soPin, target: soLogin(c).target });
  set = createTokenSet([a.config, b.config], (config) => new DirectExecutor(config));
  other = createTokenSet([c.config], (config) => new DirectExecutor(config));
});

afterAll(async () => {
  await set.close();
  await other.close();
  closeHsm();
  a.cleanup();
});

/** Objects on the token carrying the reference (2 for a key pair), and every object the user sees. */
function objectsOn(token: TestToken, ref: string): Promise<{ withRef: number; total: number }> {
  return asUser(token, false, (s) => ({
    withRef: s.find([{ type: pkcs11js.CKA_ID, value: Buffer.from(ref, "hex") }]).length,
    total: s.find([]).length,
  }));
}

async function destroyOn(token: TestToken, ref: string): Promise<void> {
  const executor = new DirectExecutor(token.config);
  try {
    await executor.execute({ op: "destroy", ref });
  } finally {
    await executor.close();
  }
}

async function signOn(token: TestToken, ref: string, data: Buffer): Promise<Buffer> {
  const executor = new DirectExecutor(token.config);
  try {
    return await executor.execute({ op: "sign", ref, data });
  } finally {
    await executor.close();
  }
}

async function rejection(promise: Promise<unknown>): Promise<HsmError> {
  const e = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(e instanceof HsmError)) throw new Error(`expected an HsmError, got ${String(e)}`);
  return e;
}

const newKey = (label: string) => set.createKey({ curve: "secp256k1", label, exportable: "wrapped-only" });

describe("exportWrapped", () => {
  it("names the primary token (label, serial) and the KEK (label, CKA_ID), and wraps the same bytes again", async () => {
    const key = await newKey("export names");
    const first = await set.exportWrapped(key.ref);
    const kek = await asUser(a, false, (s) => describeBackupKek(s));
    const check = await set.check(a.label);
    expect(first).toMatchObject({
      ref: key.ref,
      curve: "secp256k1",
      mechanism: "CKM_AES_KEY_WRAP_PAD",
      token: { label: a.label, serial: check.token.serial },
      kek: { label: BACKUP_KEK_LABEL, id: kek?.id },
    });
    expect(first.token.serial).not.toBe("");
    expect(first.publicKey.equals(key.publicKey)).toBe(true);
    expect(first.blob.length).toBeGreaterThan(40);
    const again = await set.exportWrapped(key.ref);
    expect(again.blob.equals(first.blob)).toBe(true);
  });

  it("refuses a never-exportable key (key-not-wrappable) and an Ed25519 key on SoftHSM 2.6.1 (mechanism-unsupported)", async () => {
    const never = await set.createKey({ curve: "secp256k1", label: "never", exportable: "never" });
    expect(await rejection(set.exportWrapped(never.ref))).toMatchObject({ reason: "key-not-wrappable" });
    const ed = await set.createKey({ curve: "ed25519", label: "solana", exportable: "wrapped-only" });
    const err = await rejection(set.exportWrapped(ed.ref));
    expect(err.reason).toBe("mechanism-unsupported");
    expect(err.message).toContain("SoftHSM 2.6.1");
  });
});

describe("restoreKey", () => {
  it("puts a key back into a replica that lost it, as token objects that sign for the recorded public key", async () => {
    const key = await newKey("lost on b");
    expect(key.replicated).toEqual([b.label]);
    const { blob } = await set.exportWrapped(key.ref);
    await destroyOn(b, key.ref);
    expect((await objectsOn(b, key.ref)).withRef).toBe(0);

    const restored = await set.restoreKey({ ...key, blob, token: b.label });
    expect(restored.mode).toBe("token");
    if (restored.mode !== "token") throw new Error("unreachable");
    expect(verifySignature("secp256k1", key.publicKey, restored.challenge, restored.signature)).toBe(true);
    expect((await objectsOn(b, key.ref)).withRef).toBe(2);
    // The token object stays and signs on its own, in another session.
    const digest = createHash("sha256").update("after restore").digest();
    expect(verifySignature("secp256k1", key.publicKey, digest, await signOn(b, key.ref, digest))).toBe(true);

    // Repeated (a lost answer): the key is in place, so the repeat drills it and adds nothing.
    const before = await objectsOn(b, key.ref);
    expect(await set.restoreKey({ ...key, blob, token: b.label })).toEqual({
      token: b.label,
      mode: "session",
    });
    expect(await objectsOn(b, key.ref)).toEqual(before);
  });

  it("drills a token that holds the key with a session object: no object with its CKA_ID, nor any other, is left", async () => {
    const key = await newKey("drill on a");
    const { blob } = await set.exportWrapped(key.ref);
    for (const token of [a, b]) {
      const before = await objectsOn(token, key.ref);
      expect(before.withRef).toBe(2);
      expect(await set.restoreKey({ ...key, blob, token: token.label })).toEqual({
        token: token.label,
        mode: "session",
      });
      expect(await objectsOn(token, key.ref)).toEqual(before);
    }
  });

  it("refuses a flipped wrapped byte with a clear reason and leaves nothing, in both modes", async () => {
    const key = await newKey("tampered");
    const { blob } = await set.exportWrapped(key.ref);
    const flipped = Buffer.from(blob);
    flipped[10] = (flipped[10] ?? 0) ^ 0x01;
    await destroyOn(b, key.ref);
    const lost = await rejection(set.restoreKey({ ...key, blob: flipped, token: b.label }));
    expect(lost.reason).toBe("invalid-request");
    expect(lost.message).toContain("does not unwrap under this token's backup KEK");
    expect(await objectsOn(b, key.ref)).toMatchObject({ withRef: 0 });

    const before = await objectsOn(a, key.ref);
    const drill = await rejection(set.restoreKey({ ...key, blob: flipped, token: a.label }));
    expect(drill.message).toContain("does not unwrap under this token's backup KEK");
    expect(await objectsOn(a, key.ref)).toEqual(before);
  });

  it("refuses a backup of another key than the recorded public key, leaving nothing behind", async () => {
    const key = await newKey("right key");
    const wrong = await newKey("wrong key");
    const { blob } = await set.exportWrapped(wrong.ref);
    await destroyOn(b, key.ref);
    const totalBefore = (await objectsOn(b, key.ref)).total;
    const lost = await rejection(set.restoreKey({ ...key, blob, token: b.label }));
    expect(lost.message).toContain("does not match the given public key");
    expect(await objectsOn(b, key.ref)).toEqual({ withRef: 0, total: totalBefore });

    const before = await objectsOn(a, key.ref);
    const drill = await rejection(set.restoreKey({ ...key, blob, token: a.label }));
    expect(drill.message).toContain("does not sign for the recorded public key");
    expect(await objectsOn(a, key.ref)).toEqual(before);
  });

  it("refuses a token outside the set, and a backup wrapped under another KEK", async () => {
    const key = await newKey("elsewhere");
    const { blob } = await set.exportWrapped(key.ref);
    const unknown = await rejection(set.restoreKey({ ...key, blob, token: "kw-nowhere" }));
    expect(unknown.reason).toBe("invalid-request");
    expect(unknown.message).toContain("No token 'kw-nowhere'");
    const foreign = await rejection(other.restoreKey({ ...key, blob, token: c.label }));
    expect(foreign.message).toContain("does not unwrap under this token's backup KEK");
    expect(await objectsOn(c, key.ref)).toMatchObject({ withRef: 0 });
  });

  it("a random blob is refused too", async () => {
    const key = await newKey("random blob");
    const err = await rejection(set.restoreKey({ ...key, blob: randomBytes(72), token: a.label }));
    expect(err.reason).toBe("invalid-request");
  });
});
