// Proves the server-only packages stay out of what browsers download: no client chunk may mention pkcs11js
// or PGlite. Run after `next build`; exits non-zero naming the offending files.
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const STATIC = path.join(ROOT, ".next", "static");
const FORBIDDEN = ["pkcs11js", "pkcs11.node", "@electric-sql/pglite", "C_Initialize"];

function* files(dir) {
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) yield* files(full);
    else if (name.endsWith(".js")) yield full;
  }
}

let checked = 0;
const offenders = [];
for (const file of files(STATIC)) {
  checked++;
  const text = readFileSync(file, "utf8");
  for (const word of FORBIDDEN) if (text.includes(word)) offenders.push(`${path.relative(ROOT, file)} contains "${word}"`);
}
if (checked === 0) {
  console.error("No client bundles found: run next build first.");
  process.exit(1);
}
if (offenders.length > 0) {
  console.error(`Server-only code reached the browser bundles:\n${offenders.join("\n")}`);
  process.exit(1);
}
console.log(`Client bundles clean: ${checked} files, none mention ${FORBIDDEN.join(", ")}.`);
