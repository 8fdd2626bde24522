// The security officer's setup ceremony: create the trusted AES key-encryption key that backups are wrapped
// under, once per token. It must never create a KEK that can decrypt, be read, or be changed by the user.
import "server-only";
import { randomBytes } from "node:crypto";
import pkcs11js from "pkcs11js";
import { env } from "../../env";
import { HsmError } from "../pkcs11/errors";
import {
  flag,
  type Handle,
  type HsmTarget,
  openToken,
  type Session,
  type Template,
  withSession,
} from "../pkcs11/pkcs11";

export const BACKUP_KEK_LABEL = "keyward-backup-kek";

/**
 * CKA_UNWRAP_TEMPLATE of every backup KEK: what any key unwrapped under it must be. A user holding the PIN
 * can wrap a "wrapped-only" key under the KEK; without this template they could unwrap it again as
 * non-sensitive (or extractable under any key) and read its value. With it the HSM refuses every unwrap
 * whose template differs (SoftHSM 2.6.1: CKR_TEMPLATE_INCONSISTENT, also when an attribute is left out;
 * measured), so an unwrapped key is again sensitive, wrapped-only, and can be neither changed nor copied.
 * Needs pkcs11js with patches/pkcs11js+2.1.7.patch (nested templates).
 */
export const KEK_UNWRAP_TEMPLATE: readonly pkcs11js.NestedAttribute[] = [
  { type: pkcs11js.CKA_SENSITIVE, value: true },
  { type: pkcs11js.CKA_EXTRACTABLE, value: true },
  { type: pkcs11js.CKA_WRAP_WITH_TRUSTED, value: true },
  { type: pkcs11js.CKA_MODIFIABLE, value: false },
  { type: pkcs11js.CKA_COPYABLE, value: false },
];

/** The KEK_UNWRAP_TEMPLATE attribute itself, for a KEK's generate or unwrap template. */
export function kekUnwrapTemplateAttribute(): pkcs11js.Attribute {
  return { type: pkcs11js.CKA_UNWRAP_TEMPLATE, value: KEK_UNWRAP_TEMPLATE.map((a) => ({ ...a })) };
}

/**
 * The KEK's CKA_UNWRAP_TEMPLATE as the HSM holds it: nested attribute type to the first byte of its value
 * (every attribute Keyward puts there is a CK_BBOOL). Empty for a KEK made before unwrap templates.
 */
export function readKekUnwrapTemplate(session: Session, kek: Handle): Map<number, boolean> {
  const [attribute] = session.run("C_GetAttributeValue", (m, s) =>
    m.C_GetAttributeValue(s, kek, [{ type: pkcs11js.CKA_UNWRAP_TEMPLATE }]),
  );
  // The patched binding returns a template as an array (index.d.ts still declares a Buffer): check it here.
  const value: unknown = attribute?.value;
  const entries = new Map<number, boolean>();
  if (Array.isArray(value)) {
    for (const nested of value) {
      if (typeof nested?.type === "number" && Buffer.isBuffer(nested.value) && nested.value.length === 1) {
        entries.set(nested.type, nested.value[0] === 1);
      }
    }
    return entries;
  }
  if (Buffer.isBuffer(value) && value.length === 0) return entries;
  throw new HsmError(
    "misconfigured",
    "pkcs11js cannot read nested templates: it is not patched. Run `npm ci` (its postinstall applies patches/pkcs11js+2.1.7.patch and rebuilds the addon).",
    { operation: "readKekUnwrapTemplate" },
  );
}

/** Whether the KEK's unwrap template holds at least KEK_UNWRAP_TEMPLATE. */
export function hasKekUnwrapTemplate(template: ReadonlyMap<number, boolean>): boolean {
  return KEK_UNWRAP_TEMPLATE.every((a) => template.get(a.type) === a.value);
}

/**
 * Trusted secret keys carrying the KEK label. CKA_TRUSTED is in the search template because only the SO
 * can set it: a look-alike a user session made with the same label is never picked.
 */
export function findBackupKeks(session: Session): Handle[] {
  return session.find([
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_LABEL, value: BACKUP_KEK_LABEL },
    { type: pkcs11js.CKA_TRUSTED, value: true },
  ]);
}

/**
 * What SoftHSM 2.6.1 accepts from the SO (see README.md): the KEK must be public (CKA_PRIVATE false), since
 * an SO session may not create private objects (CKR_USER_NOT_LOGGED_IN). Being public is safe because the
 * value is sensitive and never extractable, and the object can be neither modified, copied nor destroyed,
 * so a user session can neither weaken it nor delete it.
 * ENCRYPT/DECRYPT are false on purpose: a KEK that decrypts would turn any wrapped backup into plaintext.
 */
function kekTemplate(id: Buffer): Template {
  const { CKA_CLASS, CKA_KEY_TYPE, CKA_VALUE_LEN, CKA_TOKEN, CKA_PRIVATE, CKA_LABEL, CKA_ID } = pkcs11js;
  return [
    { type: CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
    { type: CKA_VALUE_LEN, value: 32 },
    { type: CKA_TOKEN, value: true },
    { type: CKA_PRIVATE, value: false },
    { type: CKA_LABEL, value: BACKUP_KEK_LABEL },
    { type: CKA_ID, value: id },
    { type: pkcs11js.CKA_TRUSTED, value: true },
    { type: pkcs11js.CKA_WRAP, value: true },
    { type: pkcs11js.CKA_UNWRAP, value: true },
    { type: pkcs11js.CKA_ENCRYPT, value: false },
    { type: pkcs11js.CKA_DECRYPT, value: false },
    { type: pkcs11js.CKA_SIGN, value: false },
    { type: pkcs11js.CKA_VERIFY, value: false },
    { type: pkcs11js.CKA_DERIVE, value: false },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: false },
    kekUnwrapTemplateAttribute(),
    { type: pkcs11js.CKA_MODIFIABLE, value: false },
    { type: pkcs11js.CKA_COPYABLE, value: false },
    { type: pkcs11js.CKA_DESTROYABLE, value: false },
  ];
}

export type BackupKekAttributes = {
  id: string;
  trusted: boolean;
  private: boolean;
  sensitive: boolean;
  extractable: boolean;
  alwaysSensitive: boolean;
  neverExtractable: boolean;
  wrap: boolean;
  unwrap: boolean;
  encrypt: boolean;
  decrypt: boolean;
  modifiable: boolean;
  destroyable: boolean;
};

/** The KEK's public attributes (never CKA_VALUE, which the HSM refuses anyway). */
export function readBackupKekAttributes(session: Session, kek: Handle): BackupKekAttributes {
  const p = pkcs11js;
  const v = session.attributes(kek, [
    p.CKA_ID,
    p.CKA_TRUSTED,
    p.CKA_PRIVATE,
    p.CKA_SENSITIVE,
    p.CKA_EXTRACTABLE,
    p.CKA_ALWAYS_SENSITIVE,
    p.CKA_NEVER_EXTRACTABLE,
    p.CKA_WRAP,
    p.CKA_UNWRAP,
    p.CKA_ENCRYPT,
    p.CKA_DECRYPT,
    p.CKA_MODIFIABLE,
    p.CKA_DESTROYABLE,
  ]);
  return {
    id: v.get(p.CKA_ID)?.toString("hex") ?? "",
    trusted: flag(v, p.CKA_TRUSTED),
    private: flag(v, p.CKA_PRIVATE),
    sensitive: flag(v, p.CKA_SENSITIVE),
    extractable: flag(v, p.CKA_EXTRACTABLE),
    alwaysSensitive: flag(v, p.CKA_ALWAYS_SENSITIVE),
    neverExtractable: flag(v, p.CKA_NEVER_EXTRACTABLE),
    wrap: flag(v, p.CKA_WRAP),
    unwrap: flag(v, p.CKA_UNWRAP),
    encrypt: flag(v, p.CKA_ENCRYPT),
    decrypt: flag(v, p.CKA_DECRYPT),
    modifiable: flag(v, p.CKA_MODIFIABLE),
    destroyable: flag(v, p.CKA_DESTROYABLE),
  };
}

/**
 * The token's backup KEK as health reports it: its id (the same on every token that shares it) and whether
 * it is the shareable kind (extractable only under a trusted key, made by shareBackupKek, which setup uses)
 * or never-extractable (made by ensureBackupKek). Null when the token has none.
 */
export function describeBackupKek(session: Session): { id: string; shareable: boolean } | null {
  const [kek] = findBackupKeks(session);
  if (kek === undefined) return null;
  const { id, extractable } = readBackupKekAttributes(session, kek);
  return { id, shareable: extractable };
}

/** The properties a KEK must have to be trusted with backups; anything else is refused, not repaired. */
function checkKek(a: BackupKekAttributes): void {
  const sound =
    a.trusted &&
    a.sensitive &&
    !a.extractable &&
    a.neverExtractable &&
    a.wrap &&
    a.unwrap &&
    !a.decrypt &&
    !a.encrypt;
  if (!sound) {
    throw new HsmError(
      "misconfigured",
      `The trusted key '${BACKUP_KEK_LABEL}' on this token is extractable, not sensitive or can encrypt/decrypt; it is not safe for backups. Re-initialise the token or remove that key with the HSM's own tools.`,
      { operation: "ensureBackupKek" },
    );
  }
}

export type BackupKek = { created: boolean; id: string };

function defaultTarget(): HsmTarget {
  const { library, tokenLabel, softhsmConf } = env().hsm;
  return { library, tokenLabel, softhsmConf };
}

/**
 * Creates the backup KEK if the token has none, as the security officer on a read/write session, and
 * logs the SO out afterwards. Idempotent: a token that already holds a sound KEK is left as it is.
 * Run it in its own process (scripts/hsm-setup.ts): the SO cannot log in while a user session is open.
 */
export async function ensureBackupKek(options: { soPin: string; target?: HsmTarget }): Promise<BackupKek> {
  const token = openToken(options.target ?? defaultTarget());
  return withSession(token, { write: true, login: { role: "so", pin: options.soPin } }, (session) => {
    const [existing] = findBackupKeks(session);
    if (existing !== undefined) {
      const attributes = readBackupKekAttributes(session, existing);
      checkKek(attributes);
      return { created: false, id: attributes.id };
    }
    // CKA_ID names this KEK generation, so a backup can record which KEK wrapped it once KEKs rotate.
    const id = randomBytes(16);
    const kek = session.run("C_GenerateKey", (m, s) =>
      m.C_GenerateKey(s, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, kekTemplate(id)),
    );
    checkKek(readBackupKekAttributes(session, kek));
    return { created: true, id: id.toString("hex") };
  });
}
