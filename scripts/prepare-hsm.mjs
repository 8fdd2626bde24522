// Prepares SoftHSM for Keyward in the data folder: secrets file, SoftHSM config, every configured token
// (the primary and its replicas, all in one SoftHSM configuration), and the SOs' shared backup KEK.
// Idempotent and quiet about secrets: no PIN is ever printed or logged.
//   node scripts/prepare-hsm.mjs   (KEYWARD_DATA_DIR or ./data; tokens as in server/env-hsm.ts:
//                                    KEYWARD_HSM_TOKENS, or KEYWARD_HSM_TOKEN_LABEL + KEYWARD_HSM_REPLICAS)
// Plain Node on purpose: it runs before anything is built and must not load pkcs11js itself; the one step
// that needs PKCS#11 (the KEK ceremony) runs scripts/hsm-setup.ts through tsx in a child process.
import { spawnSync } from "node:child_process";
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
 * The primary's PINs are hsmUserPin/hsmSoPin; each replica whose PINs are not taken from a variable of its
 * own (pinEnv/soPinEnv) gets fresh ones in hsmTokens[label], added once, when the replica first appears.
 * Returns every token's PINs, primary first.
 */
function ensureSecrets(dataDir, env, specs, log) {
  const file = path.join(dataDir, "secrets.json");
  if (!existsSync(file)) {
    const secrets = {
      authSecret: env.AUTH_SECRET || randomSecret(32),
      hsmUserPin: env.KEYWARD_HSM_PIN || randomSecret(18),
      hsmSoPin: env.KEYWARD_HSM_SO_PIN || randomSecret(18),
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
  const hsmTokens = { ...(stored.hsmTokens ?? {}) };
  const added = [];
  for (const spec of specs.slice(1)) {
    const entry = { ...(hsmTokens[spec.label] ?? {}) };
    if (spec.pinEnv === undefined && entry.userPin === undefined) entry.userPin = randomSecret(18);
    if (spec.soPinEnv === undefined && entry.soPin === undefined) entry.soPin = randomSecret(18);
    if (JSON.stringify(entry) !== JSON.stringify(hsmTokens[spec.label] ?? {})) {
      hsmTokens[spec.label] = entry;
      added.push(`'${spec.label}'`);
    }
  }
  if (added.length > 0) {
    stored = { ...stored, hsmTokens };
    replaceFile(file, `${JSON.stringify(stored, null, 2)}\n`);
    log(`HSM: PINs for token ${added.join(", ")} added to ${file}`);
  }
  return specs.map((spec, i) => {
    const pins = {
      userPin: pinOf("user", spec, i === 0, env, stored),
      soPin: pinOf("so", spec, i === 0, env, stored),
    };
    // SoftHSM takes PINs of 4 to 255 characters.
    for (const [who, pin] of [
      ["user", pins.userPin],
      ["SO", pins.soPin],
    ]) {
      if (typeof pin !== "string" || pin.length < 4 || pin.length > 255) {
        throw new PrepareHsmError(
          `The ${who} PIN of token '${spec.label}' (${file} or the environment) must be 4 to 255 characters`,
        );
      }
    }
    return { spec, pins };
  });
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

function ensureToken(tokenLabel, pins, childEnv, log) {
  const existing = findToken(tokenLabel, childEnv);
  if (existing) {
    log(`HSM: token '${tokenLabel}' ready (serial ${existing.serial})`);
    return existing;
  }
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
  return created;
}

/** The SO ceremony lives in TypeScript beside the rest of server/hsm; run it in its own process. */
function shareBackupKek(childEnv, secrets, log) {
  const result = run(
    process.execPath,
    ["--conditions=react-server", "--import", "tsx", path.join(ROOT, "scripts", "hsm-setup.ts")],
    { cwd: ROOT, env: childEnv },
  );
  const out = redact(result.stdout, secrets);
  if (result.status !== 0) {
    // hsm-setup.ts prefixes its own failure; the caller adds the same prefix again.
    const why =
      redact(result.stderr, secrets).replace(/^HSM setup failed: /, "") ||
      out ||
      `exit status ${result.status}`;
    throw new PrepareHsmError(why);
  }
  for (const line of out.split("\n")) if (line) log(line);
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
  const tokens = ensureSecrets(dir, env, specs, log);
  ensureSofthsmConf(dir, softhsmConf, log);
  const childEnv = {
    ...tokenEnv,
    SOFTHSM2_CONF: softhsmConf,
    KEYWARD_DATA_DIR: dir,
    KEYWARD_HSM_LIBRARY: library,
  };
  // One SoftHSM configuration for all tokens: a process (the app, the ceremony) can load only one.
  const made = tokens.map(({ spec, pins }, i) => {
    const role = i === 0 ? "primary" : "replica";
    if (!isSoftHsm(spec.library)) {
      log(`HSM: token '${spec.label}' is on ${spec.library}; initialise it with its vendor's tools`);
      return { label: spec.label, role, serial: undefined };
    }
    return { label: spec.label, role, serial: ensureToken(spec.label, pins, childEnv, log).serial };
  });
  shareBackupKek(
    childEnv,
    tokens.flatMap(({ pins }) => [pins.userPin, pins.soPin]),
    log,
  );
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
