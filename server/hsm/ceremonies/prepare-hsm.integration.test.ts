// scripts/prepare-hsm.mjs end to end in temporary data folders: secrets, tokens (a primary and its
// replicas), the shared KEK, idempotence, and that no secret ever reaches its output.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseEnv } from "../../env";
import type { HsmHealth } from "../status/health";

const folders: string[] = [];

afterAll(() => {
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
    cwd: path.resolve(import.meta.dirname, "../../.."),
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
  // The SO PINs are never stored (they are shown once, for the officers to keep offline).
  if (Reflect.has(json, "hsmSoPin")) throw new Error("secrets.json holds an SO PIN");
  return { authSecret: field("authSecret"), hsmUserPin: field("hsmUserPin") };
};

/** The SO PINs a run showed in its boxed notice, by token label. */
function shownSoPins(output: string): Map<string, string> {
  const pins = new Map<string, string>();
  for (const match of output.matchAll(/^ {2}│ {3}(\S+) {2,}(\S+) +│$/gm)) {
    const [, label, pin] = match;
    if (label !== undefined && pin !== undefined) pins.set(label, pin);
  }
  return pins;
}

/** Every string in the secrets file (every PIN of every token): none may be printed. */
function everySecret(text: string): string[] {
  const found: string[] = [];
  const walk = (value: unknown) => {
    if (typeof value === "string") found.push(value);
    else if (typeof value === "object" && value !== null) Object.values(value).forEach(walk);
  };
  walk(JSON.parse(text));
  return found;
}

/** The app's view of a prepared folder (the same configuration the server would read). */
function appEnv(dataDir: string, extra: Record<string, string> = {}) {
  return parseEnv({
    NODE_ENV: "test",
    KEYWARD_DATA_DIR: dataDir,
    KEYWARD_HSM_TOKEN_LABEL: "kw-prepare",
    ...extra,
  });
}

/**
 * Health of every configured token of a prepared folder, checked as the app would, in a fresh process: a
 * process loads one SoftHSM configuration, and SoftHSM sees only the tokens that existed when it started.
 */
function healthOfAll(dataDir: string, extra: Record<string, string> = {}): HsmHealth[] {
  const code = `
    const { env } = await import("./server/env.ts");
    const { hsmHealth } = await import("./server/hsm/status/health.ts");
    const all = [];
    for (const token of env().hsm.tokens) all.push(await hsmHealth(token));
    console.log(JSON.stringify(all));`;
  const result = spawnSync(
    process.execPath,
    ["--conditions=react-server", "--import", "tsx", "--input-type=module", "-e", code],
    {
      cwd: path.resolve(import.meta.dirname, "../../.."),
      env: {
        NODE_ENV: "test",
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        KEYWARD_DATA_DIR: dataDir,
        KEYWARD_HSM_TOKEN_LABEL: "kw-prepare",
        ...extra,
      },
      encoding: "utf8",
    },
  );
  if (result.status !== 0) throw new Error(`health check failed: ${result.stderr}`);
  const parsed: HsmHealth[] = JSON.parse(result.stdout);
  return parsed;
}

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
  /** The SO PINs the first run showed. */
  let soPins = new Map<string, string>();

  it("creates the data folder, a 0600 secrets file, both tokens and one shared KEK without printing a secret", () => {
    const run = prepare(dataDir);
    expect(run.status, run.output).toBe(0);
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    expect(statSync(path.join(dataDir, "secrets.json")).mode & 0o777).toBe(0o600);
    const text = readFileSync(path.join(dataDir, "secrets.json"), "utf8");
    const secrets = secretsSchema(text);
    expect(secrets.authSecret.length).toBeGreaterThanOrEqual(32);
    const replicaPins: unknown = Reflect.get(JSON.parse(text), "hsmTokens");
    expect(replicaPins).toEqual({ "kw-prepare-replica-1": { userPin: expect.any(String) } });
    for (const secret of everySecret(text)) expect(run.output).not.toContain(secret);
    // Each token's SO PIN is shown once, boxed, and written nowhere in the data folder.
    expect(run.output).toContain("Keyward does not keep them: this is the only time they are shown.");
    const shown = shownSoPins(run.output);
    expect([...shown.keys()]).toEqual(["kw-prepare", "kw-prepare-replica-1"]);
    soPins = shown;
    for (const pin of shown.values()) {
      expect(pin.length).toBeGreaterThanOrEqual(16);
      expect(text).not.toContain(pin);
      expect(readFileSync(path.join(dataDir, "softhsm2.conf"), "utf8")).not.toContain(pin);
    }
    expect(run.output).toMatch(/HSM: token 'kw-prepare' created and ready \(serial [0-9a-f]{16}\)/);
    expect(run.output).toMatch(/HSM: token 'kw-prepare-replica-1' created and ready \(serial [0-9a-f]{16}\)/);
    expect(run.output).toContain("backup key-encryption key created on token 'kw-prepare'");
    expect(run.output).toContain("backup key-encryption key copied to token 'kw-prepare-replica-1'");

    const [primary, replica] = healthOfAll(dataDir);
    for (const health of [primary, replica]) {
      expect(health?.error).toBeUndefined();
      expect(health).toMatchObject({ ok: true, objects: { total: 1, kek: { shareable: true } } });
    }
    expect(primary?.objects?.kek?.id).toMatch(/^[0-9a-f]{32}$/);
    expect(replica?.objects?.kek?.id).toBe(primary?.objects?.kek?.id);
    expect(primary?.token?.label).toBe("kw-prepare");
  });

  it("changes nothing on a second run", () => {
    const before = snapshot(dataDir);
    const run = prepare(dataDir);
    expect(run.status, run.output).toBe(0);
    expect(snapshot(dataDir)).toEqual(before);
    expect(run.output).toMatch(/HSM: token 'kw-prepare' ready \(serial [0-9a-f]{16}\)/);
    expect(run.output).toMatch(/HSM: token 'kw-prepare-replica-1' ready \(serial [0-9a-f]{16}\)/);
    expect(run.output).toContain("backup key-encryption key present on token 'kw-prepare'");
    expect(run.output).toContain(
      "backup key-encryption key present on token 'kw-prepare-replica-1' (proven the same)",
    );
    expect(run.output).not.toContain("created");
    // Nothing to do, so no SO PIN was needed (none is given, and there is no terminal to ask on).
    expect(run.output).not.toContain("security officer");
    expect(shownSoPins(run.output).size).toBe(0);
    for (const secret of everySecret(before.secrets)) expect(run.output).not.toContain(secret);
  });

  it("takes an SO PIN stored by an older version out of the secrets file, showing it one last time", () => {
    const file = path.join(dataDir, "secrets.json");
    const current: Record<string, unknown> = JSON.parse(readFileSync(file, "utf8"));
    const primaryPin = soPins.get("kw-prepare") ?? "";
    const replicaPin = soPins.get("kw-prepare-replica-1") ?? "";
    const hsmTokens = {
      "kw-prepare-replica-1": { ...Object(current.hsmTokens)["kw-prepare-replica-1"], soPin: replicaPin },
    };
    writeFileSync(file, JSON.stringify({ ...current, hsmSoPin: primaryPin, hsmTokens }), { mode: 0o600 });
    const run = prepare(dataDir);
    expect(run.status, run.output).toBe(0);
    expect(run.output).toContain("Keyward no longer keeps the security officer (SO) PINs on this host.");
    expect(Object.fromEntries(shownSoPins(run.output))).toEqual({
      "kw-prepare": primaryPin,
      "kw-prepare-replica-1": replicaPin,
    });
    const after = readFileSync(file, "utf8");
    expect(after).not.toContain(primaryPin);
    expect(after).not.toContain(replicaPin);
    expect(secretsSchema(after).hsmUserPin).toBe(current.hsmUserPin);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // Once: the next run has nothing to remove and shows nothing.
    const again = prepare(dataDir);
    expect(again.status, again.output).toBe(0);
    expect(again.output).not.toContain("security officer");
    expect(shownSoPins(again.output).size).toBe(0);
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
    });
    // The KEK was made with the given SO PIN, so the token was initialised with it.
    expect(run.output).toContain("backup key-encryption key created");
    for (const secret of Object.values(given)) expect(run.output).not.toContain(secret);
    // Only the replica's SO PIN was made here, so only that one is shown.
    expect([...shownSoPins(run.output).keys()]).toEqual(["kw-prepare-replica-1"]);
  });

  it("asks for the SO PIN when a ceremony needs it, and without a terminal says how to give it", () => {
    const run = prepare(dataDir, { KEYWARD_HSM_REPLICAS: "2" });
    expect(run.status).not.toBe(0);
    expect(run.output).toContain(
      "HSM token 'kw-prepare' needs its security officer's PIN to give a new token the backup key-encryption key",
    );
    expect(run.output).toContain(
      'Run "npm start" on a terminal to be asked for it, or set KEYWARD_HSM_SO_PIN',
    );
  });

  it("asks on the terminal, without echo, for the SO PIN a new replica needs", async () => {
    const single = tempDataDir();
    const first = prepare(single, { KEYWARD_HSM_REPLICAS: "0" });
    expect(first.status, first.output).toBe(0);
    const soPin = shownSoPins(first.output).get("kw-prepare") ?? "";
    // util-linux's script(1) gives the run a pseudo-terminal; the PIN is typed once the prompt shows.
    const child = spawn("script", ["-qec", `${process.execPath} scripts/prepare-hsm.mjs`, "/dev/null"], {
      cwd: path.resolve(import.meta.dirname, "../../.."),
      env: {
        NODE_ENV: "test",
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: tmpdir(),
        KEYWARD_DATA_DIR: single,
        KEYWARD_HSM_TOKEN_LABEL: "kw-prepare",
        KEYWARD_HSM_REPLICAS: "1",
      },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let output = "";
    let typed = false;
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      output += chunk;
      if (!typed && output.includes("Security officer PIN (not shown): ")) {
        typed = true;
        child.stdin.write(`${soPin}\r`);
      }
    });
    const status = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(status, output).toBe(0);
    expect(output).toContain("HSM token 'kw-prepare' needs its security officer's PIN");
    expect(output).toContain("backup key-encryption key copied to token 'kw-prepare-replica-1'");
    expect(output).not.toContain(soPin);
  });

  it("fails with a clear message, and no PIN, when the SO PIN does not match the token", () => {
    const single = tempDataDir();
    const first = prepare(single, { KEYWARD_HSM_REPLICAS: "0" });
    expect(first.status, first.output).toBe(0);
    // A new replica needs the primary's SO PIN: a wrong one is refused by the HSM, and never shown.
    const run = prepare(single, { KEYWARD_HSM_REPLICAS: "1", KEYWARD_HSM_SO_PIN: "not-the-so-pin" });
    expect(run.status).not.toBe(0);
    expect(run.output).toContain("refused the security officer PIN");
    expect(run.output).not.toContain("not-the-so-pin");
  });

  it("gives a single-token install the shareable KEK, so a replica added later receives the same KEK", () => {
    const single = tempDataDir();
    const first = prepare(single, { KEYWARD_HSM_REPLICAS: "0" });
    expect(first.status, first.output).toBe(0);
    const soPin = shownSoPins(first.output).get("kw-prepare") ?? "";
    expect(first.output).not.toContain("replica");
    expect(readFileSync(path.join(single, "secrets.json"), "utf8")).not.toContain("hsmTokens");
    const [alone] = healthOfAll(single, { KEYWARD_HSM_REPLICAS: "0" });
    expect(alone).toMatchObject({ ok: true, objects: { kek: { shareable: true } } });
    // An existing folder keeps its single token when nothing asks for replicas: npm start adds none.
    const before = snapshot(single);
    const again = prepare(single);
    expect(again.status, again.output).toBe(0);
    expect(again.output).not.toContain("replica");
    expect(snapshot(single)).toEqual(before);
    expect(appEnv(single).hsm.tokens.map((t) => t.tokenLabel)).toEqual(["kw-prepare"]);

    // The officer gives the primary's SO PIN for this one run; the new replica's is made and shown.
    const grown = prepare(single, { KEYWARD_HSM_REPLICAS: "1", KEYWARD_HSM_SO_PIN: soPin });
    expect(grown.status, grown.output).toBe(0);
    expect(grown.output).toContain("HSM: PINs for token 'kw-prepare-replica-1' added to");
    expect(grown.output).toContain("backup key-encryption key present on token 'kw-prepare'");
    expect(grown.output).toContain("backup key-encryption key copied to token 'kw-prepare-replica-1'");
    const [primary, replica] = healthOfAll(single, { KEYWARD_HSM_REPLICAS: "1" });
    expect(replica?.objects?.kek?.id).toBe(alone?.objects?.kek?.id);
    expect(primary?.objects?.kek?.id).toBe(alone?.objects?.kek?.id);
  });

  it("takes a replica's user PIN from the variable its KEYWARD_HSM_TOKENS entry names", () => {
    const listed = tempDataDir();
    const given = {
      KEYWARD_HSM_TOKENS: JSON.stringify([
        { label: "kw-prepare" },
        { label: "kw-listed-b", pinEnv: "KW_B_PIN" },
      ]),
      KW_B_PIN: "replica-b-user-pin-2718",
    };
    const run = prepare(listed, given);
    expect(run.status, run.output).toBe(0);
    expect(run.output).not.toContain(given.KW_B_PIN);
    // Nothing of that replica is kept in the file: the user PIN lives in the variable, the SO PIN offline.
    const stored: unknown = Reflect.get(
      JSON.parse(readFileSync(path.join(listed, "secrets.json"), "utf8")),
      "hsmTokens",
    );
    expect(stored).toBeUndefined();
    const config = appEnv(listed, given);
    expect(config.hsm.tokens.map((t) => [t.tokenLabel, t.role, t.pinSource.user])).toEqual([
      ["kw-prepare", "primary", expect.stringContaining("KEYWARD_HSM_PIN or hsmUserPin in")],
      ["kw-listed-b", "replica", "KW_B_PIN"],
    ]);
    expect(config.hsm.tokens[1]?.pin).toBe(given.KW_B_PIN);
    const health = healthOfAll(listed, given);
    expect(health.map((h) => h.ok)).toEqual([true, true]);
  });
});
