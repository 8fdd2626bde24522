// The one place that reads process.env: validates configuration once and hands out a typed, frozen object.
// Never log the returned object whole: it carries the session secret and HSM PINs.
import "server-only";
import type { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { defaultAttestationRoots, loadAttestationRoots } from "./auth/attestation-roots";
import { type ChainConfig, parseChainConfig } from "./chains/config";
import { ConfigError } from "./config-error";
import {
  type HsmEnvVars,
  missingPin,
  pinSchema,
  resolvePin,
  type SignFrom,
  signFromSchema,
  type TokenSpec,
  tokenLabelSchema,
  tokenSpecs,
} from "./env-hsm";

export { ConfigError };

const AAGUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

const envSchema = z.object({
  KEYWARD_DATA_DIR: z.string().min(1).default("./data"),
  DATABASE_URL: z.string().url().optional(),
  KEYWARD_ORIGIN: z.string().url().default("http://localhost:3000"),
  KEYWARD_RP_ID: z.string().min(1).optional(),
  KEYWARD_RP_NAME: z.string().min(1).default("Keyward"),
  KEYWARD_AAGUID_ALLOWLIST: z
    .string()
    .default("")
    .transform((s) =>
      s
        .split(",")
        .map((a) => a.trim().toLowerCase())
        .filter(Boolean),
    )
    .pipe(
      z.array(z.string().regex(AAGUID, "each AAGUID must look like 01020304-0506-0708-0102-030405060708")),
    ),
  KEYWARD_ATTESTATION_ROOTS: z.string().min(1).optional(),
  KEYWARD_SESSION_IDLE_MINUTES: positiveInt(15),
  KEYWARD_SESSION_MAX_HOURS: positiveInt(8),
  KEYWARD_INVITATION_HOURS: positiveInt(72),
  KEYWARD_SETUP_CODE_MINUTES: positiveInt(15),
  KEYWARD_HSM_LIBRARY: z.string().min(1).default("/usr/lib/softhsm/libsofthsm2.so"),
  KEYWARD_HSM_TOKEN_LABEL: tokenLabelSchema.optional(),
  KEYWARD_HSM_TOKENS: z.string().optional(),
  KEYWARD_HSM_REPLICAS: z.coerce.number().int().min(0).max(8).optional(),
  KEYWARD_HSM_PIN: pinSchema.optional(),
  KEYWARD_HSM_SO_PIN: pinSchema.optional(),
  KEYWARD_HSM_POOL_SIZE: z.coerce.number().int().min(1).max(64).optional(),
  KEYWARD_HSM_TIMEOUT_MS: positiveInt(5000),
  KEYWARD_HSM_QUEUE_LIMIT: positiveInt(1024),
  KEYWARD_HSM_IN_FLIGHT: z.coerce.number().int().min(1).max(1024).optional(),
  KEYWARD_HSM_SIGN_FROM: signFromSchema.optional(),
  KEYWARD_TRUST_PROXY: z.coerce.number().int().min(0).max(5).default(0),
  KEYWARD_AUDIT_LOG_ORIGIN: z
    .string()
    .regex(/^[\x21-\x7e]{1,200}$/, "a log's origin is printable ASCII without spaces, up to 200 characters")
    .refine((o) => !o.includes("+"), "a log's origin has no '+' (it is also the checkpoint key's name)")
    .optional(),
  KEYWARD_CHECKPOINT_EVENTS: z.coerce.number().int().min(1).max(1_000_000).default(1_000),
  // Half a second by default: an event is in a signed checkpoint within a second of its commit (issue 15's
  // integration target); a checkpoint is signed only when the log has grown, and bundles carry a few of them.
  KEYWARD_CHECKPOINT_SECONDS: z.coerce.number().min(0.1).max(86_400).default(0.5),
  KEYWARD_RATE_LIMIT_PER_ADDRESS: positiveInt(30),
  KEYWARD_RATE_LIMIT_TOTAL: positiveInt(300),
  KEYWARD_RATE_LIMIT_STORE: z.enum(["memory", "postgres"]).optional(),
  AUTH_SECRET: z.string().min(32).optional(),
  SOFTHSM2_CONF: z.string().min(1).optional(),
  // Notifications (server/notify): e-mail only when an SMTP server is named; its password is never logged.
  KEYWARD_SMTP_URL: z
    .string()
    .url()
    .refine((u) => /^smtps?:$/.test(new URL(u).protocol), "use smtp://user:pass@host:port or smtps://…")
    .optional(),
  KEYWARD_MAIL_FROM: z.string().min(3).max(200).optional(),
});

/**
 * Secrets that `npm start` generates on first run into <data>/secrets.json (mode 0600). `hsmUserPin` and
 * `hsmSoPin` are the primary token's (as before several tokens); `hsmTokens` holds the other tokens' PINs
 * by label, and the primary's too if someone puts them there.
 */
const secretsFileSchema = z.object({
  authSecret: z.string().min(32),
  hsmUserPin: pinSchema,
  // Only in data folders made before the SO PIN left the host: scripts/prepare-hsm.mjs removes it.
  hsmSoPin: pinSchema.optional(),
  hsmTokens: z
    .record(z.string(), z.strictObject({ userPin: pinSchema.optional(), soPin: pinSchema.optional() }))
    .optional(),
});
type Secrets = z.infer<typeof secretsFileSchema>;

/** Where a token's PINs come from: named in messages, never the PINs themselves. */
export type PinSources = { user: string; so: string };

/**
 * One PKCS#11 token Keyward uses. The shape of server/hsm's HsmConfig, plus its role and PIN sources.
 * Every token of a set shares one SoftHSM configuration: a process can load only one.
 */
export type HsmTokenEnv = {
  library: string;
  tokenLabel: string;
  pin: string;
  softhsmConf: string;
  role: "primary" | "replica";
  pinSource: PinSources;
};

/** How the server runs its calls on each token: one HsmPool of worker threads per token (server/hsm/pool/pool.ts). */
export type HsmPoolEnv = {
  /** Worker threads (one session each) per token; undefined: one per CPU. */
  size: number | undefined;
  /** Deadline of one HSM call, queueing included. */
  timeoutMs: number;
  /** Calls that may wait for a free session before the HSM answers "busy". */
  queueLimit: number;
  /** Signatures in flight per token, apart from the threads (asynchronous C_Sign); undefined: one per thread. */
  inFlight: number | undefined;
  /** Where signatures start: auto (default), pool threads or the main thread's own sessions (env-hsm.ts). */
  signFrom: SignFrom | undefined;
};

/** The SMTP server notifications go through. `url` carries the password: show `display`, never `url`. */
export type SmtpEnv = { url: string; from: string; display: string };

/** The SMTP settings, or null without KEYWARD_SMTP_URL; `display` is the URL without its password. */
function smtpEnv(url: string | undefined, from: string | undefined, origin: string): SmtpEnv | null {
  if (url === undefined) return null;
  const shown = new URL(url);
  shown.password = "";
  return Object.freeze({
    url,
    from: from ?? `Keyward <keyward@${new URL(origin).hostname}>`,
    display: shown.toString(),
  });
}

export type Env = {
  dataDir: string;
  databaseUrl: string | undefined;
  origin: string;
  rpId: string;
  rpName: string;
  aaguidAllowList: readonly string[];
  /** Pinned attestation roots (KEYWARD_ATTESTATION_ROOTS); with an allow-list, a token's chain must reach one. */
  attestationRoots: readonly X509Certificate[];
  sessionIdleMs: number;
  sessionMaxMs: number;
  invitationMs: number;
  setupCodeMs: number;
  authSecret: string;
  /** Reverse proxies in front of Keyward whose X-Forwarded-For entry is believed (0: the socket address). */
  trustProxyHops: number;
  /** Requests per minute to each public endpoint, per client address and overall (server/edge/rate-limit.ts). */
  rateLimit: { perAddress: number; total: number; store: "memory" | "postgres" };
  /** E-mail notifications (KEYWARD_SMTP_URL, KEYWARD_MAIL_FROM); null: e-mail notifications are off. */
  smtp: SmtpEnv | null;
  /** The primary token itself (what a single-token install always had), plus every token, primary first. */
  hsm: HsmTokenEnv & { tokens: readonly HsmTokenEnv[]; pool: HsmPoolEnv };
  /** Networks, RPC endpoints, confirmations and the asset list (server/chains/config.ts, KEYWARD_BITCOIN_NETWORK…). */
  chains: ChainConfig;
  /**
   * The audit log's signed checkpoints (server/audit/checkpoints.ts): the log's origin (first line of every
   * checkpoint and the audit key's name), and how often a tree head is signed: after `everyEvents` new events,
   * or `everyMs` after the last checkpoint when the log has grown since.
   */
  audit: { origin: string; everyEvents: number; everyMs: number };
};

function attestationRoots(spec: string | undefined, allowList: boolean): readonly X509Certificate[] {
  let roots: X509Certificate[];
  try {
    roots = loadAttestationRoots(spec ?? defaultAttestationRoots());
  } catch (e) {
    throw new ConfigError(`KEYWARD_ATTESTATION_ROOTS: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (allowList && roots.length === 0) {
    throw new ConfigError(
      "KEYWARD_AAGUID_ALLOWLIST is set but KEYWARD_ATTESTATION_ROOTS names no certificate",
    );
  }
  return Object.freeze(roots);
}

export function secretsPath(dataDir: string): string {
  return path.join(dataDir, "secrets.json");
}

function readSecrets(dataDir: string): Secrets | undefined {
  let text: string;
  try {
    text = readFileSync(secretsPath(dataDir), "utf8");
  } catch {
    return undefined;
  }
  const malformed = () =>
    new ConfigError(`${secretsPath(dataDir)} is malformed; remove it and run npm start`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw malformed();
  }
  const parsed = secretsFileSchema.safeParse(json);
  if (!parsed.success) throw malformed();
  return parsed.data;
}

type Parsed = {
  e: z.infer<typeof envSchema>;
  present: Readonly<Record<string, string>>;
  dataDir: string;
  secrets: Secrets | undefined;
  specs: TokenSpec[];
};

function parseRaw(raw: Readonly<Record<string, string | undefined>>): Parsed {
  // An empty variable (FOO= in a shell or .env file) means "not set", not an empty value.
  const present: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw))
    if (value !== undefined && value !== "") present[name] = value;
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new ConfigError(`Invalid configuration: ${fields}`);
  }
  const e = parsed.data;
  // next-auth reads these from process.env itself and would take them over KEYWARD_ORIGIN.
  for (const name of ["AUTH_URL", "NEXTAUTH_URL", "AUTH_REDIRECT_PROXY_URL"]) {
    if (present[name] !== undefined) {
      throw new ConfigError(`${name} is not used by Keyward: unset it; KEYWARD_ORIGIN sets the sign-in URLs`);
    }
  }
  const dataDir = path.resolve(e.KEYWARD_DATA_DIR);
  const secrets = readSecrets(dataDir);
  return { e, present, dataDir, secrets, specs: tokenSpecs(e satisfies HsmEnvVars, secrets) };
}

/** Parses a raw environment (process.env by default). Exported for tests; the app uses `env()`. */
export function parseEnv(raw: Readonly<Record<string, string | undefined>>): Env {
  const { e, present, dataDir, secrets, specs } = parseRaw(raw);
  const file = secretsPath(dataDir);
  const authSecret = e.AUTH_SECRET ?? secrets?.authSecret;
  const softhsmConf = e.SOFTHSM2_CONF ?? path.join(dataDir, "softhsm2.conf");
  const context = { vars: e, raw: present, secrets, file };
  const tokens = specs.map((spec, index): HsmTokenEnv => {
    const user = resolvePin("user", spec, index === 0, context);
    if (user.value === undefined) {
      if (index === 0 && spec.pinEnv === undefined) {
        throw new ConfigError(
          `No session secret or HSM PIN: set AUTH_SECRET and KEYWARD_HSM_PIN, or run "npm start" once to create ${file}`,
        );
      }
      throw missingPin("user", spec, file);
    }
    return Object.freeze({
      library: spec.library,
      tokenLabel: spec.label,
      pin: user.value,
      softhsmConf,
      role: index === 0 ? "primary" : "replica",
      // The SO PIN itself stays out of env(): the running app never logs in as the security officer.
      pinSource: Object.freeze({
        user: user.source,
        so: resolvePin("so", spec, index === 0, context).source,
      }),
    });
  });
  const [primary] = tokens;
  if (!authSecret || primary === undefined) {
    throw new ConfigError(
      `No session secret or HSM PIN: set AUTH_SECRET and KEYWARD_HSM_PIN, or run "npm start" once to create ${file}`,
    );
  }
  return Object.freeze({
    dataDir,
    databaseUrl: e.DATABASE_URL,
    origin: new URL(e.KEYWARD_ORIGIN).origin,
    rpId: e.KEYWARD_RP_ID ?? new URL(e.KEYWARD_ORIGIN).hostname,
    rpName: e.KEYWARD_RP_NAME,
    aaguidAllowList: Object.freeze(e.KEYWARD_AAGUID_ALLOWLIST),
    attestationRoots: attestationRoots(e.KEYWARD_ATTESTATION_ROOTS, e.KEYWARD_AAGUID_ALLOWLIST.length > 0),
    sessionIdleMs: e.KEYWARD_SESSION_IDLE_MINUTES * 60_000,
    sessionMaxMs: e.KEYWARD_SESSION_MAX_HOURS * 3_600_000,
    invitationMs: e.KEYWARD_INVITATION_HOURS * 3_600_000,
    setupCodeMs: e.KEYWARD_SETUP_CODE_MINUTES * 60_000,
    authSecret,
    trustProxyHops: e.KEYWARD_TRUST_PROXY,
    rateLimit: Object.freeze({
      perAddress: e.KEYWARD_RATE_LIMIT_PER_ADDRESS,
      total: e.KEYWARD_RATE_LIMIT_TOTAL,
      // Several instances share one PostgreSQL database; one PGlite folder has one owner, so memory suffices.
      store: e.KEYWARD_RATE_LIMIT_STORE ?? (e.DATABASE_URL ? "postgres" : "memory"),
    }),
    smtp: smtpEnv(e.KEYWARD_SMTP_URL, e.KEYWARD_MAIL_FROM, e.KEYWARD_ORIGIN),
    chains: parseChainConfig(raw),
    audit: Object.freeze({
      // The C2SP checkpoint origin: a schema-less URL naming this log, by default the console's own host.
      origin: e.KEYWARD_AUDIT_LOG_ORIGIN ?? `${new URL(e.KEYWARD_ORIGIN).host}/audit`,
      everyEvents: e.KEYWARD_CHECKPOINT_EVENTS,
      everyMs: Math.round(e.KEYWARD_CHECKPOINT_SECONDS * 1000),
    }),
    hsm: Object.freeze({
      ...primary,
      tokens: Object.freeze(tokens),
      pool: Object.freeze({
        size: e.KEYWARD_HSM_POOL_SIZE,
        timeoutMs: e.KEYWARD_HSM_TIMEOUT_MS,
        queueLimit: e.KEYWARD_HSM_QUEUE_LIMIT,
        inFlight: e.KEYWARD_HSM_IN_FLIGHT,
        signFrom: e.KEYWARD_HSM_SIGN_FROM,
      }),
    }),
  });
}

/**
 * The security officers' PINs by token label, for the setup ceremony only (scripts/hsm-setup.ts). They are
 * not part of env(): the running app never logs in as SO, so the ceremony reads them, uses them and drops
 * them. Same sources and order as the user PINs (KEYWARD_HSM_SO_PIN, soPinEnv, secrets.json).
 */
export function hsmSoPins(
  raw: Readonly<Record<string, string | undefined>> = process.env,
  options: { missing: "throw" | "skip" } = { missing: "throw" },
): ReadonlyMap<string, string> {
  const { e, present, dataDir, secrets, specs } = parseRaw(raw);
  const file = secretsPath(dataDir);
  const context = { vars: e, raw: present, secrets, file };
  // "skip": tokens without one are left out, and the ceremony asks the officers when it needs them.
  return new Map(
    specs.flatMap((spec, index): [string, string][] => {
      const so = resolvePin("so", spec, index === 0, context);
      if (so.value !== undefined) return [[spec.label, so.value]];
      if (options.missing === "skip") return [];
      throw missingPin("so", spec, file);
    }),
  );
}

let cached: Env | undefined;

/** The validated configuration, read once. Call it at request or boot time, never at module top level. */
export function env(): Env {
  cached ??= parseEnv(process.env);
  return cached;
}
