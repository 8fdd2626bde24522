// Turns what the PKCS#11 library throws into one HsmError with a closed reason code, a retry class and a
// message that says what to do. Pure: it never imports pkcs11js, so it is tested without a token.
// Messages name tokens, libraries and files, never a PIN.
import "server-only";
import { AppError } from "../../errors";

/**
 * What a caller may do after the error (STACK.md, "Error classes"):
 * - configuration: never retry; a person must fix the setup or the code.
 * - stale-session: reopen the session, log in again, retry.
 * - device: this HSM is sick; retry on another one.
 * - outcome-unknown: the call may have happened; treat the operation as maybe-done.
 */
export type HsmErrorKind = "configuration" | "stale-session" | "device" | "outcome-unknown";

/** The closed list of reasons; UI and tests switch on these, never on the message. */
export const HSM_REASONS = {
  "library-missing": "configuration",
  misconfigured: "configuration",
  "token-missing": "configuration",
  "token-ambiguous": "configuration",
  "pin-incorrect": "configuration",
  "pin-locked": "configuration",
  "login-conflict": "configuration",
  "mechanism-unsupported": "configuration",
  "kek-missing": "configuration",
  // The HSM's own rules forbid what was asked (sensitive value, unwrappable key, read-only attribute).
  refused: "configuration",
  "key-missing": "configuration",
  // A never-exportable key asked to leave the HSM (backup, clone): refused by us before the HSM is asked.
  "key-not-wrappable": "configuration",
  // Arguments, templates or data the HSM rejects: a bug on our side, never fixed by retrying.
  "invalid-request": "configuration",
  "session-lost": "stale-session",
  "device-failed": "device",
  // Every session is in use and the waiting queue is full: nothing reached the HSM, so it is safe to retry
  // later or on another HSM, which is what the device kind tells a caller to do.
  busy: "device",
  "outcome-unknown": "outcome-unknown",
  // No answer within the call's deadline: the HSM may still carry the call out.
  timeout: "outcome-unknown",
} as const satisfies Record<string, HsmErrorKind>;

export type HsmErrorReason = keyof typeof HSM_REASONS;

/** Where the error happened; it shapes the message and never holds a secret. */
export type HsmErrorContext = {
  /** The PKCS#11 function or our own step, e.g. "C_Login" or "load". */
  operation: string;
  tokenLabel?: string;
  library?: string;
  softhsmConf?: string;
  role?: "user" | "so";
  /** The key reference (hex CKA_ID) the call was about, so "not found" names the key. */
  key?: string;
  /** What exactly the token lacks, when "mechanism-unsupported" needs more than the CKR name. */
  mechanism?: string;
  /** The deadline a "timeout" missed. */
  timeoutMs?: number;
  /** Where the token's PINs are configured (server/env.ts), for "pin-incorrect". */
  pinSource?: { user: string; so: string };
};

export class HsmError extends AppError {
  override name = "HsmError";
  readonly kind: HsmErrorKind;
  constructor(
    readonly reason: HsmErrorReason,
    message: string,
    readonly detail: { operation: string; ckr?: string; ckrCode?: number } = { operation: "keyward" },
    options?: { cause?: unknown },
  ) {
    // A request the HSM refuses is our bug (500); everything else means the HSM cannot serve now (503).
    const internal =
      reason === "refused" ||
      reason === "key-missing" ||
      reason === "key-not-wrappable" ||
      reason === "invalid-request";
    super(internal ? "INTERNAL" : "HSM_UNAVAILABLE", message, options);
    this.kind = HSM_REASONS[reason];
  }
}

// CKR values from the PKCS#11 3.0 header. Names come from this table rather than from pkcs11js, which
// calls 0x1B (CKR_ACTION_PROHIBITED, SoftHSM's answer to touching a non-destroyable object)
// "CKR_VENDOR_DEFINED". Anything not listed is classed outcome-unknown: the safe default.
const CKR: ReadonlyMap<number, readonly [string, HsmErrorReason]> = new Map([
  [0x02, ["CKR_HOST_MEMORY", "device-failed"]],
  [0x03, ["CKR_SLOT_ID_INVALID", "device-failed"]],
  [0x05, ["CKR_GENERAL_ERROR", "outcome-unknown"]],
  [0x06, ["CKR_FUNCTION_FAILED", "device-failed"]],
  [0x07, ["CKR_ARGUMENTS_BAD", "invalid-request"]],
  [0x10, ["CKR_ATTRIBUTE_READ_ONLY", "refused"]],
  [0x11, ["CKR_ATTRIBUTE_SENSITIVE", "refused"]],
  [0x12, ["CKR_ATTRIBUTE_TYPE_INVALID", "invalid-request"]],
  [0x13, ["CKR_ATTRIBUTE_VALUE_INVALID", "invalid-request"]],
  [0x1b, ["CKR_ACTION_PROHIBITED", "refused"]],
  [0x20, ["CKR_DATA_INVALID", "invalid-request"]],
  [0x21, ["CKR_DATA_LEN_RANGE", "invalid-request"]],
  [0x30, ["CKR_DEVICE_ERROR", "device-failed"]],
  [0x31, ["CKR_DEVICE_MEMORY", "device-failed"]],
  [0x32, ["CKR_DEVICE_REMOVED", "outcome-unknown"]],
  [0x50, ["CKR_FUNCTION_CANCELED", "outcome-unknown"]],
  [0x54, ["CKR_FUNCTION_NOT_SUPPORTED", "mechanism-unsupported"]],
  [0x60, ["CKR_KEY_HANDLE_INVALID", "key-missing"]],
  [0x62, ["CKR_KEY_SIZE_RANGE", "invalid-request"]],
  [0x63, ["CKR_KEY_TYPE_INCONSISTENT", "invalid-request"]],
  [0x68, ["CKR_KEY_FUNCTION_NOT_PERMITTED", "refused"]],
  [0x69, ["CKR_KEY_NOT_WRAPPABLE", "refused"]],
  [0x6a, ["CKR_KEY_UNEXTRACTABLE", "refused"]],
  [0x70, ["CKR_MECHANISM_INVALID", "mechanism-unsupported"]],
  [0x71, ["CKR_MECHANISM_PARAM_INVALID", "invalid-request"]],
  [0x82, ["CKR_OBJECT_HANDLE_INVALID", "key-missing"]],
  [0x90, ["CKR_OPERATION_ACTIVE", "session-lost"]],
  [0x91, ["CKR_OPERATION_NOT_INITIALIZED", "session-lost"]],
  [0xa0, ["CKR_PIN_INCORRECT", "pin-incorrect"]],
  [0xa1, ["CKR_PIN_INVALID", "pin-incorrect"]],
  [0xa2, ["CKR_PIN_LEN_RANGE", "pin-incorrect"]],
  [0xa3, ["CKR_PIN_EXPIRED", "pin-locked"]],
  [0xa4, ["CKR_PIN_LOCKED", "pin-locked"]],
  [0xb0, ["CKR_SESSION_CLOSED", "outcome-unknown"]],
  [0xb1, ["CKR_SESSION_COUNT", "device-failed"]],
  [0xb3, ["CKR_SESSION_HANDLE_INVALID", "session-lost"]],
  [0xb5, ["CKR_SESSION_READ_ONLY", "invalid-request"]],
  [0xb7, ["CKR_SESSION_READ_ONLY_EXISTS", "login-conflict"]],
  [0xb8, ["CKR_SESSION_READ_WRITE_SO_EXISTS", "login-conflict"]],
  [0xd0, ["CKR_TEMPLATE_INCOMPLETE", "invalid-request"]],
  [0xd1, ["CKR_TEMPLATE_INCONSISTENT", "invalid-request"]],
  [0xe0, ["CKR_TOKEN_NOT_PRESENT", "device-failed"]],
  [0xe1, ["CKR_TOKEN_NOT_RECOGNIZED", "device-failed"]],
  [0xe2, ["CKR_TOKEN_WRITE_PROTECTED", "device-failed"]],
  [0xf0, ["CKR_UNWRAPPING_KEY_HANDLE_INVALID", "key-missing"]],
  [0x101, ["CKR_USER_NOT_LOGGED_IN", "session-lost"]],
  [0x102, ["CKR_USER_PIN_NOT_INITIALIZED", "token-missing"]],
  [0x104, ["CKR_USER_ANOTHER_ALREADY_LOGGED_IN", "login-conflict"]],
  [0x110, ["CKR_WRAPPED_KEY_INVALID", "invalid-request"]],
  [0x113, ["CKR_WRAPPING_KEY_HANDLE_INVALID", "key-missing"]],
  [0x130, ["CKR_DOMAIN_PARAMS_INVALID", "mechanism-unsupported"]],
  [0x140, ["CKR_CURVE_NOT_SUPPORTED", "mechanism-unsupported"]],
  [0x150, ["CKR_BUFFER_TOO_SMALL", "invalid-request"]],
  [0x190, ["CKR_CRYPTOKI_NOT_INITIALIZED", "session-lost"]],
]);

/** The CKR value and name carried by a pkcs11js error, or undefined for anything else. */
export function ckrOf(error: unknown): { code: number; name: string } | undefined {
  if (!(error instanceof Error)) return undefined;
  // Most calls throw Pkcs11Error with message "CKR_NAME" and a numeric code; a few (C_SetAttributeValue)
  // throw a plain Error whose message is "CKR_NAME:code".
  const inMessage = /(CKR_[A-Z0-9_]+):(\d+)/.exec(error.message);
  const ownCode: unknown = Reflect.get(error, "code");
  let code: number | undefined;
  if (inMessage?.[2] !== undefined) code = Number(inMessage[2]);
  else if (/^CKR_[A-Z0-9_]+$/.test(error.message) && typeof ownCode === "number") code = ownCode;
  if (code === undefined) return undefined;
  const name = CKR.get(code)?.[0] ?? inMessage?.[1] ?? error.message;
  return { code, name };
}

/** The reason for a CKR value; unknown values are outcome-unknown so nobody retries a maybe-done call. */
export function reasonForCkr(code: number): HsmErrorReason {
  return CKR.get(code)?.[1] ?? "outcome-unknown";
}

const START_HINT = 'run "npm start" (or "node scripts/prepare-hsm.mjs") once to create it';

function pinSource(ctx: HsmErrorContext): string {
  if (ctx.role === "so") return ctx.pinSource?.so ?? "KEYWARD_HSM_SO_PIN or hsmSoPin in <data>/secrets.json";
  return ctx.pinSource?.user ?? "KEYWARD_HSM_PIN or hsmUserPin in <data>/secrets.json";
}

/** A message for each reason: what happened, then what to do. */
export function hsmMessage(reason: HsmErrorReason, ctx: HsmErrorContext, ckr?: string): string {
  const token = ctx.tokenLabel === undefined ? "the HSM token" : `HSM token '${ctx.tokenLabel}'`;
  const who = ctx.role === "so" ? "security officer" : "user";
  const code = ckr === undefined ? "" : ` (${ckr})`;
  switch (reason) {
    case "library-missing":
      return `The PKCS#11 library ${ctx.library ?? ""} could not be loaded. Install SoftHSM ("apt-get install softhsm2") or set KEYWARD_HSM_LIBRARY to your HSM's library.`;
    case "misconfigured":
      return `The HSM library could not start${code}. Check that ${ctx.softhsmConf ?? "SOFTHSM2_CONF"} exists and its token directory is writable; ${START_HINT}.`;
    case "token-missing":
      return `There is no initialised ${token}${code}; ${START_HINT}, or correct KEYWARD_HSM_TOKEN_LABEL / KEYWARD_HSM_TOKENS.`;
    case "token-ambiguous":
      return `More than one token is labelled '${ctx.tokenLabel ?? ""}'; give each token a unique label.`;
    case "pin-incorrect":
      return `${token} refused the ${who} PIN${code}. Set ${pinSource(ctx)} to the PIN the token was created with.`;
    case "pin-locked":
      return `The ${who} PIN of ${token} is locked or expired${code}; the HSM administrator must reset it.`;
    case "login-conflict":
      return `${token} already has another role or a read-only session open in this process${code}; run the security officer steps in their own process (scripts/hsm-setup.ts).`;
    case "mechanism-unsupported":
      return `${token} does not support ${ctx.mechanism ?? "the mechanism or curve asked for"}${code}; Keyward needs ECDSA on secp256k1 and P-256, EdDSA on Ed25519 and AES key wrap with padding for backups.`;
    case "kek-missing":
      return `${token} has no trusted backup key-encryption key; ${START_HINT}.`;
    case "refused":
      return `${token} refused the request under its key rules${code} during ${ctx.operation}; this is a bug in Keyward, not something to retry.`;
    case "key-missing":
      return ctx.key === undefined
        ? `The key or object used in ${ctx.operation} no longer exists on ${token}${code}.`
        : `No key with reference ${ctx.key} exists on ${token}${code}: it was destroyed, or never created or cloned there.`;
    case "key-not-wrappable":
      return `Key ${ctx.key ?? ""} on ${token} was created never-exportable (CKA_EXTRACTABLE false), so it cannot be wrapped for a backup or a clone; only keys created "wrapped-only" can leave the HSM, and only wrapped.`;
    case "invalid-request":
      return `${token} rejected the arguments of ${ctx.operation}${code}; this is a bug in Keyward, not something to retry.`;
    case "session-lost":
      return `The session with ${token} was lost${code}; open a new session, log in again and retry.`;
    case "device-failed":
      return `${token} failed${code} during ${ctx.operation}; retry on another HSM or check the device.`;
    case "busy":
      return `${token} is busy: every session is in use and the queue of waiting calls is full during ${ctx.operation}. Nothing reached the HSM; retry a moment later or on another HSM.`;
    case "outcome-unknown":
      return `${token} gave no clear answer${code} during ${ctx.operation}; the call may have taken effect, so treat the operation as maybe-done.`;
    case "timeout":
      return `${token} did not answer ${ctx.operation} within ${ctx.timeoutMs ?? "the allowed"} ms; the call may still take effect, so treat the operation as maybe-done.`;
  }
}

/** An HsmError for a condition Keyward detects itself (no CKR), with the one message for its reason. */
export function hsmError(reason: HsmErrorReason, ctx: HsmErrorContext): HsmError {
  return new HsmError(reason, hsmMessage(reason, ctx), { operation: ctx.operation });
}

/**
 * Wraps anything thrown at the PKCS#11 boundary. The step matters for a few codes: a failed `load` means the
 * library is missing, and CKR_GENERAL_ERROR from C_Initialize means SoftHSM could not read its configuration
 * (seen with a missing SOFTHSM2_CONF) rather than an operation with an unknown outcome.
 */
export function toHsmError(error: unknown, ctx: HsmErrorContext): HsmError {
  if (error instanceof HsmError) return error;
  const ckr = ckrOf(error);
  let reason: HsmErrorReason;
  if (ctx.operation === "load") reason = "library-missing";
  else if (ckr === undefined) reason = "outcome-unknown";
  else if (ctx.operation === "C_Initialize" && ckr.code !== 0x191) reason = "misconfigured";
  else reason = reasonForCkr(ckr.code);
  return new HsmError(
    reason,
    hsmMessage(reason, ctx, ckr?.name),
    { operation: ctx.operation, ckr: ckr?.name, ckrCode: ckr?.code },
    { cause: error },
  );
}
