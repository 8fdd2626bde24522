// KEYWARD_HSM_IN_FLIGHT and KEYWARD_HSM_SIGN_FROM (server/env.ts) reach the server's pools as `inFlight` and `signFrom`: read when set, refused
// with its name when it is not a whole number from 1 to 1024, absent (one per thread) by default.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, parseEnv } from "../../env";

const dir = mkdtempSync(path.join(tmpdir(), "keyward-in-flight-env-"));
writeFileSync(
  path.join(dir, "secrets.json"),
  JSON.stringify({ authSecret: "a".repeat(43), hsmUserPin: "123456", hsmSoPin: "87654321" }),
  { mode: 0o600 },
);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const parse = (vars: Record<string, string>) =>
  parseEnv({ NODE_ENV: "test", KEYWARD_DATA_DIR: dir, ...vars });

describe("KEYWARD_HSM_IN_FLIGHT", () => {
  it("sets the signatures in flight per token apart from the pool size", () => {
    expect(parse({ KEYWARD_HSM_POOL_SIZE: "2", KEYWARD_HSM_IN_FLIGHT: "30" }).hsm.pool).toMatchObject({
      size: 2,
      inFlight: 30,
    });
    expect(parse({}).hsm.pool.inFlight).toBeUndefined();
  });

  it.each(["0", "1025", "2.5", "many"])("refuses %s, naming the variable", (value) => {
    expect(() => parse({ KEYWARD_HSM_IN_FLIGHT: value })).toThrow(ConfigError);
    expect(() => parse({ KEYWARD_HSM_IN_FLIGHT: value })).toThrow(/KEYWARD_HSM_IN_FLIGHT/);
  });
});

describe("KEYWARD_HSM_SIGN_FROM", () => {
  it("reaches the pools as signFrom: auto, main or threads, unset by default (the pool's auto)", () => {
    expect(parse({ KEYWARD_HSM_SIGN_FROM: "auto" }).hsm.pool.signFrom).toBe("auto");
    expect(parse({ KEYWARD_HSM_SIGN_FROM: "main" }).hsm.pool.signFrom).toBe("main");
    expect(parse({ KEYWARD_HSM_SIGN_FROM: "threads" }).hsm.pool.signFrom).toBe("threads");
    expect(parse({}).hsm.pool.signFrom).toBeUndefined();
  });

  it("refuses anything else, naming the variable", () => {
    expect(() => parse({ KEYWARD_HSM_SIGN_FROM: "gpu" })).toThrow(/KEYWARD_HSM_SIGN_FROM/);
  });
});
