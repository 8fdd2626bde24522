// Test helpers beside test-token.ts: more tokens in the same SoftHSM configuration (one process can load
// only one), a user session on a test token, the HsmError a call throws, and ways to make a token fail.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdirSync, rmSync } from "node:fs";
import path from "node:path";
import { HsmError } from "../pkcs11/errors";
import { openToken, type Session, withSession } from "../pkcs11/pkcs11";
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

/**
 * Changes the token's user PIN and logs the user out, as an HSM administrator changing the PIN would leave
 * a running process: login state is per token for the whole process, so every session of this process on
 * the token loses its login at once, and logging in again needs the new PIN. Returns the new PIN.
 */
export async function changePinAndLogOut(token: TestToken, currentPin: string): Promise<string> {
  const newPin = randomBytes(12).toString("base64url");
  await withSession(openToken(token.config), { write: true }, (s) => {
    s.run("C_SetPIN", (m, h) => m.C_SetPIN(h, currentPin, newPin));
    s.run("C_Logout", (m, h) => m.C_Logout(h));
  });
  return newPin;
}

/** Sets the user PIN back from a public read/write session (SoftHSM allows that without a login). */
export async function restorePin(token: TestToken, currentPin: string): Promise<void> {
  await withSession(openToken(token.config), { write: true }, (s) =>
    s.run("C_SetPIN", (m, h) => m.C_SetPIN(h, currentPin, token.pin)),
  );
}

/**
 * Removes the token's folder under the running process, as a token that is pulled or whose storage dies.
 * SoftHSM names the folder after the token (its serial is the folder name's last 16 hex digits), and never
 * takes the token back within this process (measured), so use it in a test file of its own.
 */
export function removeTokenFolder(token: TestToken): void {
  const serial = openToken(token.config).description.serial;
  const tokens = path.join(token.dir, "tokens");
  const folder = readdirSync(tokens).find((name) => name.replaceAll("-", "").endsWith(serial));
  if (folder === undefined) throw new Error(`no folder for token ${token.label} (serial ${serial})`);
  rmSync(path.join(tokens, folder), { recursive: true, force: true });
}

export type StreamedSignature = { i: number; token: string; signature: Buffer };

/**
 * Signs digests 0 … total-1 with `clients` callers at once, each one request after another, and returns
 * every answer. `onAnswer(n)` runs (and is awaited) after the n-th answer: the place to break a token while
 * signatures stream. Any rejected signature fails the whole stream: a lost request is what tests look for.
 */
export async function signStream(
  set: { sign: (ref: string, data: Uint8Array) => Promise<{ signature: Buffer; token: string }> },
  ref: string,
  options: {
    total: number;
    clients: number;
    digestOf: (i: number) => Buffer;
    onAnswer?: (answered: number) => unknown;
  },
): Promise<StreamedSignature[]> {
  const results: StreamedSignature[] = [];
  let next = 0;
  const client = async () => {
    while (next < options.total) {
      const i = next++;
      const { signature, token } = await set.sign(ref, options.digestOf(i));
      results.push({ i, token, signature });
      await options.onAnswer?.(results.length);
    }
  };
  await Promise.all(Array.from({ length: options.clients }, client));
  return results;
}
