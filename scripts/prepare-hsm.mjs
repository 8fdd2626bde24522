// Prepares SoftHSM for Keyward in the data folder: secrets file, SoftHSM config, every configured token
// (the primary and its replicas, all in one SoftHSM configuration), and the SOs' shared backup KEK.
// Idempotent and quiet about secrets: no PIN is ever printed or logged.
//   node scripts/prepare-hsm.mjs   (KEYWARD_DATA_DIR or ./data; tokens as in server/env-hsm.ts:
//                                    KEYWARD_HSM_TOKENS, or KEYWARD_HSM_TOKEN_LABEL + KEYWARD_HSM_REPLICAS)
// Plain Node on purpose: it runs before anything is built and must not load pkcs11js itself; the one step
// that needs PKCS#11 (the KEK ceremony) runs scripts/hsm-setup.ts through tsx in a child process.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  accessSync,
  chmodSync,
  constants,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { DEFAULT_LIBRARY, isSoftHsm, pinOf, TokenConfigError, tokenSpecs } from "./hsm-tokens.mjs";
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export class PrepareHsmError extends Error {
  name = "PrepareHsmError";
}

const randomSecret = (bytes) => randomBytes(bytes).toString("base64url");

/** Replaces every secret in a child's output before it is shown: belt and braces, none should be there. */
function redact(text, secrets) {
  let out = text;
  for (const secret of secrets) if (secret) out = out.split(secret).join("[redacted]");
  return out.trim();
}

/** The secrets file as it is before this run, or undefined for a new data folder. */
function readSecretsIfAny(dataDir) {
  const file = path.join(dataDir, "secrets.json");
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch {
    throw new PrepareHsmError(`${file} is not valid JSON; remove it and run again`);
  }
}

/** Replaces the file in one step (write beside it, then rename), keeping mode 0600. */
function replaceFile(file, text) {
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, text, { flag: "wx", mode: 0o600 });
  renameSync(temporary, file);
}

/**
 * <dataDir>/secrets.json, created once with mode 0600. Values given in the environment win over the file,
 * as in server/env.ts, and seed it when it is first created so the tokens and the app agree on the PINs.
 * The primary's user PIN is hsmUserPin; each replica whose user PIN is not taken from a variable of its own
 * (pinEnv) gets a fresh one in hsmTokens[label], added once, when the replica first appears.
 * Security officer PINs are never written: a folder made before that still holding them (hsmSoPin,
 * hsmTokens[label].soPin) has them removed, and they are returned so the caller can show them once.
 * Returns every token's user PIN, primary first, and the SO PINs just removed by label.
 */
function ensureSecrets(dataDir, env, specs, log) {
  const file = path.join(dataDir, "secrets.json");
  if (!existsSync(file)) {
    const secrets = {
      authSecret: env.AUTH_SECRET || randomSecret(32),
      hsmUserPin: env.KEYWARD_HSM_PIN || randomSecret(18),
    };
    // "wx": never overwrite a file another run created meanwhile; mode applies at creation.
    writeFileSync(file, `${JSON.stringify(secrets, null, 2)}\n`, { flag: "wx", mode: 0o600 });
    log(`HSM: secrets created in ${file} (mode 0600)`);
  } else if ((statSync(file).mode & 0o077) !== 0) {
    chmodSync(file, 0o600);
    log(`HSM: ${file} was readable by others; set it to mode 0600`);
  }
  let stored;
  try {
    stored = JSON.parse(readFileSync(file, "utf8"));
  } catch {
    throw new PrepareHsmError(`${file} is not valid JSON; remove it and run again`);
  }
  const removed = new Map();
  const { hsmSoPin, ...rest } = stored;
  if (typeof hsmSoPin === "string" && specs[0] !== undefined) removed.set(specs[0].label, hsmSoPin);
  const hsmTokens = {};
  for (const [label, entry] of Object.entries(rest.hsmTokens ?? {})) {
    const { soPin, ...kept } = entry ?? {};
    if (typeof soPin === "string") removed.set(label, soPin);
    hsmTokens[label] = kept;
  }
  const added = [];
  for (const spec of specs.slice(1)) {
    const entry = { ...(hsmTokens[spec.label] ?? {}) };
    if (spec.pinEnv === undefined && entry.userPin === undefined) {
      entry.userPin = randomSecret(18);
      hsmTokens[spec.label] = entry;
      added.push(`'${spec.label}'`);
    }
  }
  const next = { ...rest, ...(Object.keys(hsmTokens).length > 0 ? { hsmTokens } : {}) };
  if (added.length > 0 || removed.size > 0 || hsmSoPin !== undefined) {
    stored = next;
    replaceFile(file, `${JSON.stringify(stored, null, 2)}\n`);
    if (added.length > 0) log(`HSM: PINs for token ${added.join(", ")} added to ${file}`);
  }
  const tokens = specs.map((spec, i) => {
    const userPin = pinOf("user", spec, i === 0, env, stored);
    // SoftHSM takes PINs of 4 to 255 characters.
    if (typeof userPin !== "string" || userPin.length < 4 || userPin.length > 255) {
      throw new PrepareHsmError(
        `The user PIN of token '${spec.label}' (${file} or the environment) must be 4 to 255 characters`,
      );
    }
    return { spec, userPin };
  });
  return { tokens, removed, file };
}

/**
 * The one time Keyward shows security officer PINs: boxed, like Vault's unseal keys, for the officers to
 * write down and keep offline. Later ceremonies (a new replica, a new KEK) ask for them on the terminal.
 */
function soPinNotice(title, lines, pins) {
  const rows = [
    ...title,
    "",
    ...[...pins].map(([label, pin]) => `  ${label.padEnd(32)}  ${pin}`),
    "",
    ...lines,
  ];
  const width = Math.max(...rows.map((r) => r.length)) + 2;
  return [
    "",
    `  ┌${"─".repeat(width + 2)}┐`,
    ...rows.map((r) => `  │ ${r.padEnd(width)} │`),
    `  └${"─".repeat(width + 2)}┘`,
    "",
  ].join("\n");
}

/** SoftHSM's config keeps its tokens inside the data folder instead of the system-wide /var/lib/softhsm. */
function ensureSofthsmConf(dataDir, confPath, log) {
  const tokenDir = path.join(dataDir, "softhsm", "tokens");
  mkdirSync(tokenDir, { recursive: true, mode: 0o700 });
  if (!existsSync(confPath)) {
    const conf = [
      "# Written by scripts/prepare-hsm.mjs: Keyward's SoftHSM tokens live in its data folder.",
      `directories.tokendir = ${tokenDir}`,
      "objectstore.backend = file",
      "log.level = ERROR",
      "",
    ].join("\n");
    writeFileSync(confPath, conf, { flag: "wx", mode: 0o600 });
    log(`HSM: SoftHSM configuration written to ${confPath}`);
  }
}

function onPath(command, env) {
  return (env.PATH ?? "").split(path.delimiter).some((dir) => {
    try {
      accessSync(path.join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function run(command, args, options) {
  const result = spawnSync(command, args, {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    ...options,
  });
  if (result.error) throw new PrepareHsmError(`Could not run ${command}: ${result.error.message}`);
  return result;
}

/** softhsm2-util and the library, installed from Debian when we are root; otherwise say how. */
function ensureSofthsmInstalled(library, env, log) {
  const present = () => onPath("softhsm2-util", env) && existsSync(library);
  if (present()) return;
  if (library !== DEFAULT_LIBRARY && !existsSync(library)) {
    // Installing SoftHSM cannot produce a library somebody named on purpose.
    throw new PrepareHsmError(`KEYWARD_HSM_LIBRARY points to ${library}, which does not exist`);
  }
  const how = `Install SoftHSM first: "sudo apt-get install softhsm2" (Debian/Ubuntu), then run this again.`;
  if (typeof process.getuid !== "function" || process.getuid() !== 0) {
    throw new PrepareHsmError(`SoftHSM is not installed (softhsm2-util or ${library} missing). ${how}`);
  }
  log("HSM: SoftHSM not found; installing the Debian package softhsm2");
  const aptEnv = { ...env, DEBIAN_FRONTEND: "noninteractive" };
  for (const args of [["update"], ["install", "-y", "softhsm2"]]) {
    const result = run("apt-get", args, { env: aptEnv, stdio: ["ignore", "inherit", "inherit"] });
    if (result.status !== 0) throw new PrepareHsmError(`apt-get ${args.join(" ")} failed. ${how}`);
  }
  if (!present()) throw new PrepareHsmError(`softhsm2 installed but ${library} is still missing. ${how}`);
}

/** Parses `softhsm2-util --show-slots` into the initialised tokens it lists. */
export function parseSlots(output) {
  return output
    .split(/^Slot /m)
    .slice(1)
    .map((block) => ({
      initialized: /^\s*Initialized:\s*yes\s*$/m.test(block),
      label: /^\s*Label:[ \t]*(.*)$/m.exec(block)?.[1]?.trimEnd() ?? "",
      serial: /^\s*Serial number:[ \t]*(\S*)/m.exec(block)?.[1] ?? "",
    }))
    .filter((slot) => slot.initialized);
}

function findToken(tokenLabel, childEnv) {
  const shown = run("softhsm2-util", ["--show-slots"], { env: childEnv });
  if (shown.status !== 0) {
    throw new PrepareHsmError(
      `softhsm2-util --show-slots failed: ${shown.stderr.trim() || shown.stdout.trim()}`,
    );
  }
  const tokens = parseSlots(shown.stdout).filter((t) => t.label === tokenLabel);
  if (tokens.length > 1) throw new PrepareHsmError(`More than one SoftHSM token is labelled '${tokenLabel}'`);
  return tokens[0];
}

/** The token, created with `pins()` (user and SO PIN) if it does not exist yet; `created` says which. */
function ensureToken(tokenLabel, makePins, childEnv, log) {
  const existing = findToken(tokenLabel, childEnv);
  if (existing) {
    log(`HSM: token '${tokenLabel}' ready (serial ${existing.serial})`);
    return { ...existing, created: false };
  }
  const pins = makePins();
  // softhsm2-util takes the PINs only on argv (it reads them from a terminal otherwise, and refuses a pipe),
  // so they are visible in the process list for the ~100 ms the command runs, to this machine's users only.
  // Acceptable for SoftHSM, a development HSM; a production HSM is initialised with its vendor's tools.
  const init = run(
    "softhsm2-util",
    ["--init-token", "--free", "--label", tokenLabel, "--so-pin", pins.soPin, "--pin", pins.userPin],
    { env: childEnv },
  );
  if (init.status !== 0) {
    const why = redact(`${init.stderr}\n${init.stdout}`, [pins.soPin, pins.userPin]);
    throw new PrepareHsmError(`softhsm2-util could not create token '${tokenLabel}': ${why}`);
  }
  const created = findToken(tokenLabel, childEnv);
  if (!created)
    throw new PrepareHsmError(`softhsm2-util reported success but token '${tokenLabel}' is not listed`);
  log(`HSM: token '${tokenLabel}' created and ready (serial ${created.serial})`);
  return { ...created, created: true, soPin: pins.soPin };
}

/**
 * The SO ceremony lives in TypeScript beside the rest of server/hsm; run it in its own process. The SO PINs
 * this run knows (tokens just created, PINs just removed from the secrets file) go to it through a pipe on
 * file descriptor 3, never argv or the environment; a terminal is passed on so it can ask for the others.
 */
function shareBackupKek(childEnv, soPins, secrets, log) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--conditions=react-server", "--import", "tsx", path.join(ROOT, "scripts", "hsm-setup.ts")],
      {
        cwd: ROOT,
        env: { ...childEnv, KEYWARD_SO_PINS_FD: "3" },
        stdio: [process.stdin.isTTY ? "inherit" : "ignore", "pipe", "pipe", "pipe"],
      },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk) => {
      stderr += chunk;
    });
    child.stdio[3].on("error", () => {});
    child.stdio[3].end(JSON.stringify(Object.fromEntries(soPins)));
    child.on("error", (e) => reject(new PrepareHsmError(`Could not run the HSM setup: ${e.message}`)));
    child.on("close", (status) => {
      const out = redact(stdout, secrets);
      if (status !== 0) {
        // hsm-setup.ts prefixes its own failure; the caller adds the same prefix again.
        const why =
          redact(stderr, secrets).replace(/^HSM setup failed: /, "") || out || `exit status ${status}`;
        reject(new PrepareHsmError(why));
        return;
      }
      for (const line of out.split("\n")) if (line) log(line);
      resolve();
    });
  });
}

/**
 * Makes the data folder's HSM ready: secrets, SoftHSM configuration, every configured token (the SoftHSM
 * ones; another library's tokens are made with its vendor's tools), and the shared backup KEK.
 * `tokenLabel`, when given, names the primary like KEYWARD_HSM_TOKEN_LABEL. A second run changes nothing.
 * Returns where things are, the primary's label and serial, and every token; never the PINs.
 */
export async function prepareHsm({ dataDir, tokenLabel, log = console.log, env = process.env }) {
  const tokenEnv = tokenLabel === undefined ? env : { ...env, KEYWARD_HSM_TOKEN_LABEL: tokenLabel };
  const dir = path.resolve(dataDir);
  let specs;
  try {
    // An existing folder keeps the replicas it has unless told otherwise; a new one gets the default.
    specs = tokenSpecs(tokenEnv, readSecretsIfAny(dir));
  } catch (e) {
    if (e instanceof TokenConfigError) throw new PrepareHsmError(e.message);
    throw e;
  }
  // Same defaults as server/env.ts, so the app opens exactly what this script prepared.
  const softhsmConf = path.resolve(env.SOFTHSM2_CONF || path.join(dir, "softhsm2.conf"));
  const library = env.KEYWARD_HSM_LIBRARY || DEFAULT_LIBRARY;
  // First, before writing anything: without SoftHSM there is nothing to prepare.
  for (const softhsm of new Set(specs.map((s) => s.library).filter(isSoftHsm)))
    ensureSofthsmInstalled(softhsm, env, log);
  if (mkdirSync(dir, { recursive: true, mode: 0o700 })) log(`HSM: data folder ${dir} created`);
  const { tokens, removed, file } = ensureSecrets(dir, env, specs, log);
  if (removed.size > 0) {
    log(
      soPinNotice(
        [
          "Keyward no longer keeps the security officer (SO) PINs on this host.",
          `They were removed from ${file} now; this is the last time they are shown.`,
        ],
        [
          "Write them down and keep them offline. A later ceremony (a new HSM token,",
          "a new KEK) asks for them on the terminal, or reads KEYWARD_HSM_SO_PIN.",
        ],
        removed,
      ),
    );
  }
  ensureSofthsmConf(dir, softhsmConf, log);
  const childEnv = {
    ...tokenEnv,
    SOFTHSM2_CONF: softhsmConf,
    KEYWARD_DATA_DIR: dir,
    KEYWARD_HSM_LIBRARY: library,
  };
  // One SoftHSM configuration for all tokens: a process (the app, the ceremony) can load only one.
  // SO PINs of the tokens created now: the officer's own (KEYWARD_HSM_SO_PIN, soPinEnv) or a fresh one.
  const soPins = new Map(removed);
  const fresh = new Map();
  const made = tokens.map(({ spec, userPin }, i) => {
    const role = i === 0 ? "primary" : "replica";
    if (!isSoftHsm(spec.library)) {
      log(`HSM: token '${spec.label}' is on ${spec.library}; initialise it with its vendor's tools`);
      return { label: spec.label, role, serial: undefined };
    }
    const makePins = () => {
      const given = pinOf("so", spec, i === 0, env, undefined);
      if (given !== undefined && (given.length < 4 || given.length > 255)) {
        throw new PrepareHsmError(
          `The SO PIN of token '${spec.label}' (the environment) must be 4 to 255 characters`,
        );
      }
      const soPin = given ?? randomSecret(18);
      if (given === undefined) fresh.set(spec.label, soPin);
      return { userPin, soPin };
    };
    const token = ensureToken(spec.label, makePins, childEnv, log);
    if (token.created) soPins.set(spec.label, token.soPin);
    return { label: spec.label, role, serial: token.serial };
  });
  if (fresh.size > 0) {
    log(
      soPinNotice(
        [
          "Security officer (SO) PINs of the HSM tokens created now.",
          "Keyward does not keep them: this is the only time they are shown.",
        ],
        [
          "Write them down and keep them offline. A later ceremony (a new HSM token,",
          "a new KEK) asks for them on the terminal, or reads KEYWARD_HSM_SO_PIN.",
        ],
        fresh,
      ),
    );
  }
  await shareBackupKek(childEnv, soPins, [...tokens.map((t) => t.userPin), ...soPins.values()], log);
  const [primary] = made;
  return {
    dataDir: dir,
    softhsmConf,
    library,
    tokenLabel: primary.label,
    serial: primary.serial,
    tokens: made,
  };
}

const invokedDirectly =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly) {
  prepareHsm({ dataDir: process.env.KEYWARD_DATA_DIR || "./data" }).catch((e) => {
    console.error(`HSM setup failed: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 1;
  });
}
