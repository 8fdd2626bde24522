// Runs after every `npm ci` / `npm install` (the root "postinstall", after patch-package): rebuilds pkcs11js's
// native addon when the one in node_modules was not compiled from the patched sources.
//
// Why a check of its own: npm builds pkcs11js (node-gyp, its install script) *before* the root postinstall
// applies patches/pkcs11js+2.1.7.patch, so a fresh install ends with an addon compiled from the unpatched
// sources. The patch file's own date says nothing here (a fresh checkout gives it the checkout's time, older
// than that build), so the test is on the addon itself: it must contain a message only the patched
// sources have, and be newer than every source file (a later patch that changes the sources again).
// Plain Node: no dependency is needed.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const PACKAGE = path.join(ROOT, "node_modules", "pkcs11js");
const ADDON = path.join(PACKAGE, "build", "Release", "pkcs11.node");
const SOURCES = path.join(PACKAGE, "src");
/** A message in the patched src/pkcs11.cpp (refusing a template nested in a template). */
const PATCHED_MARKER = "A template cannot contain another template";

function sourcesPatched() {
  return readFileSync(path.join(SOURCES, "pkcs11.cpp"), "utf8").includes(PATCHED_MARKER);
}

function addonCurrent() {
  if (!existsSync(ADDON)) return false;
  const built = statSync(ADDON).mtimeMs;
  const newestSource = Math.max(
    ...readdirSync(SOURCES).map((name) => statSync(path.join(SOURCES, name)).mtimeMs),
  );
  return built >= newestSource && readFileSync(ADDON).includes(PATCHED_MARKER);
}

/** npm puts its own node-gyp in reach of lifecycle scripts; outside npm, `npm rebuild` finds it the same way. */
function rebuild() {
  const nodeGyp = process.env.npm_config_node_gyp;
  const [command, args] =
    nodeGyp !== undefined && nodeGyp !== ""
      ? [process.execPath, [nodeGyp, "rebuild"]]
      : ["npm", ["rebuild", "pkcs11js", "--foreground-scripts"]];
  const result = spawnSync(command, args, { cwd: command === "npm" ? ROOT : PACKAGE, stdio: "inherit" });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`rebuilding pkcs11js failed (exit code ${result.status})`);
}

if (!existsSync(PACKAGE)) {
  // Not installed (e.g. `npm ci --omit` of a package set without it): nothing to do.
  process.exit(0);
}
if (!sourcesPatched()) {
  console.error(
    "pkcs11js's sources are not patched: run `npx patch-package --error-on-fail` (it applies patches/pkcs11js+2.1.7.patch) and then this script again.",
  );
  process.exit(1);
}
if (addonCurrent()) {
  console.log("pkcs11js: the native addon is built from the patched sources");
  process.exit(0);
}
console.log("pkcs11js: rebuilding the native addon from the patched sources (nested templates)");
rebuild();
if (!addonCurrent()) {
  console.error("pkcs11js was rebuilt but its addon still lacks the patch; see the build output above.");
  process.exit(1);
}
console.log("pkcs11js: rebuilt");
