// The HSM's health for the status page: which token, how many objects, whether the backup KEK and the
// signing mechanisms are there. It never throws for a sick HSM: the error is part of the answer.
import "server-only";
import { env } from "../../env";
import { HsmError, type HsmErrorKind, type HsmErrorReason, hsmMessage, toHsmError } from "../pkcs11/errors";
import { type HsmConfig, openToken, type TokenDescription, withSession } from "../pkcs11/pkcs11";
import { checkToken, type HsmMechanisms, mechanismSummary, type TokenCheck } from "./token-check";

export type { HsmMechanisms };

export type HsmHealth = {
  /** True only when the token answers, the PIN works, every mechanism below is there and so is the KEK. */
  ok: boolean;
  library: string;
  token: TokenDescription | null;
  /** Objects the user can see, and the backup KEK (its id is the same on every token sharing it). */
  objects: { total: number; kek: { id: string; shareable: boolean } | null } | null;
  mechanisms: HsmMechanisms | null;
  error?: { code: HsmErrorReason; kind: HsmErrorKind; message: string };
};

/** The health a check shows: ok only with every mechanism Keyward needs and the backup KEK present. */
export function healthFrom(config: Pick<HsmConfig, "library" | "tokenLabel">, check: TokenCheck): HsmHealth {
  const health: HsmHealth = { ok: false, library: config.library, ...check };
  const context = { operation: "health", tokenLabel: config.tokenLabel, library: config.library };
  let missing: "mechanism-unsupported" | "kek-missing" | undefined;
  if (!Object.values(check.mechanisms).every(Boolean)) missing = "mechanism-unsupported";
  else if (check.objects.kek === null) missing = "kek-missing";
  if (missing === undefined) return { ...health, ok: true };
  const error = new HsmError(missing, hsmMessage(missing, context), { operation: "health" });
  return { ...health, error: healthError(error, config) };
}

/** An error as the health of a token shows it. */
export function healthError(e: unknown, config: Partial<HsmConfig>): NonNullable<HsmHealth["error"]> {
  const err =
    e instanceof HsmError
      ? e
      : toHsmError(e, { operation: "health", tokenLabel: config.tokenLabel, library: config.library });
  return { code: err.reason, kind: err.kind, message: err.message };
}

/**
 * Checks the token as the user: opens a read-only session, logs in with the user PIN, counts the objects
 * it can see and looks for the trusted backup KEK. `config` defaults to the validated environment (the
 * primary token); tests pass a temporary token. `login: false` stops after the token's description and
 * mechanisms, for a token already known to refuse its PIN: real HSMs lock a PIN tried again and again.
 */
export async function hsmHealth(config?: HsmConfig, options: { login?: boolean } = {}): Promise<HsmHealth> {
  let resolved: HsmConfig;
  try {
    resolved = config ?? env().hsm;
  } catch (e) {
    // A missing PIN or data folder is a setup problem the status page should show, not a crash.
    const message = e instanceof Error ? e.message : String(e);
    return {
      ok: false,
      library: config?.library ?? "",
      token: null,
      objects: null,
      mechanisms: null,
      error: { code: "misconfigured", kind: "configuration", message },
    };
  }
  const health: HsmHealth = {
    ok: false,
    library: resolved.library,
    token: null,
    objects: null,
    mechanisms: null,
  };
  try {
    const token = openToken(resolved);
    health.token = token.description;
    health.mechanisms = mechanismSummary(token);
    if (options.login === false) return health;
    const check = await withSession(
      token,
      { write: false, login: { role: "user", pin: resolved.pin } },
      checkToken,
    );
    return healthFrom(resolved, check);
  } catch (e) {
    health.error = healthError(e, resolved);
  }
  return health;
}
