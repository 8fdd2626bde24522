// The audit log's checkpoint key: one Ed25519 key in the primary HSM token, made "never" exportable (it cannot
// leave the HSM in any form, wrapped or not), under a fixed reference derived from a constant, and the
// signing of checkpoints with it (server/audit/checkpoints.ts calls signCheckpoint). It never returns a
// signature that does not verify under the key's public key (note.ts's openNote, before anything leaves).
// Only this module and server/operations/** may use server/hsm/signer (boundary.test.ts).
import "server-only";
import { createHash } from "node:crypto";
import { sql } from "drizzle-orm";
import type { Db } from "@/db/client";
import { AppError } from "@/server/errors";
import { env } from "@/server/env";
import { createKey, findKey, type KeyInfo, sign } from "@/server/hsm/signer";
import {
  type Checkpoint,
  ED25519_TYPE,
  formatCheckpoint,
  keyId,
  NoteError,
  openCheckpoint,
  signedNote,
  verifierKey,
} from "./log/note";

/**
 * The key's HSM reference (CKA_ID, 16 bytes as 32 hex, like every Keyward key reference): derived, not
 * stored, so every process and every restart finds the key the first one made, and a repeated creation
 * returns it (the token set makes one key per reference within a process).
 */
export const AUDIT_KEY_REF = createHash("sha256")
  .update("keyward-audit-checkpoint-key:v1")
  .digest()
  .subarray(0, 16)
  .toString("hex");
/** CKA_LABEL of the key, for whoever looks at the token with the HSM's own tools. */
export const AUDIT_KEY_LABEL = "keyward audit checkpoint key";
/** The key name (and checkpoint origin) when none is configured; the server passes env().audit.origin. */
export const DEFAULT_AUDIT_KEY_NAME = "keyward.local/audit";
/** Advisory lock serialising the key's first creation across processes on one PostgreSQL ("KWAK"). */
const AUDIT_KEY_LOCK = 0x4b57414b;

export type AuditKey = {
  ref: string;
  /** Raw 32-byte Ed25519 public key, as the HSM reports it. */
  publicKey: Uint8Array;
  /** The token holding it: the primary (a "never" key has no clone in a replica). */
  token: string;
  /** The key name it signs under (the log's origin). */
  name: string;
  /** "<name>+<hex key ID>+<base64(0x01 || public key)>": what a verifier (Go's note, /verify) is given. */
  verifierKey: string;
  /** Read from the HSM: CKA_EXTRACTABLE false. */
  exportable: "never";
  /** True when this call made the key. */
  created: boolean;
};

export type SignedCheckpoint = {
  /** The signed note: the checkpoint's text, a blank line, one signature line. */
  note: string;
  verifierKey: string;
  /** The token that signed. */
  token: string;
};

// The key as this process last read it from the HSM. Found once per process: a lookup is a token-wide search
// (SoftHSM: ~1.6 s among 10,000 keys), too slow per checkpoint. Dropped when a signature fails or does not
// verify, so a key replaced on the token is read again (and its checkpoints then fail any verifier that
// pinned the old verifier key, which is the point).
let known: { ref: string; publicKey: Uint8Array; token: string } | undefined;

function checkedKey(info: KeyInfo): KeyInfo {
  if (info.curve !== "ed25519" || info.exportable !== "never") {
    throw new AppError(
      "INTERNAL",
      `HSM reference ${AUDIT_KEY_REF} (the audit checkpoint key) names a ${info.curve} key that is "${info.exportable}" exportable, not a "never" exportable Ed25519 key. Inspect the token with the HSM's own tools; Keyward will not sign checkpoints with it.`,
    );
  }
  return info;
}

async function createAuditKey(
  db: Db | undefined,
): Promise<{ publicKey: Uint8Array; token: string; created: boolean }> {
  const create = async () => {
    const key = await createKey({
      curve: "ed25519",
      label: AUDIT_KEY_LABEL,
      exportable: "never",
      ref: AUDIT_KEY_REF,
    });
    checkedKey(key);
    return { publicKey: new Uint8Array(key.publicKey), token: key.token, created: key.created };
  };
  if (db === undefined) return create();
  // Two processes that both find no key would each make one under the reference (PKCS#11 has no
  // create-if-absent); the lock makes the second wait and then find the first one's key (createKey with a
  // reference returns the key it already names). Its own transaction: not to be called inside another one on
  // PGlite (a single connection).
  return db.transaction(async (tx) => {
    await tx.execute(sql`SELECT pg_advisory_xact_lock(${AUDIT_KEY_LOCK})`);
    return create();
  });
}

/**
 * The audit checkpoint key, found on the primary token or made there once (idempotent: concurrent calls in
 * one process give one key; across processes, pass `db` so the first creation is serialised by a PostgreSQL
 * advisory lock, or call it only under one, as the checkpointer does). `name` is the key name the verifier
 * key carries: the log's origin.
 */
export async function auditKey(
  name: string = DEFAULT_AUDIT_KEY_NAME,
  options: { db?: Db } = {},
): Promise<AuditKey> {
  // Checked first: a name that cannot be a key name is refused before the HSM is asked anything.
  verifierKeyOrBadInput(name, new Uint8Array(32));
  let created = false;
  if (known === undefined) {
    const found = await findKey(AUDIT_KEY_REF);
    if (found !== null) {
      checkedKey(found);
      // findKey reads the primary, the only token a "never" key is on.
      known = { ref: AUDIT_KEY_REF, publicKey: new Uint8Array(found.publicKey), token: env().hsm.tokenLabel };
    } else {
      const made = await createAuditKey(options.db);
      known = { ref: AUDIT_KEY_REF, publicKey: made.publicKey, token: made.token };
      created = made.created;
    }
  }
  const { ref, publicKey, token } = known;
  return {
    ref,
    publicKey,
    token,
    name,
    verifierKey: verifierKeyOrBadInput(name, publicKey),
    exportable: "never",
    created,
  };
}

function verifierKeyOrBadInput(name: string, publicKey: Uint8Array): string {
  try {
    return verifierKey(name, publicKey);
  } catch (e) {
    if (e instanceof NoteError) throw new AppError("BAD_INPUT", e.message, { cause: e, field: "name" });
    throw e;
  }
}

/**
 * The checkpoint signed in the HSM as a C2SP signed note (Ed25519 over the checkpoint's text), under key name
 * `name` (the log's origin, which the spec says it should match). Verified with openCheckpoint against the
 * key's public key, and read back as the same checkpoint, before it is returned.
 */
export async function signCheckpoint(
  checkpoint: Checkpoint,
  name: string = checkpoint.origin,
  options: { db?: Db } = {},
): Promise<SignedCheckpoint> {
  let text: string;
  try {
    text = formatCheckpoint(checkpoint);
  } catch (e) {
    if (e instanceof NoteError) throw new AppError("BAD_INPUT", e.message, { cause: e, field: "checkpoint" });
    throw e;
  }
  const key = await auditKey(name, options);
  let signed: Awaited<ReturnType<typeof sign>>;
  try {
    signed = await sign(key.ref, new TextEncoder().encode(text));
  } catch (e) {
    known = undefined;
    throw e;
  }
  const note = signedNote(text, [
    { name, keyId: keyId(name, ED25519_TYPE, key.publicKey), signature: signed.signature },
  ]);
  try {
    const opened = openCheckpoint(note, [key.verifierKey], { origin: checkpoint.origin });
    if (formatCheckpoint(opened.checkpoint) !== text)
      throw new NoteError("malformed-checkpoint", "it reads back as another checkpoint");
  } catch (e) {
    known = undefined;
    const why = e instanceof Error ? e.message : String(e);
    throw new AppError(
      "INTERNAL",
      `HSM token '${signed.token}' signed checkpoint ${checkpoint.size} with the audit key, but the signed note does not verify under the key's public key (${why}). Nothing was returned; check which key the token holds under reference ${key.ref}.`,
      { cause: e },
    );
  }
  return { note, verifierKey: key.verifierKey, token: signed.token };
}
