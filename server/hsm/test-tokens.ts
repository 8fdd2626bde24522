// Test helpers beside test-token.ts: more tokens in the same SoftHSM configuration (one process can load
// only one), a user session on a test token, and the HsmError a call throws.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { HsmError } from "./errors";
import { openToken, type Session, withSession } from "./pkcs11";
import { SOFTHSM_LIBRARY, type TestToken } from "./test-token";

/** Initialises another token in `first`'s folder and configuration; `first.cleanup` removes both. */
export function addTestToken(first: TestToken, label: string): TestToken {
  const pin = randomBytes(12).toString("base64url");
  const soPin = randomBytes(12).toString("base64url");
  const init = spawnSync(
    "softhsm2-util",
    ["--init-token", "--free", "--label", label, "--so-pin", soPin, "--pin", pin],
    { env: { ...process.env, SOFTHSM2_CONF: first.conf }, encoding: "utf8" },
  );
  if (init.status !== 0) throw new Error(`softhsm2-util --init-token failed: ${init.stderr || init.stdout}`);
  return {
    ...first,
    label,
    pin,
    soPin,
    config: { library: SOFTHSM_LIBRARY, tokenLabel: label, pin, softhsmConf: first.conf },
    cleanup: () => {},
  };
}

/** Runs `work` in a user session on the test token (read/write when asked). */
export function asUser<T>(token: TestToken, write: boolean, work: (s: Session) => T): Promise<T> {
  return withSession(openToken(token.config), { write, login: { role: "user", pin: token.pin } }, work);
}

/** The SO's login for the ceremony functions. */
export function soLogin(token: TestToken) {
  const { library, tokenLabel, softhsmConf } = token.config;
  return { target: { library, tokenLabel, softhsmConf }, soPin: token.soPin };
}

/** The HsmError a call throws, so tests can check its reason, kind and CKR name. */
export function thrownBy(call: () => unknown): HsmError {
  try {
    call();
  } catch (e) {
    if (e instanceof HsmError) return e;
    throw e;
  }
  throw new Error("expected an HsmError");
}
