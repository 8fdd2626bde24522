// The self-check that proves, on a live HSM token, that the user PIN cannot turn a "wrapped-only" key into
// plaintext through the backup KEK: a throw-away wrapped-only key is wrapped under the KEK, and unwrapping
// it again as non-sensitive, as extractable under any key, or as modifiable must be refused by the HSM,
// while Keyward's own unwrap template must be accepted (otherwise a refusal proves nothing). Everything it
// makes is a session object, destroyed before it returns. Until a token passes, generateKeyPair refuses to
// make wrapped-only keys there (requireUnwrapGuard). It never reads a key's value.
import "server-only";
import pkcs11js from "pkcs11js";
import { findBackupKeks, readBackupKekAttributes, readKekUnwrapTemplate } from "../ceremonies/backup-kek";
import { HsmError, toHsmError } from "../pkcs11/errors";
import type { Handle, Session, Template } from "../pkcs11/pkcs11";
import { CURVE_SPECS } from "./curves";
import { allowsWrappedOnly, type UnwrapGuard } from "./unwrap-guard-result";

const p = pkcs11js;
const WRAP = { mechanism: p.CKM_AES_KEY_WRAP_PAD };

const NAMES: Readonly<Record<number, string>> = {
  [p.CKA_SENSITIVE]: "CKA_SENSITIVE",
  [p.CKA_EXTRACTABLE]: "CKA_EXTRACTABLE",
  [p.CKA_WRAP_WITH_TRUSTED]: "CKA_WRAP_WITH_TRUSTED",
  [p.CKA_MODIFIABLE]: "CKA_MODIFIABLE",
  [p.CKA_COPYABLE]: "CKA_COPYABLE",
  [p.CKA_PRIVATE]: "CKA_PRIVATE",
  [p.CKA_TOKEN]: "CKA_TOKEN",
};

/** Keyward's own unwrap of a throw-away key: what the KEK's unwrap template demands (MODIFIABLE last). */
function unwrapTemplate(change: {
  sensitive?: boolean;
  wrapWithTrusted?: boolean;
  modifiable?: boolean;
}): Template {
  return [
    { type: p.CKA_CLASS, value: p.CKO_PRIVATE_KEY },
    { type: p.CKA_KEY_TYPE, value: p.CKK_EC },
    { type: p.CKA_TOKEN, value: false },
    { type: p.CKA_PRIVATE, value: true },
    { type: p.CKA_SIGN, value: true },
    { type: p.CKA_SENSITIVE, value: change.sensitive ?? true },
    { type: p.CKA_EXTRACTABLE, value: true },
    { type: p.CKA_WRAP_WITH_TRUSTED, value: change.wrapWithTrusted ?? true },
    { type: p.CKA_COPYABLE, value: false },
    { type: p.CKA_MODIFIABLE, value: change.modifiable ?? false },
  ];
}

/** The insider's attempts; each must be refused. */
const WEAKER = [
  { what: "as non-sensitive (CKA_SENSITIVE false)", change: { sensitive: false } },
  { what: "as extractable under any key (CKA_WRAP_WITH_TRUSTED false)", change: { wrapWithTrusted: false } },
  { what: "as modifiable (CKA_MODIFIABLE true)", change: { modifiable: true } },
] as const;

function bestEffort(call: () => void): void {
  try {
    call();
  } catch {
    // Session objects: closing the session removes whatever is left.
  }
}

/** A P-256 wrapped-only key pair that exists only in this session. */
function throwAwayKey(session: Session): { privateKey: Handle; publicKey: Handle } {
  return session.run("C_GenerateKeyPair", (m, s) =>
    m.C_GenerateKeyPair(
      s,
      { mechanism: p.CKM_EC_KEY_PAIR_GEN },
      [
        { type: p.CKA_TOKEN, value: false },
        { type: p.CKA_EC_PARAMS, value: CURVE_SPECS.p256.params },
        { type: p.CKA_VERIFY, value: true },
      ],
      [
        { type: p.CKA_TOKEN, value: false },
        { type: p.CKA_PRIVATE, value: true },
        { type: p.CKA_SENSITIVE, value: true },
        { type: p.CKA_SIGN, value: true },
        { type: p.CKA_EXTRACTABLE, value: true },
        { type: p.CKA_WRAP_WITH_TRUSTED, value: true },
      ],
    ),
  );
}

function describeTemplate(template: ReadonlyMap<number, boolean>): string[] {
  return [...template].map(([type, value]) => `${NAMES[type] ?? `0x${type.toString(16)}`}=${value}`);
}

/**
 * Runs the self-check on a user session. Never throws for what the HSM answers about the unwraps; throws
 * only when the session itself fails (so a pool reports the token's fault as for any call).
 */
export function checkUnwrapGuard(session: Session): UnwrapGuard {
  const label = session.token.target.tokenLabel;
  const keks = findBackupKeks(session);
  const [kek] = keks;
  if (kek === undefined) {
    return {
      state: "no-kek",
      kekId: null,
      template: [],
      message: `HSM token '${label}' holds no backup KEK, so no key made here can be wrapped or unwrapped.`,
    };
  }
  const kekId = readBackupKekAttributes(session, kek).id;
  const template = describeTemplate(readKekUnwrapTemplate(session, kek));
  if (keks.length > 1) {
    return {
      state: "not-proven",
      kekId,
      template,
      message: `HSM token '${label}' holds ${keks.length} backup KEKs; Keyward checks and uses only a token with one.`,
    };
  }
  const made: Handle[] = [];
  try {
    const pair = throwAwayKey(session);
    made.push(pair.privateKey, pair.publicKey);
    const blob = session.run("C_WrapKey", (m, s) =>
      m.C_WrapKey(s, WRAP, kek, pair.privateKey, Buffer.alloc(512)),
    );
    const unwrap = (t: Template): Handle =>
      session.run("C_UnwrapKey", (m, s) => m.C_UnwrapKey(s, WRAP, kek, blob, t));
    const ckrs: string[] = [];
    for (const attempt of WEAKER) {
      let weaker: Handle;
      try {
        weaker = unwrap(unwrapTemplate(attempt.change));
      } catch (e) {
        ckrs.push(toHsmError(e, { operation: "C_UnwrapKey", tokenLabel: label }).detail.ckr ?? "refused");
        continue;
      }
      made.push(weaker);
      return {
        state: "not-enforced",
        kekId,
        template,
        message: `HSM token '${label}' let the user unwrap a wrapped-only key under the backup KEK (id ${kekId}) ${attempt.what}, so its value could be read with the user PIN alone. ${template.length === 0 ? "The KEK has no unwrap template (made before Keyward set one): " : "The HSM ignores the KEK's unwrap template: "}Keyward makes no wrapped-only keys on this token.`,
      };
    }
    try {
      made.push(unwrap(unwrapTemplate({})));
    } catch (e) {
      const ckr = toHsmError(e, { operation: "C_UnwrapKey", tokenLabel: label }).detail.ckr ?? "no CKR";
      return {
        state: "not-proven",
        kekId,
        template,
        message: `HSM token '${label}' refused Keyward's own unwrap under the backup KEK (id ${kekId}) too (${ckr}), so its refusals prove nothing; Keyward makes no wrapped-only keys on this token.`,
      };
    }
    return {
      state: "enforced",
      kekId,
      template,
      message: `HSM token '${label}' refuses to unwrap a wrapped-only key under the backup KEK (id ${kekId}) as non-sensitive, extractable under any key or modifiable (${[...new Set(ckrs)].join(", ")}), and accepts Keyward's own unwrap.`,
    };
  } finally {
    for (const handle of made.reverse())
      bestEffort(() => session.token.module.C_DestroyObject(session.handle, handle));
  }
}

// Results by HSM token (library, label and serial: a re-initialised token is another token), per thread:
// every pool thread checks once before its first wrapped-only key, and the start-up check fills it in too.
const results = new Map<string, UnwrapGuard>();

function tokenKey(session: Session): string {
  const { target, description } = session.token;
  return `${target.library}\u0000${target.tokenLabel}\u0000${description.serial}`;
}

/** Runs the self-check now and keeps its result for this token (the start-up and status-page check). */
export function refreshUnwrapGuard(session: Session): UnwrapGuard {
  const guard = checkUnwrapGuard(session);
  results.set(tokenKey(session), guard);
  return guard;
}

/**
 * Refuses to go on making a wrapped-only key on a token that has not shown it refuses weaker unwraps under
 * its KEK. Checks the token first if this thread has not yet.
 */
export function requireUnwrapGuard(session: Session, operation: string): void {
  const guard = results.get(tokenKey(session)) ?? refreshUnwrapGuard(session);
  if (allowsWrappedOnly(guard)) return;
  throw new HsmError(
    "refused",
    `Keyward makes no wrapped-only (exportable) keys on HSM token '${session.token.target.tokenLabel}': its start-up self-check failed. ${guard.message}`,
    { operation },
  );
}
