// Test helper: a real SoftHSM token in its own temporary folder, made with softhsm2-util like
// scripts/prepare-hsm.mjs does. The PINs are random per run and stay inside the test process.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { HsmConfig } from "../pkcs11/pkcs11";

export const SOFTHSM_LIBRARY = "/usr/lib/softhsm/libsofthsm2.so";

export type TestToken = {
  dir: string;
  conf: string;
  label: string;
  pin: string;
  soPin: string;
  /** What hsmHealth takes; its softhsmConf makes server/hsm point SoftHSM at this folder. */
  config: HsmConfig;
  cleanup: () => void;
};

/** Creates a folder with a softhsm2.conf and one initialised token. Call `cleanup` after closeHsm(). */
export function createTestToken(label = "keyward-test"): TestToken {
  const dir = mkdtempSync(path.join(tmpdir(), "keyward-hsm-"));
  const tokenDir = path.join(dir, "tokens");
  mkdirSync(tokenDir, { mode: 0o700 });
  const conf = path.join(dir, "softhsm2.conf");
  writeFileSync(conf, `directories.tokendir = ${tokenDir}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  const pin = randomBytes(12).toString("base64url");
  const soPin = randomBytes(12).toString("base64url");
  const init = spawnSync(
    "softhsm2-util",
    ["--init-token", "--free", "--label", label, "--so-pin", soPin, "--pin", pin],
    { env: { ...process.env, SOFTHSM2_CONF: conf }, encoding: "utf8" },
  );
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`softhsm2-util --init-token failed: ${init.stderr || init.stdout}`);
  }
  return {
    dir,
    conf,
    label,
    pin,
    soPin,
    config: { library: SOFTHSM_LIBRARY, tokenLabel: label, pin, softhsmConf: conf },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
