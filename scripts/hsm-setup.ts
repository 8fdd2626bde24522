// The security officers' setup step, run by scripts/prepare-hsm.mjs after the tokens exist:
//   node --conditions=react-server --import tsx scripts/hsm-setup.ts
// It gives every configured token the same shareable backup KEK (created on the primary if it has none,
// then carried to each replica wrapped under a one-time RSA transport key; see server/hsm/README.md).
// A single-token install runs the same ceremony with no replicas, so a replica can be added later.
//
// The SO PINs are not kept on this host. First it looks with the user PINs only: when every token already
// holds the same KEK there is nothing to do and no SO PIN is needed. Otherwise it needs the SO PIN of the
// primary and of each token still to receive the KEK, from (in this order) the PINs prepare-hsm.mjs hands
// it on file descriptor 3 for tokens it has just created (KEYWARD_SO_PINS_FD), KEYWARD_HSM_SO_PIN / the
// variable named by soPinEnv, or the terminal (asked without echo). With no terminal it stops with a clear
// message. Idempotent. It prints no PIN, and exits non-zero with the HSM's clear message when something is wrong.
import { closeSync, openSync, readFileSync, writeSync } from "node:fs";
import { env, type HsmTokenEnv, hsmSoPins } from "../server/env";
import {
  inspectSharedKek,
  type SoLogin,
  shareBackupKek,
  type UserLogin,
} from "../server/hsm/ceremonies/kek-sharing";
import { closeHsm } from "../server/hsm";

type Pins = Map<string, string>;

/** PINs prepare-hsm.mjs passes for the tokens it created in this run (never through argv or env). */
function handedOver(): Pins {
  const fd = Number(process.env.KEYWARD_SO_PINS_FD);
  if (!Number.isInteger(fd) || fd < 3) return new Map();
  const parsed: unknown = JSON.parse(readFileSync(fd, "utf8") || "{}");
  const pins: Pins = new Map();
  if (typeof parsed === "object" && parsed !== null) {
    for (const [label, pin] of Object.entries(parsed)) if (typeof pin === "string") pins.set(label, pin);
  }
  return pins;
}

/** Reads one line from the terminal without echoing it. */
function askWithoutEcho(question: string): Promise<string> {
  const tty = openSync("/dev/tty", "w");
  const input = process.stdin;
  // Echo goes off before the prompt shows: whatever is typed once it is visible never reaches the screen.
  input.setRawMode(true);
  writeSync(tty, question);
  input.setEncoding("utf8");
  input.resume();
  return new Promise((resolve, reject) => {
    let typed = "";
    const finish = () => {
      input.off("data", onData);
      input.setRawMode(false);
      input.pause();
      writeSync(tty, "\n");
      closeSync(tty);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === "\r" || ch === "\n") {
          finish();
          resolve(typed);
          return;
        }
        if (ch === "\u0003" || ch === "\u0004") {
          finish();
          reject(new Error("cancelled at the SO PIN prompt"));
          return;
        }
        if (ch === "\u007f" || ch === "\b") typed = typed.slice(0, -1);
        else typed += ch;
      }
    };
    input.on("data", onData);
  });
}

async function soPinFor(token: HsmTokenEnv, why: string, known: Pins): Promise<string> {
  const pin = known.get(token.tokenLabel);
  if (pin !== undefined) return pin;
  const variable =
    token.role === "primary"
      ? "KEYWARD_HSM_SO_PIN"
      : "the variable named by its soPinEnv in KEYWARD_HSM_TOKENS";
  if (!process.stdin.isTTY) {
    throw new Error(
      `HSM token '${token.tokenLabel}' needs its security officer's PIN to ${why}, and Keyward does not keep it on this host. Run "npm start" on a terminal to be asked for it, or set ${variable} for this one run.`,
    );
  }
  const typed = await askWithoutEcho(
    `HSM token '${token.tokenLabel}' needs its security officer's PIN to ${why}.\nSecurity officer PIN (not shown): `,
  );
  if (typed.length < 4 || typed.length > 255) throw new Error("An SO PIN is 4 to 255 characters.");
  known.set(token.tokenLabel, typed);
  return typed;
}

function targetOf(token: HsmTokenEnv) {
  const { library, tokenLabel, softhsmConf, pinSource } = token;
  return { library, tokenLabel, softhsmConf, pinSource };
}

async function main(): Promise<void> {
  const [primary, ...replicas] = env().hsm.tokens;
  if (primary === undefined) throw new Error("no HSM token is configured");
  const userLogin = (token: HsmTokenEnv): UserLogin => ({ target: targetOf(token), pin: token.pin });
  const seen = await inspectSharedKek({ source: userLogin(primary), replicas: replicas.map(userLogin) });
  const done = seen.source !== null && seen.needed.length === 0;
  if (!done) {
    // Read here, used by the ceremony, dropped when this process ends: the app itself never holds SO PINs.
    const known: Pins = new Map([...hsmSoPins(process.env, { missing: "skip" }), ...handedOver()]);
    const needing = replicas.filter((r) => seen.needed.includes(r.tokenLabel));
    const why =
      seen.source === null
        ? "create the backup key-encryption key"
        : "give a new token the backup key-encryption key";
    const login = async (token: HsmTokenEnv): Promise<SoLogin> => ({
      target: targetOf(token),
      soPin: await soPinFor(token, why, known),
    });
    const source = await login(primary);
    const logins: SoLogin[] = [];
    for (const replica of needing) logins.push(await login(replica));
    const kek = await shareBackupKek({ source, replicas: logins });
    const state = kek.created ? "created" : "present";
    console.log(`HSM: backup key-encryption key ${state} on token '${primary.tokenLabel}' (id ${kek.id})`);
    for (const label of kek.cloned) {
      console.log(
        `HSM: backup key-encryption key copied to token '${label}' under a one-time transport key, and proven the same`,
      );
    }
    for (const label of kek.present)
      console.log(`HSM: backup key-encryption key present on token '${label}' (proven the same)`);
  } else {
    console.log(
      `HSM: backup key-encryption key present on token '${primary.tokenLabel}' (id ${seen.source?.id})`,
    );
  }
  for (const label of seen.same)
    console.log(`HSM: backup key-encryption key present on token '${label}' (proven the same)`);
  if (seen.source !== null && !seen.source.unwrapTemplate) {
    console.log(
      `HSM: WARNING: the backup key-encryption key on token '${primary.tokenLabel}' was made before unwrap templates, so the user PIN could unwrap a wrapped-only key in plaintext through it. Keyward makes no wrapped-only keys on these tokens; a new KEK (new tokens) is needed to make them again.`,
    );
  }
}

main()
  .catch((e: unknown) => {
    console.error(`HSM setup failed: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 1;
  })
  .finally(closeHsm);
