// Builds the HSM pool's worker thread into the installation: server/hsm/pool/worker-entry.ts and everything
// it imports (pkcs11js excepted: a native addon, loaded from node_modules at run time) bundled by esbuild into
// <root>/server/hsm/.build/hsm-pool-worker.mjs, with <root>/server/hsm/.build/hsm-pool-worker.json recording the sha256 of the
// output and of every input, which server/hsm/pool/worker-file.ts checks before a pool starts a thread.
// `testing: true` also builds the worker tests start (server/hsm/testing/pool-worker-entry.ts), which adds
// test-only operations; the server never starts that one. Nothing is rebuilt while its record still matches.
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const OUT_DIR = path.join(ROOT, "server", "hsm", ".build");

export const WORKERS = {
  "hsm-pool-worker": "server/hsm/pool/worker-entry.ts",
  "hsm-pool-worker-testing": "server/hsm/testing/pool-worker-entry.ts",
};

function sha256(file) {
  try {
    return createHash("sha256").update(readFileSync(file)).digest("hex");
  } catch {
    return undefined;
  }
}

function upToDate(name) {
  try {
    const manifest = JSON.parse(readFileSync(path.join(OUT_DIR, `${name}.json`), "utf8"));
    if (manifest.entry !== WORKERS[name] || sha256(path.join(OUT_DIR, `${name}.mjs`)) !== manifest.output)
      return false;
    return Object.entries(manifest.inputs).every(([input, hash]) => sha256(path.join(ROOT, input)) === hash);
  } catch {
    return false;
  }
}

/** Written beside the target, then renamed: a reader never sees half a file. */
function writeAtomically(file, content) {
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, content);
  renameSync(temp, file);
}

function buildOne(name) {
  // Loaded only when a build is needed: prepare.mjs imports this file before dependencies may be installed.
  // Synchronous, so `npm start` has the worker before it starts the server.
  const { buildSync } = createRequire(import.meta.url)("esbuild");
  const result = buildSync({
    absWorkingDir: ROOT,
    entryPoints: [WORKERS[name]],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    write: false,
    metafile: true,
    outfile: path.join(OUT_DIR, `${name}.mjs`),
    external: ["pkcs11js"],
    // `import "server-only"` marks server modules; the worker is one, so it resolves to the package's empty module.
    alias: { "server-only": "./node_modules/server-only/empty.js" },
    // Bundled CommonJS dependencies may call require(); an ES module has none of its own.
    banner: {
      js: 'import { createRequire as __keywardRequire } from "node:module"; const require = __keywardRequire(import.meta.url);',
    },
    logLevel: "warning",
  });
  const [output] = result.outputFiles;
  const inputs = {};
  for (const input of Object.keys(result.metafile.inputs).sort()) {
    const hash = sha256(path.join(ROOT, input));
    if (hash === undefined) throw new Error(`build-hsm-worker: cannot read input ${input}`);
    inputs[input] = hash;
  }
  mkdirSync(OUT_DIR, { recursive: true });
  writeAtomically(output.path, output.contents);
  const manifest = {
    entry: WORKERS[name],
    output: createHash("sha256").update(output.contents).digest("hex"),
    inputs,
  };
  writeAtomically(path.join(OUT_DIR, `${name}.json`), `${JSON.stringify(manifest, null, 2)}\n`);
  return output.path;
}

/** Builds the worker(s) whose record no longer matches the sources; returns what was built. */
export function buildHsmWorkers({ testing = false } = {}) {
  const names = testing ? Object.keys(WORKERS) : ["hsm-pool-worker"];
  const built = [];
  for (const name of names) if (!upToDate(name)) built.push(buildOne(name));
  return built;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const built = buildHsmWorkers({ testing: process.argv.includes("--testing") });
  console.log(
    built.length > 0
      ? `built ${built.map((f) => path.relative(ROOT, f)).join(", ")}`
      : "HSM worker up to date",
  );
}
