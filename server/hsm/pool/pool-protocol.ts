// The messages between HsmPool and its worker threads, as plain data, and the conversions at both ends:
// errors keep their reason, kind and message across the thread boundary, byte arrays travel as latin1
// strings, and results come back as Buffers. Pure: no pkcs11js, no threads.
import "server-only";
import { type Curve, type Exportable, isCurve } from "../keys/curves";
import { HSM_REASONS, HsmError, type HsmErrorReason, toHsmError } from "../pkcs11/errors";
import type { UnwrapKeyOptions } from "../keys/key-backup";
import { parseUnwrapGuard } from "../keys/unwrap-guard-result";
import type { HsmOperation, HsmResultOf, HsmResults } from "./operations";
import type { HsmTarget, LibraryDescription } from "../pkcs11/pkcs11";

/** What a worker is started with. The PIN travels in memory only and is never logged. */
/**
 * `signSessions`: sessions the thread keeps for asynchronous C_Sign (pool/async-signer.ts), each one call
 * in flight; 0 signs on the thread's own session, one call at a time.
 */
export type PoolWorkerData = { target: HsmTarget; pin: string; signSessions: number };

/**
 * An operation, or an extension registered by the worker's entry file. The installed worker registers none
 * (it refuses every extension); the entry tests start (server/hsm/testing) registers the ones tests need.
 */
export type PoolWork =
  | { kind: "operation"; request: WireOperation }
  | { kind: "extension"; name: string; args: readonly number[] };
/** `deadline` is wall-clock ms (see wallClock): a thread never starts a call its caller stopped waiting for. */
export type PoolJob = { id: number; deadline: number; work: PoolWork };

/**
 * "stop-async-signing": close the sessions opened for asynchronous C_Sign (`signSessions`), sent to the first
 * thread of a pool whose "auto" became "main" (sign-from.ts): the main thread signs instead.
 */
export type ToWorker =
  | { type: "run"; jobs: PoolJob[] }
  | { type: "forget"; ref: string }
  | { type: "stop-async-signing" }
  | { type: "close" };

export type WireError = {
  reason: HsmErrorReason;
  message: string;
  detail: { operation: string; ckr?: string; ckrCode?: number };
};

/** A key handle a thread found or made during a job, for the pool's handle index. */
export type LearnedKey = { ref: string; handle: WireBytes; curve: Curve };

export type JobOutcome =
  | { id: number; ok: true; value: unknown; learned?: LearnedKey }
  | { id: number; ok: false; error: WireError };

export type FromWorker =
  /**
   * Times are `performance.timeOrigin + performance.now()`, comparable between threads. `library`: its
   * C_GetInfo, from which the pool resolves signFrom "auto".
   */
  | { type: "ready"; initStartedAt: number; readyAt: number; library: LibraryDescription }
  | { type: "failed"; error: WireError }
  /** Outcomes of some of the jobs posted, in order; a long batch is answered in several messages. */
  | { type: "done"; outcomes: JobOutcome[] }
  | { type: "closed" };

export function wallClock(): number {
  return performance.timeOrigin + performance.now();
}

/** An error as plain data; anything that is not yet an HsmError is classified the usual way first. */
export function toWireError(error: unknown, operation: string): WireError {
  const e = toHsmError(error, { operation });
  return { reason: e.reason, message: e.message, detail: { ...e.detail } };
}

/** The HsmError a worker reported, rebuilt: structured clone keeps the fields but loses the class. */
export function fromWireError(error: WireError): HsmError {
  const reason: HsmErrorReason = Object.hasOwn(HSM_REASONS, error.reason) ? error.reason : "outcome-unknown";
  return new HsmError(reason, error.message, error.detail);
}

/**
 * Bytes cross the thread boundary as latin1 strings (one character per byte, lossless). Measured here: a
 * typed array costs about twice as much to post as a string of the same bytes (each one is a new
 * ArrayBuffer on both sides), and a string copies exactly its bytes, whereas posting a small Buffer as it is
 * would clone its whole ArrayBuffer: Node's shared 8 KiB pool, with other data of the sending thread.
 */
export type WireBytes = string;

export function toWireBytes(bytes: Uint8Array): WireBytes {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
}

export function fromWireBytes(bytes: WireBytes): Buffer {
  return Buffer.from(bytes, "latin1");
}

/** An HsmOperation as posted: its byte arrays as WireBytes. */
export type WireOperation =
  | Exclude<HsmOperation, { op: "sign" } | { op: "unwrap" } | { op: "attest" }>
  | { op: "attest"; refs: string[]; hints?: (WireBytes | null)[]; search?: boolean }
  | { op: "sign"; ref: string; data: WireBytes; hint?: { handle: WireBytes; curve: Curve } }
  | { op: "unwrap"; blob: WireBytes; key: Omit<UnwrapKeyOptions, "publicKey"> & { publicKey: WireBytes } };

/** The request ready to post; the caller's object is left alone. */
export function toWireRequest(request: HsmOperation): WireOperation {
  switch (request.op) {
    case "sign": {
      const { hint, ...rest } = request;
      const data = toWireBytes(request.data);
      if (hint === undefined) return { ...rest, data };
      return { ...rest, data, hint: { handle: toWireBytes(hint.handle), curve: hint.curve } };
    }
    case "attest": {
      const { hints, ...rest } = request;
      if (hints === undefined) return rest;
      return { ...rest, hints: hints.map((h) => (h === null ? null : toWireBytes(h))) };
    }
    case "unwrap":
      return {
        ...request,
        blob: toWireBytes(request.blob),
        key: { ...request.key, publicKey: toWireBytes(request.key.publicKey) },
      };
    default:
      return request;
  }
}

/** The request as the worker runs it. */
export function fromWireRequest(request: WireOperation): HsmOperation {
  switch (request.op) {
    case "sign": {
      const { hint, ...rest } = request;
      const data = fromWireBytes(request.data);
      if (hint === undefined) return { ...rest, data };
      return { ...rest, data, hint: { handle: fromWireBytes(hint.handle), curve: hint.curve } };
    }
    case "attest": {
      const { hints, ...rest } = request;
      if (hints === undefined) return rest;
      return { ...rest, hints: hints.map((h) => (h === null ? null : fromWireBytes(h))) };
    }
    case "unwrap":
      return {
        ...request,
        blob: fromWireBytes(request.blob),
        key: { ...request.key, publicKey: fromWireBytes(request.key.publicKey) },
      };
    default:
      return request;
  }
}

/** A result made postable in the worker: plain objects and arrays are walked, byte arrays become WireBytes. */
export function postableValue(value: unknown): unknown {
  if (value instanceof Uint8Array) return toWireBytes(value);
  if (Array.isArray(value)) return value.map(postableValue);
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, postableValue(v)]));
  }
  return value;
}

function malformed(what: string): HsmError {
  // Our own worker sent something else than the operation returns: a bug, and the call's effect is unknown.
  return new HsmError(
    "outcome-unknown",
    `The HSM worker returned a malformed ${what}; treat the call as maybe-done.`,
    {
      operation: "pool",
    },
  );
}

function buffer(value: unknown, what: string): Buffer {
  if (typeof value === "string") return fromWireBytes(value);
  throw malformed(what);
}

function fields(value: unknown, what: string): Record<string, unknown> {
  if (typeof value === "object" && value !== null && !Array.isArray(value)) return { ...value };
  throw malformed(what);
}

function text(value: unknown, what: string): string {
  if (typeof value === "string") return value;
  throw malformed(what);
}

function curveOf(value: unknown): Curve {
  if (isCurve(value)) return value;
  throw malformed("curve");
}

function exportableOf(value: unknown): Exportable {
  if (value === "never" || value === "wrapped-only") return value;
  throw malformed("export rule");
}

function keyInfo(value: unknown): HsmResults["find"] {
  const v = fields(value, "key");
  return {
    ref: text(v.ref, "key reference"),
    curve: curveOf(v.curve),
    label: text(v.label, "label"),
    publicKey: buffer(v.publicKey, "public key"),
    exportable: exportableOf(v.exportable),
  };
}

function mechanisms(value: unknown): HsmResults["mechanisms"] {
  const v = fields(value, "mechanism list");
  const curves = fields(v.curves, "curve list");
  const list = Array.isArray(v.mechanisms) ? v.mechanisms : [];
  return {
    mechanisms: list.filter((m): m is number => typeof m === "number"),
    curves: {
      secp256k1: curves.secp256k1 === true,
      ed25519: curves.ed25519 === true,
      p256: curves.p256 === true,
    },
    backup: v.backup === true,
  };
}

function count(value: unknown, what: string): number {
  if (typeof value === "number" && Number.isInteger(value) && value >= 0) return value;
  throw malformed(what);
}

function tokenCheck(value: unknown): HsmResults["check"] {
  const v = fields(value, "token check");
  const token = fields(v.token, "token description");
  const offered = fields(v.mechanisms, "mechanism summary");
  const objects = fields(v.objects, "object count");
  const kek = objects.kek === null ? null : fields(objects.kek, "backup KEK");
  return {
    token: {
      label: text(token.label, "token label"),
      serial: text(token.serial, "token serial"),
      manufacturer: text(token.manufacturer, "manufacturer"),
      model: text(token.model, "model"),
    },
    mechanisms: {
      ecdsa: offered.ecdsa === true,
      eddsa: offered.eddsa === true,
      ecKeyPairGen: offered.ecKeyPairGen === true,
      edwardsKeyPairGen: offered.edwardsKeyPairGen === true,
    },
    objects: {
      total: count(objects.total, "object count"),
      kek: kek === null ? null : { id: text(kek.id, "KEK id"), shareable: kek.shareable === true },
    },
  };
}

function flagOf(value: unknown): boolean | null {
  if (value === null || typeof value === "boolean") return value;
  throw malformed("key flag");
}

function keyFlags(value: unknown): HsmResults["attest"] {
  const v = fields(value, "key flags");
  const token = fields(v.token, "token description");
  if (!Array.isArray(v.keys)) throw malformed("key flags");
  return {
    token: {
      label: text(token.label, "token label"),
      serial: text(token.serial, "token serial"),
      manufacturer: text(token.manufacturer, "manufacturer"),
      model: text(token.model, "model"),
    },
    keys: v.keys.map((entry: unknown) => {
      const k = fields(entry, "key flags entry");
      const ref = text(k.ref, "key reference");
      switch (k.state) {
        case "holds": {
          const f = fields(k.flags, "key flags");
          return {
            ref,
            state: "holds" as const,
            flags: {
              local: flagOf(f.local),
              sensitive: flagOf(f.sensitive),
              alwaysSensitive: flagOf(f.alwaysSensitive),
              extractable: flagOf(f.extractable),
              neverExtractable: flagOf(f.neverExtractable),
              wrapWithTrusted: flagOf(f.wrapWithTrusted),
            },
          };
        }
        case "missing":
        case "unresolved":
          return { ref, state: k.state };
        case "unreadable":
          return { ref, state: "unreadable" as const, message: text(k.message, "message") };
        default:
          throw malformed("key flags entry");
      }
    }),
  };
}

/** The worker's answer turned back into what runOperation returns, Buffers included. */
export function reviveResult<O extends HsmOperation>(request: O, value: unknown): HsmResultOf<O>;
export function reviveResult(request: HsmOperation, value: unknown): HsmResults[HsmOperation["op"]] {
  switch (request.op) {
    case "sign":
      return buffer(value, "signature");
    case "wrap":
      return buffer(value, "wrapped key");
    case "generate": {
      const v = fields(value, "key");
      if (typeof v.created !== "boolean") throw malformed("key");
      return {
        ref: text(v.ref, "key reference"),
        publicKey: buffer(v.publicKey, "public key"),
        created: v.created,
        label: text(v.label, "label"),
      };
    }
    case "find":
    case "unwrap":
      return keyInfo(value);
    case "destroy":
      if (typeof value === "boolean") return value;
      throw malformed("destroy result");
    case "forget":
      return undefined;
    case "index": {
      if (!Array.isArray(value)) throw malformed("key index");
      return value.map((entry: unknown) => {
        const v = fields(entry, "key index entry");
        return {
          ref: text(v.ref, "key reference"),
          handle: buffer(v.handle, "handle"),
          curve: curveOf(v.curve),
        };
      });
    }
    case "locate": {
      const v = fields(value, "key handle");
      return { handle: buffer(v.handle, "handle"), curve: curveOf(v.curve) };
    }
    case "mechanisms":
      return mechanisms(value);
    case "check":
      return tokenCheck(value);
    case "inspect": {
      const token = fields(fields(value, "key on token").token, "token of a key");
      return {
        ...keyInfo(value),
        token: { label: text(token.label, "token label"), serial: text(token.serial, "token serial") },
      };
    }
    case "attest":
      return keyFlags(value);
    case "unwrap-guard": {
      const guard = parseUnwrapGuard(value);
      if (guard === undefined) throw malformed("unwrap self-check");
      return guard;
    }
  }
}
