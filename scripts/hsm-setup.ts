// The security officers' setup step, run by scripts/prepare-hsm.mjs after the tokens exist:
//   node --conditions=react-server --import tsx scripts/hsm-setup.ts
// It gives every configured token the same shareable backup KEK (created on the primary if it has none,
// then carried to each replica wrapped under a one-time RSA transport key; see server/hsm/README.md).
// A single-token install runs the same ceremony with no replicas, so a replica can be added later.
// Idempotent. It prints no PIN, and exits non-zero with the HSM's clear message when something is wrong.
import { env, type HsmTokenEnv, hsmSoPins } from "../server/env";
import { closeHsm } from "../server/hsm";
import { type SoLogin, shareBackupKek } from "../server/hsm/ceremonies/kek-sharing";

async function main(): Promise<void> {
  const [primary, ...replicas] = env().hsm.tokens;
  if (primary === undefined) throw new Error("no HSM token is configured");
  // Read here, used by the ceremony, dropped when this process ends: the app itself never holds SO PINs.
  const soPins = hsmSoPins();
  const login = (token: HsmTokenEnv): SoLogin => {
    const soPin = soPins.get(token.tokenLabel);
    if (soPin === undefined) throw new Error(`no SO PIN for HSM token '${token.tokenLabel}'`);
    const { library, tokenLabel, softhsmConf, pinSource } = token;
    return { target: { library, tokenLabel, softhsmConf, pinSource }, soPin };
  };
  const kek = await shareBackupKek({ source: login(primary), replicas: replicas.map(login) });
  const state = kek.created ? "created" : "present";
  console.log(`HSM: backup key-encryption key ${state} on token '${primary.tokenLabel}' (id ${kek.id})`);
  for (const label of kek.cloned) {
    console.log(
      `HSM: backup key-encryption key copied to token '${label}' under a one-time transport key, and proven the same`,
    );
  }
  for (const label of kek.present)
    console.log(`HSM: backup key-encryption key present on token '${label}' (proven the same)`);
}

main()
  .catch((e: unknown) => {
    console.error(`HSM setup failed: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 1;
  })
  .finally(closeHsm);
