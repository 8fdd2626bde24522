// Which HSM tokens the configuration names, and where each one's PINs come from, by the same rules as
// server/env-hsm.ts, for the plain-Node setup that runs before anything is built (it cannot import
// TypeScript). server/env-hsm.test.ts checks that both read every configuration alike.
// It never puts a PIN in a message.

export const DEFAULT_LIBRARY = "/usr/lib/softhsm/libsofthsm2.so";
export const DEFAULT_TOKEN_LABEL = "keyward";
/**
 * SoftHSM replicas a new data folder gets when neither KEYWARD_HSM_TOKENS nor KEYWARD_HSM_REPLICAS is set:
 * one, so that signing fails over out of the box. It costs one token, one KEK transfer at the first start
 * (~1.5 s of RSA-3072 key generation) and a clone per new "wrapped-only" key; signing itself is unchanged.
 * An existing folder keeps the replicas it has (a folder made before several tokens may hold a KEK that
 * cannot be shared). The app finds them by the PINs recorded for them (server/env-hsm.ts, recordedReplicas).
 */
export const DEFAULT_REPLICAS = 1;

/** How many "<primary>-replica-<n>" tokens have PINs in the secrets file: as server/env-hsm.ts counts. */
export function recordedReplicas(primary, stored) {
  let n = 0;
  while (stored?.hsmTokens?.[`${primary}-replica-${n + 1}`] !== undefined) n++;
  return n;
}
const LABEL = /^\S(.{0,30}\S)?$/;
const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;
const ENTRY_KEYS = new Set(["label", "library", "pinEnv", "soPinEnv"]);

export class TokenConfigError extends Error {
  name = "TokenConfigError";
}

const set = (value) => (value === undefined || value === "" ? undefined : value);

function entriesOf(text) {
  const trimmed = text.trim();
  if (!trimmed.startsWith("[")) {
    return trimmed
      .split(",")
      .map((label) => label.trim())
      .filter(Boolean)
      .map((label) => ({ label }));
  }
  try {
    return JSON.parse(trimmed);
  } catch {
    throw new TokenConfigError("KEYWARD_HSM_TOKENS is not valid JSON");
  }
}

function checkEntry(entry, i) {
  const where = `KEYWARD_HSM_TOKENS entry ${i}`;
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
    throw new TokenConfigError(`${where} is not an object`);
  }
  for (const key of Object.keys(entry))
    if (!ENTRY_KEYS.has(key)) throw new TokenConfigError(`${where} has an unknown field ${key}`);
  if (typeof entry.label !== "string" || !LABEL.test(entry.label)) {
    throw new TokenConfigError(`${where}: a token label is 1 to 32 characters without outer spaces`);
  }
  if (entry.library !== undefined && (typeof entry.library !== "string" || entry.library === "")) {
    throw new TokenConfigError(`${where}: library must be a path`);
  }
  for (const field of ["pinEnv", "soPinEnv"]) {
    if (entry[field] !== undefined && (typeof entry[field] !== "string" || !ENV_NAME.test(entry[field]))) {
      throw new TokenConfigError(`${where}: ${field} must be an environment variable name`);
    }
  }
}

/**
 * The tokens setup prepares, primary first: `[{ label, library, pinEnv?, soPinEnv? }]`, read as
 * server/env-hsm.ts reads them. Without KEYWARD_HSM_REPLICAS: the replicas recorded in `stored` (the
 * existing secrets file), or DEFAULT_REPLICAS for a new folder (`stored` undefined).
 */
export function tokenSpecs(env, stored) {
  const library = set(env.KEYWARD_HSM_LIBRARY) ?? DEFAULT_LIBRARY;
  const primaryLabel = set(env.KEYWARD_HSM_TOKEN_LABEL);
  const list = set(env.KEYWARD_HSM_TOKENS);
  const replicasText = set(env.KEYWARD_HSM_REPLICAS);
  if (primaryLabel !== undefined && !LABEL.test(primaryLabel)) {
    throw new TokenConfigError(
      `Token label '${primaryLabel}' must be 1 to 32 characters without outer spaces`,
    );
  }
  let specs;
  if (list !== undefined) {
    if (replicasText !== undefined)
      throw new TokenConfigError("Set KEYWARD_HSM_TOKENS or KEYWARD_HSM_REPLICAS, not both");
    const entries = entriesOf(list);
    if (!Array.isArray(entries) || entries.length === 0)
      throw new TokenConfigError("KEYWARD_HSM_TOKENS lists no token");
    entries.forEach(checkEntry);
    specs = entries.map((e) => ({ ...e, library: e.library ?? library }));
    if (primaryLabel !== undefined && specs[0].label !== primaryLabel) {
      throw new TokenConfigError(
        `KEYWARD_HSM_TOKEN_LABEL ('${primaryLabel}') and the first token of KEYWARD_HSM_TOKENS ('${specs[0].label}') disagree on the primary`,
      );
    }
  } else {
    const primary = primaryLabel ?? DEFAULT_TOKEN_LABEL;
    let replicas = Number(replicasText);
    if (replicasText === undefined)
      replicas = stored === undefined ? DEFAULT_REPLICAS : recordedReplicas(primary, stored);
    if (!Number.isInteger(replicas) || replicas < 0 || replicas > 8) {
      throw new TokenConfigError("KEYWARD_HSM_REPLICAS must be a whole number from 0 to 8");
    }
    const labels = [primary, ...Array.from({ length: replicas }, (_, i) => `${primary}-replica-${i + 1}`)];
    for (const label of labels)
      if (label.length > 32)
        throw new TokenConfigError(`The replica label '${label}' is longer than 32 characters`);
    specs = labels.map((label) => ({ label, library }));
  }
  const labels = specs.map((s) => s.label);
  const twice = labels.find((label, i) => labels.indexOf(label) !== i);
  if (twice !== undefined) throw new TokenConfigError(`KEYWARD_HSM_TOKENS lists token '${twice}' twice`);
  return specs;
}

/**
 * A token's PIN by server/env-hsm.ts's order: its `pinEnv`/`soPinEnv` variable only, if it names one;
 * otherwise, for the primary, KEYWARD_HSM_PIN / KEYWARD_HSM_SO_PIN, then `hsmTokens[label]`, then
 * `hsmUserPin` / `hsmSoPin`; for a replica, `hsmTokens[label]`. Undefined when none is set.
 * SO PINs are in the file only in a folder made before they left the host (prepare-hsm.mjs removes them);
 * with `stored` undefined this gives the variables only.
 */
export function pinOf(role, spec, primary, env, stored) {
  const named = role === "user" ? spec.pinEnv : spec.soPinEnv;
  if (named !== undefined) return set(env[named]);
  const perToken = stored?.hsmTokens?.[spec.label]?.[role === "user" ? "userPin" : "soPin"];
  if (!primary) return perToken;
  const fromEnv = set(role === "user" ? env.KEYWARD_HSM_PIN : env.KEYWARD_HSM_SO_PIN);
  return fromEnv ?? perToken ?? stored?.[role === "user" ? "hsmUserPin" : "hsmSoPin"];
}

/** Tokens created with softhsm2-util here; any other library's tokens are made with their vendor's tools. */
export function isSoftHsm(library) {
  return /softhsm/i.test(library.split("/").pop() ?? "");
}
