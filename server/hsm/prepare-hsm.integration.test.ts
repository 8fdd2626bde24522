// scripts/prepare-hsm.mjs end to end in temporary data folders: secrets, token, KEK, idempotence, and
// that no secret ever reaches its output.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { hsmHealth } from "./health";
import { closeHsm } from "./pkcs11";
import { SOFTHSM_LIBRARY } from "./test-token";

const folders: string[] = [];

afterAll(() => {
  closeHsm();
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

function tempDataDir(): string {
  const parent = mkdtempSync(path.join(tmpdir(), "keyward-prepare-"));
  folders.push(parent);
  // A folder that does not exist yet, so the script creates it with mode 0700.
  return path.join(parent, "data");
}

/** Runs the script as `npm start` would, with a minimal environment so nothing leaks in from vitest. */
function prepare(dataDir: string, extra: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, ["scripts/prepare-hsm.mjs"], {
    cwd: path.resolve(import.meta.dirname, "../.."),
    env: {
      NODE_ENV: "test",
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: tmpdir(),
      KEYWARD_DATA_DIR: dataDir,
      KEYWARD_HSM_TOKEN_LABEL: "kw-prepare",
      ...extra,
    },
    encoding: "utf8",
  });
  return { status: result.status, output: `${result.stdout}\n${result.stderr}` };
}

const secretsSchema = (text: string) => {
  const json: unknown = JSON.parse(text);
  if (typeof json !== "object" || json === null) throw new Error("secrets.json is not an object");
  const field = (name: string) => {
    const value: unknown = Reflect.get(json, name);
    if (typeof value !== "string") throw new Error(`secrets.json has no ${name}`);
    return value;
  };
  return { authSecret: field("authSecret"), hsmUserPin: field("hsmUserPin"), hsmSoPin: field("hsmSoPin") };
};

function snapshot(dataDir: string) {
  const tokens = path.join(dataDir, "softhsm", "tokens");
  return {
    secrets: readFileSync(path.join(dataDir, "secrets.json"), "utf8"),
    conf: readFileSync(path.join(dataDir, "softhsm2.conf"), "utf8"),
    tokens: readdirSync(tokens).flatMap((t) => readdirSync(path.join(tokens, t)).map((f) => `${t}/${f}`)),
  };
}

describe("scripts/prepare-hsm.mjs", () => {
  const dataDir = tempDataDir();

  it("creates the data folder, a 0600 secrets file, the token and the KEK without printing a secret", async () => {
    const run = prepare(dataDir);
    expect(run.status, run.output).toBe(0);
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    expect(statSync(path.join(dataDir, "secrets.json")).mode & 0o777).toBe(0o600);
    const secrets = secretsSchema(readFileSync(path.join(dataDir, "secrets.json"), "utf8"));
    expect(secrets.authSecret.length).toBeGreaterThanOrEqual(32);
    for (const secret of Object.values(secrets)) expect(run.output).not.toContain(secret);
    expect(run.output).toMatch(/HSM: token 'kw-prepare' created and ready \(serial [0-9a-f]{16}\)/);
    expect(run.output).toContain("backup key-encryption key created");

    const health = await hsmHealth({
      library: SOFTHSM_LIBRARY,
      tokenLabel: "kw-prepare",
      pin: secrets.hsmUserPin,
      softhsmConf: path.join(dataDir, "softhsm2.conf"),
    });
    expect(health.error).toBeUndefined();
    expect(health).toMatchObject({ ok: true, objects: { total: 1, kek: true } });
  });

  it("changes nothing on a second run", () => {
    const before = snapshot(dataDir);
    const run = prepare(dataDir);
    expect(run.status, run.output).toBe(0);
    expect(snapshot(dataDir)).toEqual(before);
    expect(run.output).toMatch(/HSM: token 'kw-prepare' ready \(serial [0-9a-f]{16}\)/);
    expect(run.output).toContain("backup key-encryption key present");
    expect(run.output).not.toContain("created");
    for (const secret of Object.values(secretsSchema(before.secrets)))
      expect(run.output).not.toContain(secret);
  });

  it("uses PINs and the session secret given in the environment instead of generating them", () => {
    const other = tempDataDir();
    const given = {
      AUTH_SECRET: "given-auth-secret-0123456789-abcdefghijkl",
      KEYWARD_HSM_PIN: "given-user-pin-4711",
      KEYWARD_HSM_SO_PIN: "given-so-pin-0815",
    };
    const run = prepare(other, given);
    expect(run.status, run.output).toBe(0);
    expect(secretsSchema(readFileSync(path.join(other, "secrets.json"), "utf8"))).toEqual({
      authSecret: given.AUTH_SECRET,
      hsmUserPin: given.KEYWARD_HSM_PIN,
      hsmSoPin: given.KEYWARD_HSM_SO_PIN,
    });
    // The KEK was made with the given SO PIN, so the token was initialised with it.
    expect(run.output).toContain("backup key-encryption key created");
    for (const secret of Object.values(given)) expect(run.output).not.toContain(secret);
  });

  it("fails with a clear message, and no PIN, when the SO PIN does not match the token", () => {
    const run = prepare(dataDir, { KEYWARD_HSM_SO_PIN: "not-the-so-pin" });
    expect(run.status).not.toBe(0);
    expect(run.output).toContain("refused the security officer PIN");
    expect(run.output).not.toContain("not-the-so-pin");
  });
});
