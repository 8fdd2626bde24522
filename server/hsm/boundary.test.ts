// The one rule (ARCHITECTURE.md): server/hsm is the only code that imports pkcs11js, and each of its files
// that does is server-only. Scans every source file of the repository, so a new import anywhere fails here.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(__dirname, "../..");
const SKIP = new Set(["node_modules", ".next", ".git", "data", "test-results", "playwright-report"]);
const SOURCE = /\.(ts|tsx|mts|cts|js|mjs|cjs|jsx)$/;
/** import … from "pkcs11js", import "pkcs11js", import("pkcs11js"), require("pkcs11js"). */
const IMPORTS_PKCS11 = /(?:from\s*|import\s*\(?\s*|require\s*\(\s*)["']pkcs11js["']/;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (SKIP.has(entry.name) || entry.name.startsWith(".")) return [];
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sources(full);
    return SOURCE.test(entry.name) ? [full] : [];
  });
}

const importers = sources(ROOT)
  .filter((file) => IMPORTS_PKCS11.test(readFileSync(file, "utf8")))
  .map((file) => path.relative(ROOT, file));

describe("the HSM boundary", () => {
  it("finds the files that import pkcs11js (the scan itself works)", () => {
    expect(importers).toContain(path.join("server", "hsm", "pkcs11", "pkcs11.ts"));
  });

  it("lets nothing outside server/hsm import pkcs11js", () => {
    expect(importers.filter((file) => !file.startsWith(`server${path.sep}hsm${path.sep}`))).toEqual([]);
  });

  it("makes every server/hsm module that imports pkcs11js server-only, before any other import", () => {
    const modules = importers.filter(
      (file) => file.startsWith(`server${path.sep}hsm${path.sep}`) && !file.endsWith(".test.ts"),
    );
    const notServerOnly = modules.filter((file) => {
      const firstImport = readFileSync(path.join(ROOT, file), "utf8")
        .split("\n")
        .find((line) => line.startsWith("import "));
      return firstImport !== 'import "server-only";';
    });
    expect(notServerOnly).toEqual([]);
  });
});
