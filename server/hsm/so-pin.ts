// The security officer's PIN, needed only by the setup ceremony (scripts/hsm-setup.ts). server/env.ts does
// not carry it because the running app never logs in as SO. It must never be logged or kept in memory
// longer than the ceremony: callers read it, use it and drop it.
import "server-only";
import { readFileSync } from "node:fs";
import { z } from "zod";
import { ConfigError, secretsPath } from "../env";

const soPinSchema = z.string().min(4);
const secretsSchema = z.object({ hsmSoPin: soPinSchema });

/**
 * The SO PIN from KEYWARD_HSM_SO_PIN, else from hsmSoPin in <dataDir>/secrets.json — the same order
 * env.ts uses for the user PIN. `raw` is the raw environment handed in by the script's entry point, so
 * this module never reads process.env itself.
 */
export function soPinFrom(raw: Readonly<Record<string, string | undefined>>, dataDir: string): string {
  const fromEnv = raw.KEYWARD_HSM_SO_PIN;
  if (fromEnv !== undefined && fromEnv !== "") {
    if (!soPinSchema.safeParse(fromEnv).success) {
      throw new ConfigError("KEYWARD_HSM_SO_PIN must be at least 4 characters");
    }
    return fromEnv;
  }
  const file = secretsPath(dataDir);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    throw new ConfigError(`No SO PIN: set KEYWARD_HSM_SO_PIN, or run "npm start" once to create ${file}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ConfigError(`${file} is not valid JSON; remove it and run npm start`);
  }
  const parsed = secretsSchema.safeParse(json);
  if (!parsed.success) throw new ConfigError(`${file} has no valid hsmSoPin; remove it and run npm start`);
  return parsed.data.hsmSoPin;
}
