// The process's one door to the PKCS#11 library: loads it once, initialises it with OS locking, finds the
// token by label and runs work inside a session. It must never log a PIN or return key material.
import "server-only";
import pkcs11js from "pkcs11js";
import type { PKCS11, Template } from "pkcs11js";
import type { Curve } from "../keys/curves";
import { ckrOf, HsmError, type HsmErrorContext, hsmMessage, toHsmError } from "./errors";

/**
 * Where the token lives. `softhsmConf` is SoftHSM's own config file; other libraries ignore it.
 * `pinSource` says where this token's PINs are configured, so a refused PIN names the right setting.
 */
export type HsmTarget = {
  library: string;
  tokenLabel: string;
  softhsmConf?: string;
  pinSource?: { user: string; so: string };
};
/** A target plus the user PIN; `env().hsm` has this shape. */
export type HsmConfig = HsmTarget & { pin: string };
export type Role = "user" | "so";
export type Handle = Buffer;
export type { Template };

/** Mechanism numbers from PKCS#11 3.0; pkcs11js 2.1.7 has no constants for the Edwards ones. */
export const MECHANISM = {
  ecKeyPairGen: 0x1040,
  ecdsa: 0x1041,
  edwardsKeyPairGen: 0x1055,
  eddsa: 0x1057,
} as const;

/** CKK_EC_EDWARDS (PKCS#11 3.0), also missing from pkcs11js 2.1.7. */
export const CKK_EC_EDWARDS = 0x40;

const CKR_CRYPTOKI_ALREADY_INITIALIZED = 0x191;
const CKR_USER_ALREADY_LOGGED_IN = 0x100;

type Loaded = { module: PKCS11; softhsmConf: string | undefined };

// Kept on globalThis so a dev-mode module reload reuses the initialised library instead of loading it again.
const holder = globalThis as typeof globalThis & { __keywardPkcs11?: Map<string, Loaded> };

function loadedModules(): Map<string, Loaded> {
  holder.__keywardPkcs11 ??= new Map();
  return holder.__keywardPkcs11;
}

function contextOf(target: HsmTarget, operation: string, role?: Role): HsmErrorContext {
  return {
    operation,
    tokenLabel: target.tokenLabel,
    library: target.library,
    softhsmConf: target.softhsmConf,
    role,
    pinSource: target.pinSource,
  };
}

/** Runs one PKCS#11 call and turns whatever it throws into an HsmError. */
export function guard<T>(ctx: HsmErrorContext, call: () => T): T {
  try {
    return call();
  } catch (e) {
    throw toHsmError(e, ctx);
  }
}

function bestEffort(call: () => void): void {
  try {
    call();
  } catch {
    // Cleanup after the real work: its failure must not hide the work's own result or error.
  }
}

/** Loads and initialises a library once per process; later calls reuse it. */
function loadModule(target: HsmTarget): PKCS11 {
  const loaded = loadedModules().get(target.library);
  if (loaded) {
    if (target.softhsmConf !== undefined && loaded.softhsmConf !== target.softhsmConf) {
      // SoftHSM reads its config once, in C_Initialize, from the process environment.
      throw new HsmError(
        "misconfigured",
        `This process already opened ${target.library} with ${loaded.softhsmConf ?? "the default SoftHSM configuration"}; restart to use ${target.softhsmConf}.`,
        { operation: "C_Initialize" },
      );
    }
    return loaded.module;
  }
  const module = new pkcs11js.PKCS11();
  guard(contextOf(target, "load"), () => module.load(target.library));
  // SoftHSM takes its token directory from SOFTHSM2_CONF, read by the C library during C_Initialize, so
  // the only way to point it at the data folder is the process environment. This is a write, not a read:
  // configuration itself still comes from server/env.ts.
  if (target.softhsmConf !== undefined) process.env.SOFTHSM2_CONF = target.softhsmConf;
  try {
    // Without CKF_OS_LOCKING_OK concurrent sessions crashed the process (STACK.md).
    module.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  } catch (e) {
    // Another copy of this module (a worker, a reloaded bundle) initialised the library first: fine.
    if (ckrOf(e)?.code !== CKR_CRYPTOKI_ALREADY_INITIALIZED) {
      bestEffort(() => module.close());
      throw toHsmError(e, contextOf(target, "C_Initialize"));
    }
  }
  loadedModules().set(target.library, { module, softhsmConf: target.softhsmConf });
  return module;
}

export type TokenDescription = { label: string; serial: string; manufacturer: string; model: string };

export type Token = {
  readonly module: PKCS11;
  readonly slot: Handle;
  readonly target: HsmTarget;
  readonly description: TokenDescription;
};

/** Finds the initialised token with the configured label. Slot ids are not stable (SoftHSM picks them). */
export function openToken(target: HsmTarget): Token {
  const module = loadModule(target);
  const slots = guard(contextOf(target, "C_GetSlotList"), () => module.C_GetSlotList(true));
  // A slot whose token stopped answering (measured: SoftHSM gives CKR_GENERAL_ERROR for a token whose
  // folder was removed) must not make every other token of the library unreachable, so it is skipped.
  const silent: HsmError[] = [];
  const matches = slots.flatMap((slot) => {
    try {
      const info = guard(contextOf(target, "C_GetTokenInfo"), () => module.C_GetTokenInfo(slot));
      const wanted =
        (info.flags & pkcs11js.CKF_TOKEN_INITIALIZED) !== 0 && info.label.trimEnd() === target.tokenLabel;
      return wanted ? [{ slot, info }] : [];
    } catch (e) {
      silent.push(toHsmError(e, contextOf(target, "C_GetTokenInfo")));
      return [];
    }
  });
  const [match, ...others] = matches;
  if (match === undefined && silent.length > 0) {
    // The token asked for may be the one that stopped answering: a device failure, not a setup mistake.
    throw new HsmError(
      "device-failed",
      `HSM token '${target.tokenLabel}' was not found, and ${silent.length} slot(s) of ${target.library} did not answer (${silent[0]?.detail.ckr ?? "no CKR"}); the token may have failed or been removed. Retry on another HSM or check the device.`,
      { operation: "C_GetTokenInfo", ckr: silent[0]?.detail.ckr, ckrCode: silent[0]?.detail.ckrCode },
    );
  }
  if (match === undefined) {
    throw new HsmError("token-missing", hsmMessage("token-missing", contextOf(target, "C_GetTokenInfo")), {
      operation: "C_GetTokenInfo",
    });
  }
  if (others.length > 0) {
    throw new HsmError(
      "token-ambiguous",
      hsmMessage("token-ambiguous", contextOf(target, "C_GetTokenInfo")),
      {
        operation: "C_GetTokenInfo",
      },
    );
  }
  // PKCS#11 pads these fixed-width fields with spaces.
  return {
    module,
    slot: match.slot,
    target,
    description: {
      label: match.info.label.trimEnd(),
      serial: match.info.serialNumber.trimEnd(),
      manufacturer: match.info.manufacturerID.trimEnd(),
      model: match.info.model.trimEnd(),
    },
  };
}

/** What the PKCS#11 library says of itself (C_GetInfo), e.g. SoftHSM's "SoftHSM", "Implementation of PKCS11", "2.6". */
export type LibraryDescription = { manufacturer: string; description: string; version: string };

/** C_GetInfo of the token's library (no session needed), with its padding trimmed. */
export function libraryOf(token: Token): LibraryDescription {
  const info = guard(contextOf(token.target, "C_GetInfo"), () => token.module.C_GetInfo());
  return {
    manufacturer: info.manufacturerID.trimEnd(),
    description: info.libraryDescription.trimEnd(),
    version: `${info.libraryVersion.major}.${info.libraryVersion.minor}`,
  };
}

/** The mechanisms the token's slot offers. */
export function mechanismsOf(token: Token): ReadonlySet<number> {
  return new Set(
    guard(contextOf(token.target, "C_GetMechanismList"), () => token.module.C_GetMechanismList(token.slot)),
  );
}

/** A private key this session already looked up: its object handle and its curve. */
export type CachedKey = { handle: Handle; curve: Curve };

/** One open session. Its methods wrap errors; it never hands out attribute values it was not asked for. */
export class Session {
  /**
   * Private-key handles by key reference, filled by the key operations (keys.ts). SoftHSM's file store
   * makes C_FindObjects cost tens of microseconds per object on the token, so with thousands of keys a
   * lookup per signature would cost more than the signature. The cache lives and dies with the session;
   * a handle that went stale (key destroyed elsewhere) is dropped and looked up again.
   */
  readonly keys = new Map<string, CachedKey>();

  constructor(
    readonly token: Token,
    readonly handle: Handle,
    readonly role: Role | undefined,
  ) {}

  /** Runs one PKCS#11 call on this session with errors mapped to HsmError; `about` adds to the message. */
  run<T>(
    operation: string,
    call: (module: PKCS11, session: Handle) => T,
    about?: Pick<HsmErrorContext, "key" | "mechanism">,
  ): T {
    // The error context is built only when something fails: this runs twice per signature.
    try {
      return call(this.token.module, this.handle);
    } catch (e) {
      throw toHsmError(e, { ...contextOf(this.token.target, operation, this.role), ...about });
    }
  }

  /** Handles of every object matching the template that this session may see. */
  find(template: Template): Handle[] {
    const found: Handle[] = [];
    this.run("C_FindObjectsInit", (m, s) => m.C_FindObjectsInit(s, template));
    try {
      for (;;) {
        const batch = this.run("C_FindObjects", (m, s) => m.C_FindObjects(s, 512));
        found.push(...batch);
        if (batch.length < 512) return found;
      }
    } finally {
      bestEffort(() => this.token.module.C_FindObjectsFinal(this.handle));
    }
  }

  /** Raw attribute values by type. Asking for a sensitive value throws HsmError "refused". */
  attributes(object: Handle, types: readonly number[]): Map<number, Buffer> {
    const result = this.run("C_GetAttributeValue", (m, s) =>
      m.C_GetAttributeValue(
        s,
        object,
        types.map((type) => ({ type })),
      ),
    );
    return new Map(result.map((a) => [a.type, a.value]));
  }
}

/** A CK_BBOOL attribute as read by `Session.attributes`; absent counts as false. */
export function flag(values: Map<number, Buffer>, type: number): boolean {
  return values.get(type)?.[0] === 1;
}

export type SessionOptions = { write: boolean; login?: { role: Role; pin: string } };

/** A session that stays open until closed: what a worker or a direct executor keeps for its whole life. */
export type OpenSession = { session: Session; close: () => void };

/**
 * Opens a long-lived session, logged in as the user. Its key-handle cache survives between operations.
 * Only user sessions: the security officer's work goes through withSession, which always logs out.
 */
export function openSession(token: Token, options: { write: boolean; pin: string }): OpenSession {
  const flags = pkcs11js.CKF_SERIAL_SESSION | (options.write ? pkcs11js.CKF_RW_SESSION : 0);
  const handle = guard(contextOf(token.target, "C_OpenSession", "user"), () =>
    token.module.C_OpenSession(token.slot, flags),
  );
  try {
    token.module.C_Login(handle, pkcs11js.CKU_USER, options.pin);
  } catch (e) {
    if (ckrOf(e)?.code !== CKR_USER_ALREADY_LOGGED_IN) {
      bestEffort(() => token.module.C_CloseSession(handle));
      throw toHsmError(e, contextOf(token.target, "C_Login", "user"));
    }
  }
  return {
    session: new Session(token, handle, "user"),
    close: () => bestEffort(() => token.module.C_CloseSession(handle)),
  };
}

/**
 * Opens a long-lived read-only session without logging in: it is a user session only if the user is
 * already logged in on the token (PKCS#11 logins are per token). For the pool's extra signing sessions,
 * which must never try a PIN on their own.
 */
export function openPublicSession(token: Token): OpenSession {
  const handle = guard(contextOf(token.target, "C_OpenSession", "user"), () =>
    token.module.C_OpenSession(token.slot, pkcs11js.CKF_SERIAL_SESSION),
  );
  return {
    session: new Session(token, handle, "user"),
    close: () => bestEffort(() => token.module.C_CloseSession(handle)),
  };
}

/**
 * Opens a session, logs in if asked, runs the work and closes the session whatever happens.
 * A user login is process-wide state shared with every other session on the token (PKCS#11 login is per
 * token, not per session), so it is never logged out here; the security officer always is.
 */
export async function withSession<T>(
  token: Token,
  options: SessionOptions,
  work: (session: Session) => T | Promise<T>,
): Promise<T> {
  const role = options.login?.role;
  const flags = pkcs11js.CKF_SERIAL_SESSION | (options.write ? pkcs11js.CKF_RW_SESSION : 0);
  const handle = guard(contextOf(token.target, "C_OpenSession", role), () =>
    token.module.C_OpenSession(token.slot, flags),
  );
  let loggedInAsSo = false;
  try {
    if (options.login) {
      const { pin } = options.login;
      const userType = role === "so" ? pkcs11js.CKU_SO : pkcs11js.CKU_USER;
      try {
        token.module.C_Login(handle, userType, pin);
      } catch (e) {
        // Already logged in as this role by another session of this process: the login state is shared.
        if (ckrOf(e)?.code !== CKR_USER_ALREADY_LOGGED_IN)
          throw toHsmError(e, contextOf(token.target, "C_Login", role));
      }
      loggedInAsSo = role === "so";
    }
    return await work(new Session(token, handle, role));
  } finally {
    if (loggedInAsSo) bestEffort(() => token.module.C_Logout(handle));
    bestEffort(() => token.module.C_CloseSession(handle));
  }
}

/** The PKCS#11 libraries this thread has loaded (tests check that the server's main thread loads none). */
export function loadedLibraries(): string[] {
  return [...loadedModules().keys()];
}

/** Finalises every loaded library: for shutdown and the end of a test file. */
export function closeHsm(): void {
  for (const { module } of loadedModules().values()) {
    bestEffort(() => module.C_Finalize());
    bestEffort(() => module.close());
  }
  loadedModules().clear();
}
