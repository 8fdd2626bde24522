// The HSM part of the configuration: which PKCS#11 tokens Keyward uses (the first is the primary), which
// library each is reached through, and where each token's PINs come from. Pure: server/env.ts hands in the
// parsed environment and the secrets file, so nothing here reads process.env. It never puts a PIN in a
// message.
import { z } from "zod";
import { ConfigError } from "./config-error";

/** SoftHSM takes PINs of 4 to 255 characters. */
export const pinSchema = z.string().min(4).max(255);
/** PKCS#11 token labels are 32 bytes padded with spaces, so a label has no outer spaces. */
export const tokenLabelSchema = z
  .string()
  .regex(/^\S(.{0,30}\S)?$/, "a token label is 1 to 32 characters without outer spaces");
const envName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, "an environment variable name such as HSM_B_PIN");
const tokenEntry = z.strictObject({
  label: tokenLabelSchema,
  library: z.string().min(1).optional(),
  pinEnv: envName.optional(),
  soPinEnv: envName.optional(),
});

export const DEFAULT_TOKEN_LABEL = "keyward";

/** The HSM variables of the environment, as server/env.ts parsed them. */
export type HsmEnvVars = {
  KEYWARD_HSM_LIBRARY: string;
  KEYWARD_HSM_TOKEN_LABEL?: string;
  KEYWARD_HSM_TOKENS?: string;
  KEYWARD_HSM_REPLICAS?: number;
  KEYWARD_HSM_PIN?: string;
  KEYWARD_HSM_SO_PIN?: string;
};

/** The HSM fields of <data>/secrets.json (see env.ts for the whole file). */
export type HsmSecrets = {
  hsmUserPin: string;
  hsmSoPin?: string;
  hsmTokens?: Record<string, { userPin?: string; soPin?: string }>;
};

export type TokenSpec = { label: string; library: string; pinEnv?: string; soPinEnv?: string };

function parseTokenList(text: string): z.infer<typeof tokenEntry>[] {
  const trimmed = text.trim();
  let entries: unknown;
  if (trimmed.startsWith("[")) {
    try {
      entries = JSON.parse(trimmed);
    } catch {
      throw new ConfigError(
        'KEYWARD_HSM_TOKENS is not valid JSON; write [{"label":"keyward"},{"label":"keyward-b","pinEnv":"HSM_B_PIN"}] or a comma-separated list of labels',
      );
    }
  } else {
    entries = trimmed
      .split(",")
      .map((label) => label.trim())
      .filter(Boolean)
      .map((label) => ({ label }));
  }
  const parsed = z.array(tokenEntry).min(1, "list at least one token").safeParse(entries);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((i) => [i.path.join("."), i.message].filter(Boolean).join(": "));
    throw new ConfigError(`Invalid configuration: KEYWARD_HSM_TOKENS: ${fields.join("; ")}`);
  }
  return parsed.data;
}

/**
 * How many "<primary>-replica-<n>" tokens setup made, counted from the PINs it recorded for them in
 * secrets.json (n = 1, 2, … while an entry exists). `npm start` makes one by default (scripts/hsm-tokens.mjs),
 * so signing fails over out of the box; a configuration without that file (everything in the environment,
 * as before several tokens) or a data folder made before then keeps its single token.
 */
export function recordedReplicas(primary: string, secrets: HsmSecrets | undefined): number {
  let n = 0;
  while (secrets?.hsmTokens?.[`${primary}-replica-${n + 1}`] !== undefined) n++;
  return n;
}

/**
 * The configured tokens, primary first. KEYWARD_HSM_TOKENS lists them all (JSON entries
 * `{ label, library?, pinEnv?, soPinEnv? }`, or just labels separated by commas); otherwise the primary
 * is KEYWARD_HSM_TOKEN_LABEL ("keyward") followed by KEYWARD_HSM_REPLICAS SoftHSM replicas named
 * "<primary>-replica-<n>" (by default those setup made: see recordedReplicas). Labels must be unique: the
 * token set and the status page name tokens by them.
 */
export function tokenSpecs(e: HsmEnvVars, secrets?: HsmSecrets): TokenSpec[] {
  let specs: TokenSpec[];
  if (e.KEYWARD_HSM_TOKENS !== undefined) {
    if (e.KEYWARD_HSM_REPLICAS !== undefined) {
      throw new ConfigError(
        "Set KEYWARD_HSM_TOKENS or KEYWARD_HSM_REPLICAS, not both: KEYWARD_HSM_TOKENS already lists every token",
      );
    }
    specs = parseTokenList(e.KEYWARD_HSM_TOKENS).map((t) => ({
      ...t,
      library: t.library ?? e.KEYWARD_HSM_LIBRARY,
    }));
    const first = specs[0]?.label;
    if (e.KEYWARD_HSM_TOKEN_LABEL !== undefined && first !== e.KEYWARD_HSM_TOKEN_LABEL) {
      throw new ConfigError(
        `KEYWARD_HSM_TOKEN_LABEL ('${e.KEYWARD_HSM_TOKEN_LABEL}') and the first token of KEYWARD_HSM_TOKENS ('${first}') disagree on the primary; the first token listed is the primary, so drop one of them`,
      );
    }
  } else {
    const primary = e.KEYWARD_HSM_TOKEN_LABEL ?? DEFAULT_TOKEN_LABEL;
    const count = e.KEYWARD_HSM_REPLICAS ?? recordedReplicas(primary, secrets);
    const replicas = Array.from({ length: count }, (_, i) => {
      const label = `${primary}-replica-${i + 1}`;
      if (label.length > 32) {
        throw new ConfigError(
          `The replica label '${label}' is longer than 32 characters; shorten KEYWARD_HSM_TOKEN_LABEL or name every token in KEYWARD_HSM_TOKENS`,
        );
      }
      return label;
    });
    specs = [primary, ...replicas].map((label) => ({ label, library: e.KEYWARD_HSM_LIBRARY }));
  }
  const seen = new Set<string>();
  for (const { label } of specs) {
    if (seen.has(label))
      throw new ConfigError(`KEYWARD_HSM_TOKENS lists token '${label}' twice; labels must be unique`);
    seen.add(label);
  }
  return specs;
}

type Role = "user" | "so";
const ROLE = {
  user: { who: "user", env: "KEYWARD_HSM_PIN", primaryField: "hsmUserPin", tokenField: "userPin" },
  so: { who: "security officer", env: "KEYWARD_HSM_SO_PIN", primaryField: "hsmSoPin", tokenField: "soPin" },
} as const;

export type ResolvedPin = { value: string | undefined; source: string };

/**
 * A token's PIN and where it came from. A token whose entry names `pinEnv`/`soPinEnv` takes the PIN from
 * that variable only. Otherwise the primary takes KEYWARD_HSM_PIN / KEYWARD_HSM_SO_PIN, then
 * `hsmTokens[label]`, then `hsmUserPin` / `hsmSoPin` of the secrets file (the single-token format); a
 * replica takes `hsmTokens[label]`. The environment wins over the file, as for every other secret.
 */
export function resolvePin(
  role: Role,
  spec: TokenSpec,
  primary: boolean,
  context: { vars: HsmEnvVars; raw: Readonly<Record<string, string>>; secrets?: HsmSecrets; file: string },
): ResolvedPin {
  const r = ROLE[role];
  const named = role === "user" ? spec.pinEnv : spec.soPinEnv;
  if (named !== undefined) {
    const value = context.raw[named];
    if (value !== undefined && !pinSchema.safeParse(value).success) {
      throw new ConfigError(
        `${named} (the ${r.who} PIN of HSM token '${spec.label}') must be 4 to 255 characters`,
      );
    }
    return { value, source: named };
  }
  const inFile = `hsmTokens["${spec.label}"].${r.tokenField} in ${context.file}`;
  const perToken = context.secrets?.hsmTokens?.[spec.label]?.[r.tokenField];
  if (!primary) return { value: perToken, source: inFile };
  const fromEnv = role === "user" ? context.vars.KEYWARD_HSM_PIN : context.vars.KEYWARD_HSM_SO_PIN;
  return {
    value: fromEnv ?? perToken ?? context.secrets?.[r.primaryField],
    source: `${r.env} or ${r.primaryField} in ${context.file}`,
  };
}

/** The error for a token without a PIN: the variable or file entry that would hold it. */
export function missingPin(role: Role, spec: TokenSpec, file: string): ConfigError {
  const r = ROLE[role];
  const named = role === "user" ? spec.pinEnv : spec.soPinEnv;
  if (named !== undefined) {
    return new ConfigError(
      `${named} is not set: it holds the ${r.who} PIN of HSM token '${spec.label}' (named in KEYWARD_HSM_TOKENS)`,
    );
  }
  return new ConfigError(
    `No ${r.who} PIN for HSM token '${spec.label}': run "npm start" once to add it to ${file} (hsmTokens["${spec.label}"].${r.tokenField}), or name a variable for it with ${role === "user" ? "pinEnv" : "soPinEnv"} in KEYWARD_HSM_TOKENS`,
  );
}

/**
 * How each token's HsmPool signs (server/hsm/pool/pool.ts, server/hsm/README.md "The worker pool"):
 * - `KEYWARD_HSM_POOL_SIZE`: worker threads per token (default one per CPU).
 * - `KEYWARD_HSM_IN_FLIGHT`: signatures in flight per token, apart from the threads (1–1024; default one
 *   per thread). For a network HSM about rate × latency: 30 for 1,000 signatures/s at 30 ms a call.
 * - `KEYWARD_HSM_SIGN_FROM` (`auto` | `threads` | `main`, default `auto`): where those signatures start. `main`:
 *   the main thread keeps `KEYWARD_HSM_IN_FLIGHT` sessions and signs on them with asynchronous C_Sign, no
 *   message to a thread per signature — the faster path on a local HSM (bench/README.md), but C_SignInit
 *   runs on the event loop, so not for an HSM whose C_SignInit is a network round trip. `auto`: `main` for
 *   a library that reports itself as one signing in this process (SoftHSM; server/hsm/pool/sign-from.ts),
 *   `threads` for any other; the boot log says which and why.
 * - `UV_THREADPOOL_SIZE` (Node's own, default 4): libuv's pool runs every asynchronous C_Sign of the
 *   process; for a network HSM at least the calls in flight of all tokens. It must be in the environment
 *   before Node starts (`UV_THREADPOOL_SIZE=32 npm start`): libuv reads it once, at its pool's first use,
 *   which Next's and tsx's loaders make before any application code runs.
 */
export const SIGN_FROM_VARIABLE = "KEYWARD_HSM_SIGN_FROM";
export const signFromSchema = z.enum(["auto", "threads", "main"]);
export type SignFrom = z.infer<typeof signFromSchema>;

/** KEYWARD_HSM_SIGN_FROM read from the environment: undefined when unset, refused with its name otherwise. */
export function hsmSignFrom(raw: Readonly<Record<string, string | undefined>>): SignFrom | undefined {
  const value = raw[SIGN_FROM_VARIABLE];
  if (value === undefined || value === "") return undefined;
  const parsed = signFromSchema.safeParse(value);
  if (!parsed.success) {
    throw new ConfigError(`${SIGN_FROM_VARIABLE} must be "auto", "threads" or "main"; got '${value}'`);
  }
  return parsed.data;
}
