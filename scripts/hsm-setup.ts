// The security officer's setup step, run by scripts/prepare-hsm.mjs after the token exists:
//   node --conditions=react-server --import tsx scripts/hsm-setup.ts
// It creates the trusted backup KEK if the token has none. It prints no PIN, and exits non-zero with the
// HSM's clear message when something is wrong.
import { env } from "../server/env";
import { closeHsm, ensureBackupKek, soPinFrom } from "../server/hsm";

async function main(): Promise<void> {
  const config = env();
  const { library, tokenLabel, softhsmConf } = config.hsm;
  // The entry point hands the raw environment in; soPinFrom never reads process.env on its own.
  const kek = await ensureBackupKek({
    soPin: soPinFrom(process.env, config.dataDir),
    target: { library, tokenLabel, softhsmConf },
  });
  const state = kek.created ? "created" : "present";
  console.log(`HSM: backup key-encryption key ${state} on token '${tokenLabel}' (id ${kek.id})`);
}

main()
  .catch((e: unknown) => {
    console.error(`HSM setup failed: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 1;
  })
  .finally(closeHsm);
