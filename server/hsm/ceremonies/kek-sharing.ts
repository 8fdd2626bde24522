// The security officers' ceremony that gives several tokens the same trusted backup KEK, so a key wrapped on
// one can be unwrapped (cloned) into another. The KEK travels only wrapped, HSM to HSM, under a transport key
// that exists only inside this ceremony's sessions. It must never put the KEK, or anything that could
// unwrap it later, within reach of a user session. Run it in its own process (scripts/hsm-setup.ts).
import "server-only";
import { randomBytes } from "node:crypto";
import pkcs11js from "pkcs11js";
import {
  BACKUP_KEK_LABEL,
  findBackupKeks,
  hasKekUnwrapTemplate,
  KEK_UNWRAP_TEMPLATE,
  kekUnwrapTemplateAttribute,
  readBackupKekAttributes,
  readKekUnwrapTemplate,
} from "./backup-kek";
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

/** A token and its security officer's PIN. */
export type SoLogin = { target: HsmTarget; soPin: string };

export type SharedBackupKek = {
  /** CKA_ID of the KEK, the same on every token. */
  id: string;
  /** True when the source had no KEK and this call made one. */
  created: boolean;
  /** Labels of the tokens that received the KEK in this call. */
  cloned: string[];
  /** Labels of the tokens that already held the same KEK (checked, left as they were). */
  present: string[];
};

const p = pkcs11js;
const OAEP = {
  mechanism: p.CKM_RSA_PKCS_OAEP,
  // SoftHSM 2.6.1 takes OAEP with SHA-1 only (SHA-256 gives CKR_ARGUMENTS_BAD); OAEP-SHA-1 is still sound
  // as encryption padding. source 1 = CKZ_DATA_SPECIFIED, with no label.
  parameter: { type: p.CK_PARAMS_RSA_OAEP, hashAlg: p.CKM_SHA_1, mgf: p.CKG_MGF1_SHA1, source: 1 },
};
const WRAP_PAD = { mechanism: p.CKM_AES_KEY_WRAP_PAD };

/**
 * A shareable KEK: like ensureBackupKek's, except CKA_EXTRACTABLE true with CKA_WRAP_WITH_TRUSTED true, so
 * it can leave the token only wrapped under a trusted key, which only an SO can create. Every copy is made
 * shareable, so any token can seed a new one when another is lost.
 * CKA_MODIFIABLE false must come last: SoftHSM applies the template in order, and in C_UnwrapKey every
 * attribute after it fails with CKR_ATTRIBUTE_READ_ONLY. CKA_VALUE_LEN is refused in an unwrap template.
 */
function shareableKekTemplate(id: Buffer, forUnwrap: boolean): Template {
  return [
    { type: p.CKA_CLASS, value: p.CKO_SECRET_KEY },
    { type: p.CKA_KEY_TYPE, value: p.CKK_AES },
    ...(forUnwrap ? [] : [{ type: p.CKA_VALUE_LEN, value: 32 }]),
    { type: p.CKA_TOKEN, value: true },
    // The SO may not create private objects on SoftHSM; see README.md.
    { type: p.CKA_PRIVATE, value: false },
    { type: p.CKA_LABEL, value: BACKUP_KEK_LABEL },
    { type: p.CKA_ID, value: id },
    { type: p.CKA_TRUSTED, value: true },
    { type: p.CKA_WRAP, value: true },
    { type: p.CKA_UNWRAP, value: true },
    { type: p.CKA_ENCRYPT, value: false },
    { type: p.CKA_DECRYPT, value: false },
    { type: p.CKA_SIGN, value: false },
    { type: p.CKA_VERIFY, value: false },
    { type: p.CKA_DERIVE, value: false },
    { type: p.CKA_SENSITIVE, value: true },
    { type: p.CKA_EXTRACTABLE, value: true },
    { type: p.CKA_WRAP_WITH_TRUSTED, value: true },
    // Every copy carries the unwrap template too: a replica's KEK is as good as the source's for an insider.
    kekUnwrapTemplateAttribute(),
    { type: p.CKA_COPYABLE, value: false },
    { type: p.CKA_DESTROYABLE, value: false },
    { type: p.CKA_MODIFIABLE, value: false },
  ];
}

function refuse(message: string): HsmError {
  return new HsmError("misconfigured", message, { operation: "shareBackupKek" });
}

/** The KEK's id and whether it can be shared; refuses a KEK unsafe for backups. */
function inspectKek(session: Session, kek: Handle): { id: string; shareable: boolean } {
  const a = readBackupKekAttributes(session, kek);
  const wrapWithTrusted = flag(session.attributes(kek, [p.CKA_WRAP_WITH_TRUSTED]), p.CKA_WRAP_WITH_TRUSTED);
  const sound =
    a.trusted &&
    a.sensitive &&
    a.wrap &&
    a.unwrap &&
    !a.encrypt &&
    !a.decrypt &&
    !a.modifiable &&
    !a.destroyable &&
    (!a.extractable || wrapWithTrusted);
  const label = session.token.target.tokenLabel;
  if (!sound) {
    throw refuse(
      `The trusted key '${BACKUP_KEK_LABEL}' on HSM token '${label}' is not safe for backups (it can encrypt, decrypt, be changed or destroyed, or leave the HSM under an untrusted key). Re-initialise the token.`,
    );
  }
  return { id: a.id, shareable: a.extractable };
}

/** The token's single KEK handle, or undefined when it has none. */
function onlyKek(session: Session): Handle | undefined {
  const [kek, ...more] = findBackupKeks(session);
  if (more.length > 0) {
    throw refuse(
      `HSM token '${session.token.target.tokenLabel}' holds ${more.length + 1} trusted backup KEKs.`,
    );
  }
  return kek;
}

function bestEffort(call: () => void): void {
  try {
    call();
  } catch {
    // The objects are session objects: closing the ceremony's sessions removes them anyway.
  }
}

/**
 * Moves the KEK from `src` to `dst` wrapped under a fresh RSA-3072 transport key pair. The pair is born in
 * the destination token as session objects (gone when the session closes; the private half only unwraps
 * and never leaves); its public half is imported into the source as a trusted session object, which only
 * an SO may do and which the KEK's CKA_WRAP_WITH_TRUSTED requires. Both are destroyed straight after.
 */
function transportKek(src: Session, kek: Handle, dst: Session, id: Buffer): Handle {
  const transport = dst.run("C_GenerateKeyPair", (m, s) =>
    m.C_GenerateKeyPair(
      s,
      { mechanism: p.CKM_RSA_PKCS_KEY_PAIR_GEN },
      [
        { type: p.CKA_TOKEN, value: false },
        { type: p.CKA_MODULUS_BITS, value: 3072 },
        { type: p.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
        { type: p.CKA_WRAP, value: true },
        { type: p.CKA_ENCRYPT, value: false },
        { type: p.CKA_VERIFY, value: false },
      ],
      [
        { type: p.CKA_TOKEN, value: false },
        { type: p.CKA_PRIVATE, value: false },
        { type: p.CKA_SENSITIVE, value: true },
        { type: p.CKA_EXTRACTABLE, value: false },
        { type: p.CKA_UNWRAP, value: true },
        { type: p.CKA_DECRYPT, value: false },
        { type: p.CKA_SIGN, value: false },
        { type: p.CKA_DERIVE, value: false },
      ],
    ),
  );
  let trustedPublic: Handle | undefined;
  try {
    const values = dst.attributes(transport.publicKey, [p.CKA_MODULUS, p.CKA_PUBLIC_EXPONENT]);
    trustedPublic = src.run("C_CreateObject", (m, s) =>
      m.C_CreateObject(s, [
        { type: p.CKA_CLASS, value: p.CKO_PUBLIC_KEY },
        { type: p.CKA_KEY_TYPE, value: p.CKK_RSA },
        { type: p.CKA_TOKEN, value: false },
        { type: p.CKA_MODULUS, value: values.get(p.CKA_MODULUS) ?? Buffer.alloc(0) },
        { type: p.CKA_PUBLIC_EXPONENT, value: values.get(p.CKA_PUBLIC_EXPONENT) ?? Buffer.alloc(0) },
        { type: p.CKA_WRAP, value: true },
        { type: p.CKA_ENCRYPT, value: false },
        { type: p.CKA_VERIFY, value: false },
        { type: p.CKA_TRUSTED, value: true },
      ]),
    );
    const wrappingKey = trustedPublic;
    const wrapped = src.run("C_WrapKey", (m, s) =>
      m.C_WrapKey(s, OAEP, wrappingKey, kek, Buffer.alloc(1024)),
    );
    return dst.run("C_UnwrapKey", (m, s) =>
      m.C_UnwrapKey(s, OAEP, transport.privateKey, wrapped, shareableKekTemplate(id, true)),
    );
  } finally {
    const made = trustedPublic;
    if (made !== undefined) bestEffort(() => src.token.module.C_DestroyObject(src.handle, made));
    bestEffort(() => dst.token.module.C_DestroyObject(dst.handle, transport.privateKey));
    bestEffort(() => dst.token.module.C_DestroyObject(dst.handle, transport.publicKey));
  }
}

/**
 * Proves two KEKs are the same key without revealing either: a random session AES key wrapped under the
 * source KEK must unwrap under the destination KEK and wrap back to the very same bytes (AES key wrap is
 * deterministic). The probe is a session object in both tokens and is destroyed at once.
 */
function sameKek(src: Session, srcKek: Handle, dst: Session, dstKek: Handle): boolean {
  // What the KEK's unwrap template demands of anything unwrapped under it (MODIFIABLE false last, as SoftHSM
  // needs); a KEK made before unwrap templates accepts it too.
  const probeTemplate: Template = [
    { type: p.CKA_CLASS, value: p.CKO_SECRET_KEY },
    { type: p.CKA_KEY_TYPE, value: p.CKK_AES },
    { type: p.CKA_TOKEN, value: false },
    { type: p.CKA_PRIVATE, value: false },
    ...KEK_UNWRAP_TEMPLATE.filter((a) => a.type !== p.CKA_MODIFIABLE),
    { type: p.CKA_MODIFIABLE, value: false },
  ];
  const probe = src.run("C_GenerateKey", (m, s) =>
    m.C_GenerateKey(s, { mechanism: p.CKM_AES_KEY_GEN }, [
      { type: p.CKA_VALUE_LEN, value: 32 },
      ...probeTemplate,
    ]),
  );
  let copy: Handle | undefined;
  try {
    const there = src.run("C_WrapKey", (m, s) => m.C_WrapKey(s, WRAP_PAD, srcKek, probe, Buffer.alloc(256)));
    try {
      copy = dst.token.module.C_UnwrapKey(dst.handle, WRAP_PAD, dstKek, there, probeTemplate);
    } catch {
      // Another key: AES key wrap's integrity check fails.
      return false;
    }
    const unwrapped = copy;
    const back = dst.run("C_WrapKey", (m, s) =>
      m.C_WrapKey(s, WRAP_PAD, dstKek, unwrapped, Buffer.alloc(256)),
    );
    return back.equals(there);
  } finally {
    bestEffort(() => src.token.module.C_DestroyObject(src.handle, probe));
    const made = copy;
    if (made !== undefined) bestEffort(() => dst.token.module.C_DestroyObject(dst.handle, made));
  }
}

const asSo = (login: SoLogin) => ({ write: true, login: { role: "so" as const, pin: login.soPin } });

/**
 * Gives every replica token the source token's backup KEK, creating a shareable KEK on the source first if
 * it has none. Idempotent: a replica already holding the same KEK (same CKA_ID, proven the same key) is left
 * as it is. Refuses a replica holding a different KEK, and a source whose KEK was made never-extractable
 * (by ensureBackupKek) when a replica still needs it.
 * All tokens must be reachable from this one process; for SoftHSM that means one SOFTHSM2_CONF (one token
 * directory). The SO logs in on each token, so no user session may be open on them in this process.
 */
export async function shareBackupKek(options: {
  source: SoLogin;
  replicas: SoLogin[];
}): Promise<SharedBackupKek> {
  const { source, replicas } = options;
  const sourceLabel = source.target.tokenLabel;
  for (const replica of replicas) {
    if (replica.target.tokenLabel === sourceLabel && replica.target.library === source.target.library) {
      throw refuse(`Token '${sourceLabel}' is listed both as the source and as a replica.`);
    }
  }
  return withSession(openToken(source.target), asSo(source), async (src) => {
    let kek = onlyKek(src);
    const created = kek === undefined;
    if (kek === undefined) {
      const newId = randomBytes(16);
      kek = src.run("C_GenerateKey", (m, s) =>
        m.C_GenerateKey(s, { mechanism: p.CKM_AES_KEY_GEN }, shareableKekTemplate(newId, false)),
      );
    }
    const sourceKek = kek;
    const { id, shareable } = inspectKek(src, sourceKek);
    const result: SharedBackupKek = { id, created, cloned: [], present: [] };
    for (const replica of replicas) {
      const label = replica.target.tokenLabel;
      await withSession(openToken(replica.target), asSo(replica), (dst) => {
        const existing = onlyKek(dst);
        if (existing !== undefined) {
          const there = inspectKek(dst, existing);
          if (there.id !== id || !sameKek(src, sourceKek, dst, existing)) {
            throw refuse(
              `HSM token '${label}' holds a different backup KEK (id ${there.id}) from token '${sourceLabel}' (id ${id}); keys wrapped on one cannot be restored on the other. Re-initialise '${label}' and run the setup again.`,
            );
          }
          result.present.push(label);
          return;
        }
        if (!shareable) {
          throw refuse(
            `The backup KEK on HSM token '${sourceLabel}' was made never-extractable (single-token setup), so it cannot be shared with '${label}'. Create the tokens' KEK with shareBackupKek from the start, or rotate to a new KEK; a development install made before several tokens can stay on one token with KEYWARD_HSM_REPLICAS=0.`,
          );
        }
        const clone = transportKek(src, sourceKek, dst, Buffer.from(id, "hex"));
        inspectKek(dst, clone);
        if (!sameKek(src, sourceKek, dst, clone))
          throw refuse(`The KEK cloned into '${label}' does not match.`);
        result.cloned.push(label);
      });
    }
    return result;
  });
}

/** A token and its user's PIN: what the check before a ceremony logs in with. */
export type UserLogin = { target: HsmTarget; pin: string };

export type SharedKekState = {
  /** The source's KEK, or null when it has none (the ceremony must create it). */
  source: { id: string; unwrapTemplate: boolean } | null;
  /** Replicas already holding the source's KEK, proven the same key. */
  same: string[];
  /** Replicas that need the ceremony: no KEK yet, or one not proven the same (the ceremony says which). */
  needed: string[];
};

/** A user session that logs out at the end: the SO cannot log in on a token while the user is logged in. */
function asUserThenLogout<T>(login: UserLogin, work: (s: Session) => T | Promise<T>): Promise<T> {
  return withSession(
    openToken(login.target),
    { write: false, login: { role: "user", pin: login.pin } },
    async (s) => {
      try {
        return await work(s);
      } finally {
        bestEffort(() => s.run("C_Logout", (m, h) => m.C_Logout(h)));
      }
    },
  );
}

/**
 * What the KEK ceremony would find, seen with the user PINs only, so that a setup with nothing to do needs
 * no SO PIN (the officers keep those offline). A user can do the ceremony's proof of sameness (a session
 * AES key wrapped on one token, unwrapped on the other), but never create, copy or trust a KEK.
 */
export async function inspectSharedKek(options: {
  source: UserLogin;
  replicas: UserLogin[];
}): Promise<SharedKekState> {
  const { source, replicas } = options;
  return asUserThenLogout(source, async (src) => {
    const kek = onlyKek(src);
    if (kek === undefined)
      return { source: null, same: [], needed: replicas.map((r) => r.target.tokenLabel) };
    const { id } = inspectKek(src, kek);
    const state: SharedKekState = {
      source: { id, unwrapTemplate: hasKekUnwrapTemplate(readKekUnwrapTemplate(src, kek)) },
      same: [],
      needed: [],
    };
    for (const replica of replicas) {
      const label = replica.target.tokenLabel;
      const same = await asUserThenLogout(replica, (dst) => {
        const there = onlyKek(dst);
        return there !== undefined && inspectKek(dst, there).id === id && sameKek(src, kek, dst, there);
      });
      (same ? state.same : state.needed).push(label);
    }
    return state;
  });
}
