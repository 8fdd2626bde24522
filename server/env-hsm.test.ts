// The HSM part of the configuration: which tokens, where each PIN comes from, what is refused and how it is
// said; and that scripts/hsm-tokens.mjs (the plain-Node setup) reads every configuration the same way.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
// @ts-expect-error plain ESM script without type declarations
import { tokenSpecs as scriptTokenSpecs } from "../scripts/hsm-tokens.mjs";
import { ConfigError } from "./config-error";
import { hsmSoPins, parseEnv } from "./env";
import { type HsmEnvVars, hsmSignFrom, tokenSpecs } from "./env-hsm";

const folders: string[] = [];
afterAll(() => {
  for (const f of folders) rmSync(f, { recursive: true, force: true });
});

const base = { authSecret: "a".repeat(43), hsmUserPin: "111111", hsmSoPin: "11111111" };

function dataDir(secrets: object = base): string {
  const dir = mkdtempSync(path.join(tmpdir(), "keyward-env-hsm-"));
  folders.push(dir);
  writeFileSync(path.join(dir, "secrets.json"), JSON.stringify(secrets), { mode: 0o600 });
  return dir;
}

const parse = (dir: string, vars: Record<string, string> = {}) =>
  parseEnv({ NODE_ENV: "test", KEYWARD_DATA_DIR: dir, ...vars });

function configError(call: () => unknown): ConfigError {
  try {
    call();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error("expected a ConfigError");
}

describe("HSM tokens in the configuration", () => {
  it("without KEYWARD_HSM_REPLICAS, uses the replicas setup recorded PINs for: none in an older data folder", () => {
    expect(parse(dataDir()).hsm.tokens.map((t) => t.tokenLabel)).toEqual(["keyward"]);
    const recorded = dataDir({
      ...base,
      hsmTokens: { "keyward-replica-1": { userPin: "222222" }, "keyward-replica-2": { userPin: "333333" } },
    });
    expect(parse(recorded).hsm.tokens.map((t) => t.tokenLabel)).toEqual([
      "keyward",
      "keyward-replica-1",
      "keyward-replica-2",
    ]);
  });

  it("runs on the single token of before from the environment alone, without a secrets file", () => {
    const empty = mkdtempSync(path.join(tmpdir(), "keyward-env-hsm-"));
    folders.push(empty);
    const env = parse(empty, { AUTH_SECRET: "s".repeat(32), KEYWARD_HSM_PIN: "123456" });
    expect(env.hsm.tokens.map((t) => [t.tokenLabel, t.pin])).toEqual([["keyward", "123456"]]);
  });

  it("KEYWARD_HSM_REPLICAS=0 keeps the single token of before", () => {
    const env = parse(dataDir(), { KEYWARD_HSM_REPLICAS: "0" });
    expect(env.hsm.tokens.map((t) => t.tokenLabel)).toEqual(["keyward"]);
    expect(env.hsm.pinSource.user).toMatch(/^KEYWARD_HSM_PIN or hsmUserPin in \/.*secrets\.json$/);
  });

  it("names replicas after the primary label, each with its PINs from hsmTokens", () => {
    const dir = dataDir({
      ...base,
      hsmTokens: { "vault-replica-1": { userPin: "222222" }, "vault-replica-2": { userPin: "333333" } },
    });
    const env = parse(dir, { KEYWARD_HSM_TOKEN_LABEL: "vault", KEYWARD_HSM_REPLICAS: "2" });
    expect(env.hsm.tokens.map((t) => [t.tokenLabel, t.role, t.pin])).toEqual([
      ["vault", "primary", "111111"],
      ["vault-replica-1", "replica", "222222"],
      ["vault-replica-2", "replica", "333333"],
    ]);
    expect(env.hsm.tokens[1]?.pinSource.user).toBe(
      `hsmTokens["vault-replica-1"].userPin in ${path.join(dir, "secrets.json")}`,
    );
  });

  it("reads KEYWARD_HSM_TOKENS as a comma-separated list of labels", () => {
    const dir = dataDir({ ...base, hsmTokens: { b: { userPin: "222222" }, c: { userPin: "333333" } } });
    const env = parse(dir, { KEYWARD_HSM_TOKENS: " a, b ,c " });
    expect(env.hsm.tokens.map((t) => [t.tokenLabel, t.pin])).toEqual([
      ["a", "111111"],
      ["b", "222222"],
      ["c", "333333"],
    ]);
  });

  it("reads KEYWARD_HSM_TOKENS as JSON with a library and PIN variables per token", () => {
    const env = parse(dataDir(), {
      KEYWARD_HSM_TOKENS: JSON.stringify([
        { label: "hsm-a" },
        {
          label: "hsm-b",
          library: "/opt/vendor/libpkcs11.so",
          pinEnv: "HSM_B_PIN",
          soPinEnv: "HSM_B_SO_PIN",
        },
      ]),
      HSM_B_PIN: "b-user-pin",
      KEYWARD_HSM_PIN: "a-user-pin",
    });
    expect(env.hsm.tokens.map((t) => [t.tokenLabel, t.library, t.pin, t.pinSource])).toEqual([
      ["hsm-a", "/usr/lib/softhsm/libsofthsm2.so", "a-user-pin", expect.anything()],
      ["hsm-b", "/opt/vendor/libpkcs11.so", "b-user-pin", { user: "HSM_B_PIN", so: "HSM_B_SO_PIN" }],
    ]);
    // The primary as a whole keeps the single-token shape (library, tokenLabel, pin, softhsmConf).
    expect(env.hsm).toMatchObject({ tokenLabel: "hsm-a", pin: "a-user-pin" });
  });

  it("says which variable or file entry a missing PIN belongs in, never a PIN", () => {
    const named = configError(() =>
      parse(dataDir(), { KEYWARD_HSM_TOKENS: '[{"label":"a"},{"label":"b","pinEnv":"HSM_B_PIN"}]' }),
    );
    expect(named.message).toBe(
      "HSM_B_PIN is not set: it holds the user PIN of HSM token 'b' (named in KEYWARD_HSM_TOKENS)",
    );
    const fromFile = configError(() => parse(dataDir(), { KEYWARD_HSM_REPLICAS: "1" }));
    expect(fromFile.message).toContain("No user PIN for HSM token 'keyward-replica-1'");
    expect(fromFile.message).toContain('run "npm start" once');
    expect(fromFile.message).not.toContain("111111");
  });

  it.each([
    [{ KEYWARD_HSM_TOKENS: "a,b", KEYWARD_HSM_REPLICAS: "1" }, "not both"],
    [{ KEYWARD_HSM_TOKENS: "a,b", KEYWARD_HSM_TOKEN_LABEL: "b" }, "disagree on the primary"],
    [{ KEYWARD_HSM_TOKENS: "a,b,a" }, "lists token 'a' twice"],
    [{ KEYWARD_HSM_TOKENS: "[{label:" }, "not valid JSON"],
    [{ KEYWARD_HSM_TOKENS: '[{"label":"a","pin":"1234"}]' }, "KEYWARD_HSM_TOKENS"],
    [{ KEYWARD_HSM_TOKENS: '[{"label":"a","pinEnv":"lower-case"}]' }, "environment variable name"],
    [{ KEYWARD_HSM_TOKENS: " , " }, "at least one token"],
    [
      { KEYWARD_HSM_TOKEN_LABEL: "a-label-of-exactly-thirty-chars", KEYWARD_HSM_REPLICAS: "1" },
      "longer than 32",
    ],
    [{ KEYWARD_HSM_REPLICAS: "9" }, "KEYWARD_HSM_REPLICAS"],
  ])("refuses %j, saying %s", (vars, says) => {
    const err = configError(() => parse(dataDir(), vars));
    expect(err.message).toContain(says);
    expect(err.message).not.toContain("1234");
  });

  it("gives the ceremony every token's SO PIN, from the same sources, and keeps them out of env()", () => {
    const dir = dataDir({
      ...base,
      hsmTokens: { "keyward-replica-1": { userPin: "222222", soPin: "22222222" } },
    });
    const raw = { NODE_ENV: "test", KEYWARD_DATA_DIR: dir };
    expect([...hsmSoPins(raw)]).toEqual([
      ["keyward", "11111111"],
      ["keyward-replica-1", "22222222"],
    ]);
    expect([...hsmSoPins({ ...raw, KEYWARD_HSM_SO_PIN: "from-the-env" })][0]).toEqual([
      "keyward",
      "from-the-env",
    ]);
    expect(JSON.stringify(parseEnv(raw))).not.toContain("22222222");
    expect(configError(() => hsmSoPins({ ...raw, KEYWARD_HSM_REPLICAS: "2" })).message).toContain(
      "No security officer PIN for HSM token 'keyward-replica-2'",
    );
  });
});

describe("scripts/hsm-tokens.mjs", () => {
  const cases: Record<string, string>[] = [
    {},
    { KEYWARD_HSM_REPLICAS: "0" },
    { KEYWARD_HSM_REPLICAS: "3", KEYWARD_HSM_TOKEN_LABEL: "vault" },
    { KEYWARD_HSM_LIBRARY: "/opt/lib.so", KEYWARD_HSM_TOKENS: "a, b" },
    {
      KEYWARD_HSM_TOKENS:
        '[{"label":"a","pinEnv":"A_PIN"},{"label":"b","library":"/x.so","soPinEnv":"B_SO"}]',
    },
    { KEYWARD_HSM_TOKENS: "a,b", KEYWARD_HSM_TOKEN_LABEL: "a" },
    { KEYWARD_HSM_TOKENS: "a,b", KEYWARD_HSM_REPLICAS: "1" },
    { KEYWARD_HSM_TOKENS: "a,b", KEYWARD_HSM_TOKEN_LABEL: "b" },
    { KEYWARD_HSM_TOKENS: "a,a" },
    { KEYWARD_HSM_TOKENS: '[{"label":"a","extra":1}]' },
    { KEYWARD_HSM_TOKEN_LABEL: "a-label-of-exactly-thirty-chars" },
  ];

  /**
   * What server/env-hsm.ts makes of the variables once setup has run: the list, or "refused". Setup's own
   * default (one replica) reaches the app as the PINs it recorded for that replica.
   */
  function fromServer(vars: Record<string, string>) {
    const primary = vars.KEYWARD_HSM_TOKEN_LABEL ?? "keyward";
    const recorded = { ...base, hsmTokens: { [`${primary}-replica-1`]: { userPin: "222222" } } };
    const parsed: HsmEnvVars = {
      KEYWARD_HSM_LIBRARY: vars.KEYWARD_HSM_LIBRARY ?? "/usr/lib/softhsm/libsofthsm2.so",
      KEYWARD_HSM_TOKEN_LABEL: vars.KEYWARD_HSM_TOKEN_LABEL,
      KEYWARD_HSM_TOKENS: vars.KEYWARD_HSM_TOKENS,
      KEYWARD_HSM_REPLICAS:
        vars.KEYWARD_HSM_REPLICAS === undefined ? undefined : Number(vars.KEYWARD_HSM_REPLICAS),
    };
    try {
      return tokenSpecs(parsed, recorded);
    } catch {
      return "refused";
    }
  }

  function fromScript(vars: Record<string, string>): unknown {
    try {
      return scriptTokenSpecs(vars);
    } catch {
      return "refused";
    }
  }

  it.each(cases)("reads %j as server/env-hsm.ts does", (vars) => {
    expect(fromScript(vars)).toEqual(fromServer(vars));
  });
});

describe("KEYWARD_HSM_SIGN_FROM", () => {
  it("reads auto, threads or main, and nothing when unset", () => {
    expect(hsmSignFrom({ KEYWARD_HSM_SIGN_FROM: "auto" })).toBe("auto");
    expect(hsmSignFrom({ KEYWARD_HSM_SIGN_FROM: "main" })).toBe("main");
    expect(hsmSignFrom({ KEYWARD_HSM_SIGN_FROM: "threads" })).toBe("threads");
    expect(hsmSignFrom({})).toBeUndefined();
  });

  it.each(["Main", "worker", "1"])("refuses %s, naming the variable", (value) => {
    expect(() => hsmSignFrom({ KEYWARD_HSM_SIGN_FROM: value })).toThrow(ConfigError);
    expect(() => hsmSignFrom({ KEYWARD_HSM_SIGN_FROM: value })).toThrow(/KEYWARD_HSM_SIGN_FROM/);
  });
});
