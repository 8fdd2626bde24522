// Configuration is parsed once at boot; these pin its defaults and that every mistake names what to fix.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, parseEnv } from "./env";

const folders: string[] = [];

afterAll(() => {
  for (const f of folders) rmSync(f, { recursive: true, force: true });
});

/** A fresh data folder, with the secrets file `npm start` writes unless `secrets` is null. */
function dataDir(
  secrets: unknown = {
    authSecret: "a".repeat(43),
    hsmUserPin: "123456",
    hsmSoPin: "87654321",
    hsmTokens: { "keyward-replica-1": { userPin: "135790", soPin: "97531864" } },
  },
): string {
  const dir = mkdtempSync(path.join(tmpdir(), "keyward-env-"));
  folders.push(dir);
  if (secrets !== null)
    writeFileSync(path.join(dir, "secrets.json"), JSON.stringify(secrets), { mode: 0o600 });
  return dir;
}

/** A process environment holding only `vars` (NODE_ENV aside, which Next's types require). */
function environment(vars: Record<string, string>): NodeJS.ProcessEnv {
  return { NODE_ENV: "test", ...vars };
}

function configError(vars: Record<string, string>): ConfigError {
  try {
    parseEnv(environment(vars));
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error("expected a ConfigError");
}

describe("parseEnv", () => {
  it("uses safe local defaults and reads the secrets npm start wrote into the data folder", () => {
    const dir = dataDir();
    const env = parseEnv(environment({ KEYWARD_DATA_DIR: dir }));
    expect(env).toMatchObject({
      dataDir: dir,
      databaseUrl: undefined,
      origin: "http://localhost:3000",
      rpId: "localhost",
      rpName: "Keyward",
      aaguidAllowList: [],
      sessionIdleMs: 15 * 60_000,
      sessionMaxMs: 8 * 3_600_000,
      invitationMs: 72 * 3_600_000,
      setupCodeMs: 15 * 60_000,
      authSecret: "a".repeat(43),
      hsm: {
        library: "/usr/lib/softhsm/libsofthsm2.so",
        tokenLabel: "keyward",
        pin: "123456",
        softhsmConf: path.join(dir, "softhsm2.conf"),
        role: "primary",
        // One worker thread per CPU for each token, calls answered within 5 s, 1024 may wait.
        pool: { size: undefined, timeoutMs: 5000, queueLimit: 1024 },
      },
    });
    // One SoftHSM replica by default, so signing fails over out of the box.
    expect(env.hsm.tokens.map((t) => [t.tokenLabel, t.role, t.pin, t.library, t.softhsmConf])).toEqual([
      ["keyward", "primary", "123456", "/usr/lib/softhsm/libsofthsm2.so", path.join(dir, "softhsm2.conf")],
      ["keyward-replica-1", "replica", "135790", "/usr/lib/softhsm/libsofthsm2.so", path.join(dir, "softhsm2.conf")],
    ]);
    expect(Object.isFrozen(env)).toBe(true);
    expect(Object.isFrozen(env.hsm.tokens)).toBe(true);
    expect(Object.isFrozen(env.hsm.tokens[1])).toBe(true);
  });

  it("lets the environment override the secrets file and derives the RP ID from the origin's host", () => {
    const env = parseEnv(
      environment({
        KEYWARD_DATA_DIR: dataDir(),
        KEYWARD_ORIGIN: "https://custody.example.com:8443/console",
        AUTH_SECRET: "b".repeat(32),
        KEYWARD_HSM_PIN: "246810",
        KEYWARD_SESSION_IDLE_MINUTES: "5",
        KEYWARD_SESSION_MAX_HOURS: "2",
      }),
    );
    expect(env.origin).toBe("https://custody.example.com:8443");
    expect(env.rpId).toBe("custody.example.com");
    expect(env.authSecret).toBe("b".repeat(32));
    expect(env.hsm.pin).toBe("246810");
    expect(env.sessionIdleMs).toBe(5 * 60_000);
    expect(env.sessionMaxMs).toBe(2 * 3_600_000);
  });

  it("accepts a comma-separated AAGUID allow-list, trimmed and lower-cased", () => {
    const env = parseEnv(
      environment({
        KEYWARD_DATA_DIR: dataDir(),
        KEYWARD_AAGUID_ALLOWLIST:
          " EE882879-721C-4913-9775-3DFCCE97072A , cb69481e-8ff7-4039-93ec-0a2729a154a8,",
      }),
    );
    expect(env.aaguidAllowList).toEqual([
      "ee882879-721c-4913-9775-3dfcce97072a",
      "cb69481e-8ff7-4039-93ec-0a2729a154a8",
    ]);
  });

  it("refuses a malformed AAGUID with a ConfigError naming KEYWARD_AAGUID_ALLOWLIST", () => {
    const err = configError({
      KEYWARD_DATA_DIR: dataDir(),
      KEYWARD_AAGUID_ALLOWLIST: "ee882879-721c-4913-9775-3dfcce97072a,yubikey-5",
    });
    expect(err.message).toContain("KEYWARD_AAGUID_ALLOWLIST");
    expect(err.message).toContain("01020304-0506-0708-0102-030405060708");
  });

  it("refuses a session timeout that is not a positive whole number, naming the variable", () => {
    expect(configError({ KEYWARD_DATA_DIR: dataDir(), KEYWARD_SESSION_IDLE_MINUTES: "0" }).message).toContain(
      "KEYWARD_SESSION_IDLE_MINUTES",
    );
  });

  it("reads the HSM pool's size, call deadline and queue limit, and refuses a pool of no threads", () => {
    const env = parseEnv(
      environment({
        KEYWARD_DATA_DIR: dataDir(),
        KEYWARD_HSM_POOL_SIZE: "4",
        KEYWARD_HSM_TIMEOUT_MS: "30000",
        KEYWARD_HSM_QUEUE_LIMIT: "64",
      }),
    );
    expect(env.hsm.pool).toEqual({ size: 4, timeoutMs: 30_000, queueLimit: 64 });
    expect(configError({ KEYWARD_DATA_DIR: dataDir(), KEYWARD_HSM_POOL_SIZE: "0" }).message).toContain(
      "KEYWARD_HSM_POOL_SIZE",
    );
    expect(configError({ KEYWARD_DATA_DIR: dataDir(), KEYWARD_HSM_TIMEOUT_MS: "soon" }).message).toContain(
      "KEYWARD_HSM_TIMEOUT_MS",
    );
  });

  it("names a too-short AUTH_SECRET without echoing it", () => {
    const err = configError({ KEYWARD_DATA_DIR: dataDir(), AUTH_SECRET: "short-but-secret" });
    expect(err.message).toContain("AUTH_SECRET");
    expect(err.message).not.toContain("short-but-secret");
  });

  it('tells the operator to run "npm start" when no secrets exist', () => {
    const dir = dataDir(null);
    const err = configError({ KEYWARD_DATA_DIR: dir });
    expect(err.message).toContain('run "npm start"');
    expect(err.message).toContain(path.join(dir, "secrets.json"));
    // Either secret alone is not enough.
    expect(configError({ KEYWARD_DATA_DIR: dir, AUTH_SECRET: "c".repeat(32) }).message).toContain(
      "npm start",
    );
  });

  it("refuses a secrets file of the wrong shape, saying to remove it and run npm start", () => {
    const err = configError({ KEYWARD_DATA_DIR: dataDir({ authSecret: "too-short" }) });
    expect(err.message).toMatch(/secrets\.json is malformed; remove it and run npm start/);
  });
});
