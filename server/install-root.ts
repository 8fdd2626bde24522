// Where this Keyward installation is: the folder holding Keyward's package.json, found from this module's own
// file and never from the working directory. A server started from another folder must still run the code
// and migrations it was installed with, not whatever that folder holds. Under `next start` this module runs
// from a chunk in <root>/.next/server, which is inside the installation too, so the same walk finds it.
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const PACKAGE_NAME = "keyward";

function isKeywardPackage(dir: string): boolean {
  try {
    const parsed: unknown = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8"));
    return typeof parsed === "object" && parsed !== null && Reflect.get(parsed, "name") === PACKAGE_NAME;
  } catch {
    return false;
  }
}

/** The nearest folder at or above `start` whose package.json is Keyward's. */
export function installRootFrom(start: string): string {
  for (let dir = path.resolve(start); ; dir = path.dirname(dir)) {
    if (isKeywardPackage(dir)) return dir;
    if (path.dirname(dir) === dir) {
      throw new Error(`No Keyward installation (a package.json named "${PACKAGE_NAME}") above ${start}.`);
    }
  }
}

let root: string | undefined;

/** The installation this code runs from (computed once). */
export function installRoot(): string {
  root ??= installRootFrom(path.dirname(fileURLToPath(import.meta.url)));
  return root;
}
