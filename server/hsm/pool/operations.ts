// The closed set of requests a session can carry out, as plain data that can cross postMessage, and the one
// dispatcher that runs them on an open session. Worker threads, the direct in-process executor and tests all
// go through runOperation, so there is one place that maps a request to a PKCS#11 call sequence.
import "server-only";
import type { Curve, Exportable } from "../keys/curves";
import { type UnwrapKeyOptions, unwrapKey, wrapKey } from "../keys/key-backup";
import {
  destroyKey,
  findKey,
  forgetKey,
  type GeneratedKey,
  generateKeyPair,
  type KeyInfo,
  sign,
  type SupportedMechanisms,
  supportedMechanisms,
} from "../keys/keys";
import type { CachedKey, Session } from "../pkcs11/pkcs11";
import { type IndexedKey, indexKeys, locateKey } from "../keys/key-index";
import { checkToken, type TokenCheck } from "../status/token-check";
import { inspectKey, type KeyOnToken } from "../status/key-on-token";
import { readKeyFlags, type TokenKeyFlags } from "../status/key-flags";
import { refreshUnwrapGuard } from "../keys/unwrap-guard";
import type { UnwrapGuard } from "../keys/unwrap-guard-result";

export type HsmOperation =
  | { op: "generate"; curve: Curve; label: string; exportable: Exportable; ref?: string; fresh?: boolean }
  | { op: "find"; ref: string }
  // `hint`: the pool's handle index entry for the key (checked before use; never needed for correctness).
  | { op: "sign"; ref: string; data: Uint8Array; hint?: CachedKey }
  | { op: "wrap"; ref: string }
  | { op: "unwrap"; blob: Uint8Array; key: UnwrapKeyOptions }
  | { op: "destroy"; ref: string }
  | { op: "forget"; ref: string }
  // The pool's handle index: every key's reference, handle and curve in one pass; one key by one search.
  | { op: "index" }
  | { op: "locate"; ref: string }
  | { op: "mechanisms" }
  | { op: "check" }
  // One key as this token holds it, for the key page (status/key-on-token.ts): cached handles, checked.
  | { op: "inspect"; ref: string }
  // Many keys' exposure flags as this token attests them, for the period report (status/key-flags.ts).
  // `hints`: the pool's handle index entries, by position (checked before use).
  | { op: "attest"; refs: string[]; hints?: (CachedKey["handle"] | null)[]; search?: boolean }
  // The start-up self-check (keys/unwrap-guard.ts): throw-away session objects only.
  | { op: "unwrap-guard" };

/** What each operation returns. */
export type HsmResults = {
  generate: GeneratedKey;
  find: KeyInfo;
  sign: Buffer;
  wrap: Buffer;
  unwrap: KeyInfo;
  destroy: boolean;
  forget: undefined;
  index: IndexedKey[];
  locate: CachedKey;
  mechanisms: SupportedMechanisms;
  check: TokenCheck;
  inspect: KeyOnToken;
  attest: TokenKeyFlags;
  "unwrap-guard": UnwrapGuard;
};

export type HsmResultOf<O extends HsmOperation> = HsmResults[O["op"]];

/** The key reference an operation is about, when it names one before it runs. */
export function refOf(request: HsmOperation): string | undefined {
  switch (request.op) {
    case "generate":
      return request.ref;
    case "unwrap":
      return request.key.ref;
    case "find":
    case "sign":
    case "wrap":
    case "destroy":
    case "forget":
    case "locate":
    case "inspect":
      return request.ref;
    default:
      return undefined;
  }
}

/** Operations that change the token and therefore need a read/write session. */
export const WRITE_OPERATIONS: ReadonlySet<HsmOperation["op"]> = new Set(["generate", "unwrap", "destroy"]);

export function runOperation<O extends HsmOperation>(session: Session, request: O): HsmResultOf<O>;
export function runOperation(session: Session, request: HsmOperation): HsmResults[HsmOperation["op"]] {
  switch (request.op) {
    case "generate":
      return generateKeyPair(session, request);
    case "find":
      return findKey(session, request.ref);
    case "sign":
      return sign(session, request.ref, request.data, request.hint);
    case "wrap":
      return wrapKey(session, request.ref);
    case "unwrap":
      return unwrapKey(session, request.blob, request.key);
    case "destroy":
      return destroyKey(session, request.ref);
    case "forget":
      forgetKey(session, request.ref);
      return undefined;
    case "index":
      return indexKeys(session);
    case "locate":
      return locateKey(session, request.ref);
    case "mechanisms":
      return supportedMechanisms(session);
    case "check":
      return checkToken(session);
    case "inspect":
      return inspectKey(session, request.ref);
    case "attest":
      return readKeyFlags(session, request);
    case "unwrap-guard":
      return refreshUnwrapGuard(session);
  }
}

/** Something that carries operations out on one token: a worker pool, or a direct session in tests. */
export interface HsmExecutor {
  readonly tokenLabel: string;
  execute<O extends HsmOperation>(request: O, options?: { timeoutMs?: number }): Promise<HsmResultOf<O>>;
  close(): Promise<void>;
}
