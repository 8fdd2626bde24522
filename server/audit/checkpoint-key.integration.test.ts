// The audit checkpoint key on a real SoftHSM token, through the server's token set (as signer.integration):
// made once under its derived reference, Ed25519, never extractable, and checkpoints signed inside the HSM
// that verify with note.ts and with @noble/curves directly, and that nobody can alter unnoticed.
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ed25519 } from "@noble/curves/ed25519";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { AppError } from "@/server/errors";
import { closeHsm, closeServerTokenSet } from "@/server/hsm";
import * as signerFacade from "@/server/hsm/signer";
import { keyObjectsOnToken } from "@/server/hsm/testing/key-attributes";
import { createTestToken, type TestToken } from "@/server/hsm/testing/test-token";
import { createTestDatabase, testEngines } from "@/server/testing/test-db";
import { AUDIT_KEY_REF, auditKey, DEFAULT_AUDIT_KEY_NAME, signCheckpoint } from "./checkpoint-key";
import {
  type Checkpoint,
  formatCheckpoint,
  NoteError,
  type NoteErrorReason,
  openCheckpoint,
  openNote,
  parseVerifierKey,
} from "./log/note";

let token: TestToken;
let dataDir: string;

beforeAll(() => {
  token = createTestToken("kw-audit-key");
  dataDir = mkdtempSync(path.join(tmpdir(), "keyward-audit-key-"));
  vi.stubEnv("KEYWARD_DATA_DIR", dataDir);
  vi.stubEnv("AUTH_SECRET", "s".repeat(32));
  vi.stubEnv("SOFTHSM2_CONF", token.conf);
  vi.stubEnv("KEYWARD_HSM_TOKENS", JSON.stringify([{ label: token.label, pinEnv: "KW_TEST_PIN_AUDIT" }]));
  vi.stubEnv("KW_TEST_PIN_AUDIT", token.pin);
  vi.stubEnv("KEYWARD_HSM_POOL_SIZE", "2");
});

afterAll(async () => {
  vi.restoreAllMocks();
  await closeServerTokenSet();
  closeHsm();
  vi.unstubAllEnvs();
  token.cleanup();
  rmSync(dataDir, { recursive: true, force: true });
});

const name = DEFAULT_AUDIT_KEY_NAME;
const checkpoint = (size: number): Checkpoint => ({
  origin: name,
  size,
  rootHash: new Uint8Array(createHash("sha256").update(`root ${size}`).digest()),
  extensions: ["time 2026-12-03T18:00:00.000Z"],
});

function reasonOf(run: () => unknown): NoteErrorReason {
  try {
    run();
  } catch (e) {
    if (e instanceof NoteError) return e.reason;
    throw e;
  }
  throw new Error("expected a NoteError");
}

describe("the audit checkpoint key", () => {
  it("is made once under its derived reference, even by two concurrent calls", async () => {
    expect(AUDIT_KEY_REF).toBe(
      createHash("sha256").update("keyward-audit-checkpoint-key:v1").digest().subarray(0, 16).toString("hex"),
    );
    await expect(signerFacade.findKey(AUDIT_KEY_REF)).resolves.toBeNull();
    const [a, b] = await Promise.all([auditKey(), auditKey()]);
    expect([a.created, b.created].sort()).toEqual([false, true]);
    expect(Buffer.from(b.publicKey).equals(Buffer.from(a.publicKey))).toBe(true);
    expect(a).toMatchObject({ ref: AUDIT_KEY_REF, token: "kw-audit-key", name, exportable: "never" });
    const objects = await keyObjectsOnToken(token, AUDIT_KEY_REF);
    expect({ privates: objects.privates, publics: objects.publics }).toEqual({ privates: 1, publics: 1 });
    // Later calls find it; a new name gives the same key under another verifier key.
    const again = await auditKey();
    expect(again.created).toBe(false);
    expect(again.verifierKey).toBe(a.verifierKey);
    const other = await auditKey("example.org/log");
    expect(Buffer.from(other.publicKey).equals(Buffer.from(a.publicKey))).toBe(true);
    expect(other.verifierKey).not.toBe(a.verifierKey);
    expect(other.verifierKey.startsWith("example.org/log+")).toBe(true);
  });

  it("is found, not made again, by a process that starts afresh", async () => {
    const before = await auditKey();
    vi.resetModules();
    const fresh: typeof import("./checkpoint-key") = await import("./checkpoint-key");
    const found = await fresh.auditKey();
    expect(found.created).toBe(false);
    expect(found.verifierKey).toBe(before.verifierKey);
    expect((await keyObjectsOnToken(token, AUDIT_KEY_REF)).privates).toBe(1);
  });

  it("is an Ed25519 key that was made in the HSM and can never leave it", async () => {
    const key = await auditKey();
    expect(key.publicKey).toHaveLength(32);
    expect(await signerFacade.findKey(AUDIT_KEY_REF)).toMatchObject({
      curve: "ed25519",
      exportable: "never",
    });
    const objects = await keyObjectsOnToken(token, AUDIT_KEY_REF);
    expect(objects.private).toEqual({
      curve: "ed25519",
      local: true,
      sensitive: true,
      alwaysSensitive: true,
      extractable: false,
      neverExtractable: true,
      wrapWithTrusted: false,
    });
    // Its verifier key carries exactly the HSM's public key, as type 0x01.
    expect(Buffer.from(parseVerifierKey(key.verifierKey).publicKey).equals(Buffer.from(key.publicKey))).toBe(
      true,
    );
    await expect(signerFacade.exportWrapped(AUDIT_KEY_REF)).rejects.toMatchObject({
      reason: "key-not-wrappable",
    });
  });

  it("signs checkpoints that verify with note.ts and with @noble/curves directly", async () => {
    const key = await auditKey();
    const signed = await signCheckpoint(checkpoint(1234), name);
    expect(signed).toMatchObject({ verifierKey: key.verifierKey, token: "kw-audit-key" });
    const text = formatCheckpoint(checkpoint(1234));
    expect(signed.note.startsWith(`${text}\n\u2014 ${name} `)).toBe(true);
    const opened = openCheckpoint(signed.note, [key.verifierKey], { origin: name });
    expect(opened.checkpoint).toEqual(checkpoint(1234));
    // Without note.ts: the line's base64 is key ID (4 bytes) || Ed25519 signature over the text.
    const line = signed.note.slice(signed.note.lastIndexOf("\n\n") + 2, -1);
    const raw = Buffer.from(line.split(" ")[2] ?? "", "base64");
    expect(raw).toHaveLength(68);
    expect(raw.subarray(0, 4).toString("hex")).toBe(key.verifierKey.split("+")[1]);
    expect(ed25519.verify(raw.subarray(4), new TextEncoder().encode(text), key.publicKey)).toBe(true);
    expect(
      ed25519.verify(
        raw.subarray(4),
        new TextEncoder().encode(formatCheckpoint(checkpoint(1235))),
        key.publicKey,
      ),
    ).toBe(false);
    // Ed25519 is deterministic: the same checkpoint gives the same note.
    expect((await signCheckpoint(checkpoint(1234), name)).note).toBe(signed.note);
  });

  it("refuses a signed checkpoint that was altered afterwards", async () => {
    const key = await auditKey();
    const { note } = await signCheckpoint(checkpoint(77), name);
    const rootB64 = Buffer.from(checkpoint(77).rootHash).toString("base64");
    const otherRoot = Buffer.from(checkpoint(78).rootHash).toString("base64");
    const altered = {
      size: note.replace("\n77\n", "\n78\n"),
      root: note.replace(rootB64, otherRoot),
      extension: note.replace("18:00:00", "18:00:01"),
    };
    for (const [what, changed] of Object.entries(altered)) {
      expect(changed, what).not.toBe(note);
      expect(
        reasonOf(() => openCheckpoint(changed, [key.verifierKey])),
        what,
      ).toBe("bad-signature");
    }
    // Signed under one name, checked against the same key under another: not a known signature.
    const otherName = (await auditKey("example.org/log")).verifierKey;
    expect(reasonOf(() => openNote(note, [otherName]))).toBe("no-known-signature");
  });

  it("never returns a signature that does not verify", async () => {
    const real = signerFacade.sign;
    const spy = vi.spyOn(signerFacade, "sign").mockImplementation(async (ref, data) => {
      const signed = await real(ref, data);
      const flipped = Buffer.from(signed.signature);
      flipped[10] = (flipped[10] ?? 0) ^ 1;
      return { ...signed, signature: flipped };
    });
    try {
      const refused = await signCheckpoint(checkpoint(5), name).then(
        () => null,
        (e: unknown) => e,
      );
      expect(refused).toBeInstanceOf(AppError);
      expect(refused).toMatchObject({ code: "INTERNAL" });
      expect(String((refused as Error).message)).toContain("does not verify");
    } finally {
      spy.mockRestore();
    }
    // After the refusal the key is read again and signing works.
    const { note, verifierKey } = await signCheckpoint(checkpoint(5), name);
    expect(openNote(note, [verifierKey]).verifiedBy).toEqual([verifierKey]);
  });

  it("refuses a key name or checkpoint the formats forbid, before the HSM signs anything", async () => {
    const spy = vi.spyOn(signerFacade, "sign");
    try {
      await expect(auditKey("keyward local")).rejects.toMatchObject({ code: "BAD_INPUT", field: "name" });
      await expect(signCheckpoint(checkpoint(1), "a+b")).rejects.toMatchObject({ code: "BAD_INPUT" });
      await expect(signCheckpoint({ ...checkpoint(1), size: -1 }, name)).rejects.toMatchObject({
        code: "BAD_INPUT",
        field: "checkpoint",
      });
      await expect(
        signCheckpoint({ ...checkpoint(1), rootHash: new Uint8Array(31) }, name),
      ).rejects.toMatchObject({
        code: "BAD_INPUT",
      });
      expect(spy).not.toHaveBeenCalled();
    } finally {
      spy.mockRestore();
    }
  });
});

describe.skipIf(!testEngines().includes("postgres"))(
  "the first creation across processes (PostgreSQL; skipped without TEST_DATABASE_URL)",
  () => {
    it("waits for the advisory lock another process holds before making the key", async () => {
      await expect(signerFacade.destroyKey(AUDIT_KEY_REF)).resolves.toEqual({
        destroyed: ["kw-audit-key"],
        absent: [],
      });
      const database = await createTestDatabase("postgres");
      const other = new pg.Client({ connectionString: database.url });
      await other.connect();
      try {
        // Another process, between its search and its creation, holds the lock ("KWAK").
        await other.query("SELECT pg_advisory_lock($1)", [0x4b57414b]);
        vi.resetModules();
        const fresh: typeof import("./checkpoint-key") = await import("./checkpoint-key");
        const pending = fresh.auditKey(name, { db: database.db });
        const waiting = async () => {
          const { rows } = await other.query<{ n: string }>(
            "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND NOT granted",
            [0x4b57414b],
          );
          return rows[0]?.n === "1";
        };
        await vi.waitFor(async () => expect(await waiting()).toBe(true), { timeout: 10_000, interval: 20 });
        // Nothing is made while the lock is held elsewhere.
        await expect(signerFacade.findKey(AUDIT_KEY_REF)).resolves.toBeNull();
        await other.query("SELECT pg_advisory_unlock($1)", [0x4b57414b]);
        const made = await pending;
        expect(made.created).toBe(true);
        expect(await keyObjectsOnToken(token, AUDIT_KEY_REF)).toMatchObject({ privates: 1, publics: 1 });
      } finally {
        await other.end();
        await database.drop();
      }
    });
  },
);
