// Which file an HsmPool worker thread runs: JavaScript built into the installation by
// scripts/build-hsm-worker.mjs (`npm start`, `npm test` and vitest's global setup build it), at a path fixed
// by the installation itself — never a file found from the working directory, and never TypeScript compiled
// on the fly. Before a pool starts, the build is checked against the sources it was made from (content
// hashes recorded beside it), so changed code is refused with a clear message instead of old code running.
import "server-only";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { installRoot } from "../../install-root";
import { HsmError } from "../pkcs11/errors";

/** Build output folder inside the installation (git-ignored): beside the sources it is built from, so the one file that loads pkcs11js outside TypeScript still lives under server/hsm/. */
export const WORKER_BUILD_DIR = path.join("server", "hsm", ".build");
/** The server's worker; the testing build (server/hsm/testing) adds test-only operations to it. */
export const INSTALLED_WORKER = "hsm-pool-worker";

/** What the build records beside `<name>.mjs` in `<name>.json`: hashes of its output and of every input. */
const manifestSchema = z.object({
  entry: z.string(),
  output: z.string().regex(/^[0-9a-f]{64}$/),
  /** Input path relative to the installation → sha256 of its content when built. */
  inputs: z.record(z.string(), z.string().regex(/^[0-9a-f]{64}$/)),
});

function sha256(file: string): string | undefined {
  try {
    return createHash("sha256").update(readFileSync(file)).digest("hex");
  } catch {
    return undefined;
  }
}

/**
 * The absolute path of the built worker `name` in the installation at `root`, after checking that it is
 * there and was built from the sources as they are now. Throws HsmError "misconfigured" otherwise.
 */
export function builtWorker(name: string = INSTALLED_WORKER, root: string = installRoot()): string {
  const file = path.join(root, WORKER_BUILD_DIR, `${name}.mjs`);
  const refuse = (why: string) =>
    new HsmError(
      "misconfigured",
      `The HSM worker ${file} ${why}; rebuild it with \`node scripts/prepare.mjs\` (npm start and npm test do).`,
      { operation: "start" },
    );
  let manifest: z.infer<typeof manifestSchema>;
  try {
    manifest = manifestSchema.parse(
      JSON.parse(readFileSync(path.join(root, WORKER_BUILD_DIR, `${name}.json`), "utf8")),
    );
  } catch {
    throw refuse("is missing or has no readable build record");
  }
  if (sha256(file) !== manifest.output) throw refuse("is missing or is not the file its build recorded");
  for (const [input, hash] of Object.entries(manifest.inputs)) {
    if (sha256(path.join(root, input)) !== hash)
      throw refuse(`is stale: ${input} changed since it was built`);
  }
  return file;
}
