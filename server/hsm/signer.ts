// Signing and key custody, through the server's token set (every call in a pool thread, keys cloned into the
// replicas, signing failing over). Only the operation executor (server/operations/**) and the audit
// checkpointer (server/audit/checkpoint*) may import this: boundary.test.ts refuses any other importer, so
// nothing signs or makes keys except through the executor's checks.
import "server-only";
import { createHash } from "node:crypto";
import { serverTokenSet } from "./cluster/server-token-set";
import type {
  CreatedKey,
  Replication,
  RestoredKey,
  RestoreRequest,
  Signed,
  WrappedExport,
} from "./cluster/token-set";
import type { GenerateKeyPairOptions, KeyInfo } from "./keys/keys";

export type {
  CreatedKey,
  Replication,
  RestoredKey,
  RestoreRequest,
  Signed,
  WrappedExport,
} from "./cluster/token-set";
export type { TokenSetError } from "./cluster/token-set-error";
export type { GenerateKeyPairOptions, KeyInfo } from "./keys/keys";
export { ethereumYParity, isLowS, normalizeLowS, verifySignature } from "./keys/signature";

/**
 * The HSM reference (CKA_ID, 16 bytes as 32 lowercase hex, the length of every Keyward key reference) of
 * the key an operation creates: SHA-256 of "keyward-op:" + the operation id, truncated. Derived, not stored,
 * so a repeated execution after an unknown outcome or a crash finds the key the first one made.
 */
export function operationKeyRef(operationId: string): string {
  return createHash("sha256").update(`keyward-op:${operationId}`).digest().subarray(0, 16).toString("hex");
}

/**
 * The HSM reference of key `index` (0-based) of a key.create batch: operationKeyRef of "<operation id>/<index>",
 * so each key of the batch has its own, and a chunk repeated or resumed after a crash finds the keys made.
 */
export function batchKeyRef(operationId: string, index: number): string {
  return operationKeyRef(`${operationId}/${index}`);
}

/**
 * A key pair made on the primary HSM token and, when it may leave wrapped, cloned into every replica.
 * With `ref` (operationKeyRef) it is safe to repeat: a key the primary already holds under that reference
 * is returned (same public key, `created: false`) and its missing replica clones are made; concurrent
 * calls with one reference make one key.
 */
export function createKey(options: GenerateKeyPairOptions): Promise<CreatedKey> {
  return serverTokenSet().createKey(options);
}

/** The key the primary holds under `ref`, or null when it has none. */
export function findKey(ref: string): Promise<KeyInfo | null> {
  return serverTokenSet().findKey(ref);
}

/** Signs on the first token in use that holds the key (failover); TokenSetError names every token tried. */
export function sign(ref: string, data: Uint8Array): Promise<Signed> {
  return serverTokenSet().sign(ref, data);
}

/**
 * The backup of a key: clones it, wrapped under the shared backup KEK, into the replicas that lack it (a
 * replica that was down when the key was made). Idempotent.
 */
export function backupKey(ref: string): Promise<Replication> {
  return serverTokenSet().replicate(ref);
}

/** Destroys the key on every token; names the tokens where it was absent, throws for tokens not reached. */
export function destroyKey(ref: string): Promise<{ destroyed: string[]; absent: string[] }> {
  return serverTokenSet().destroyKey(ref);
}

/**
 * A "wrapped-only" key wrapped under the backup KEK on the primary, for a backup file (key.backup), naming
 * the token and the KEK. Refuses "never" keys and, on SoftHSM 2.6.1, Ed25519 keys. Deterministic: a repeat
 * gives the same blob.
 */
export function exportWrapped(ref: string): Promise<WrappedExport> {
  return serverTokenSet().exportWrapped(ref);
}

/**
 * Restores a backed-up key into one configured token and proves it signs for the recorded public key
 * (key.restore): put back as token objects where it is missing, drilled with a session object that is
 * destroyed where it is present. Safe to repeat.
 */
export function restoreKey(request: RestoreRequest): Promise<RestoredKey> {
  return serverTokenSet().restoreKey(request);
}
