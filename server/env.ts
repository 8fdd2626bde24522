// The one place that reads process.env: validates configuration once and hands out a typed, frozen object.
// Never log the returned object whole: it carries the session secret and HSM PINs.
import "server-only";
import { readFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";

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
    .pipe(z.array(z.string().regex(AAGUID, "each AAGUID must look like 01020304-0506-0708-0102-030405060708"))),
  KEYWARD_SESSION_IDLE_MINUTES: positiveInt(15),
  KEYWARD_SESSION_MAX_HOURS: positiveInt(8),
  KEYWARD_INVITATION_HOURS: positiveInt(72),
  KEYWARD_SETUP_CODE_MINUTES: positiveInt(15),
  KEYWARD_HSM_LIBRARY: z.string().min(1).default("/usr/lib/softhsm/libsofthsm2.so"),
  KEYWARD_HSM_TOKEN_LABEL: z.string().min(1).max(32).default("keyward"),
  KEYWARD_HSM_PIN: z.string().min(4).optional(),
  AUTH_SECRET: z.string().min(32).optional(),
  SOFTHSM2_CONF: z.string().min(1).optional(),
});

/** Secrets that `npm start` generates on first run into <data>/secrets.json (mode 0600). */
const secretsFileSchema = z.object({
  authSecret: z.string().min(32),
  hsmUserPin: z.string().min(4),
  hsmSoPin: z.string().min(4),
});

export type Env = {
  dataDir: string;
  databaseUrl: string | undefined;
  origin: string;
  rpId: string;
  rpName: string;
  aaguidAllowList: readonly string[];
  sessionIdleMs: number;
  sessionMaxMs: number;
  invitationMs: number;
  setupCodeMs: number;
  authSecret: string;
  hsm: { library: string; tokenLabel: string; pin: string; softhsmConf: string };
};

export class ConfigError extends Error {
  override name = "ConfigError";
}

export function secretsPath(dataDir: string): string {
  return path.join(dataDir, "secrets.json");
}

function readSecrets(dataDir: string): z.infer<typeof secretsFileSchema> | undefined {
  let text: string;
  try {
    text = readFileSync(secretsPath(dataDir), "utf8");
  } catch {
    return undefined;
  }
  const malformed = () => new ConfigError(`${secretsPath(dataDir)} is malformed; remove it and run npm start`);
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

/** Parses a raw environment (process.env by default). Exported for tests; the app uses `env()`. */
export function parseEnv(raw: Readonly<Record<string, string | undefined>>): Env {
  // An empty variable (FOO= in a shell or .env file) means "not set", not an empty value.
  const present = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined && v !== ""));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new ConfigError(`Invalid configuration: ${fields}`);
  }
  const e = parsed.data;
  const dataDir = path.resolve(e.KEYWARD_DATA_DIR);
  const secrets = readSecrets(dataDir);
  const authSecret = e.AUTH_SECRET ?? secrets?.authSecret;
  const pin = e.KEYWARD_HSM_PIN ?? secrets?.hsmUserPin;
  if (!authSecret || !pin) {
    throw new ConfigError(
      `No session secret or HSM PIN: set AUTH_SECRET and KEYWARD_HSM_PIN, or run "npm start" once to create ${secretsPath(dataDir)}`,
    );
  }
  return Object.freeze({
    dataDir,
    databaseUrl: e.DATABASE_URL,
    origin: new URL(e.KEYWARD_ORIGIN).origin,
    rpId: e.KEYWARD_RP_ID ?? new URL(e.KEYWARD_ORIGIN).hostname,
    rpName: e.KEYWARD_RP_NAME,
    aaguidAllowList: Object.freeze(e.KEYWARD_AAGUID_ALLOWLIST),
    sessionIdleMs: e.KEYWARD_SESSION_IDLE_MINUTES * 60_000,
    sessionMaxMs: e.KEYWARD_SESSION_MAX_HOURS * 3_600_000,
    invitationMs: e.KEYWARD_INVITATION_HOURS * 3_600_000,
    setupCodeMs: e.KEYWARD_SETUP_CODE_MINUTES * 60_000,
    authSecret,
    hsm: {
      library: e.KEYWARD_HSM_LIBRARY,
      tokenLabel: e.KEYWARD_HSM_TOKEN_LABEL,
      pin,
      softhsmConf: e.SOFTHSM2_CONF ?? path.join(dataDir, "softhsm2.conf"),
    },
  });
}

let cached: Env | undefined;

/** The validated configuration, read once. Call it at request or boot time, never at module top level. */
export function env(): Env {
  cached ??= parseEnv(process.env);
  return cached;
}
