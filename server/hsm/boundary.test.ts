// The rules of who may import what (server/hsm/README.md, "Who may import what"), on every source file of
// the repository, so a new import anywhere fails here: pkcs11js only inside server/hsm (and the two named
// benchmark baselines), server-only first in each server/hsm module that uses it, the facades, the signer
// for the executor and the audit checkpointer only, the ceremonies for scripts/ only, testing/ for tests.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { checkBoundary, type SourceFile, specifiersOf } from "./testing/boundary-rules";

const ROOT = path.resolve(import.meta.dirname, "../..");
const SKIP = new Set(["node_modules", "data", "test-results", "playwright-report"]);
const SOURCE = /\.(ts|tsx|mts|cts|js|mjs|cjs|jsx)$/;

function sources(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    // Dot folders (.git, .next, server/hsm/.build: build output) are not sources.
    if (SKIP.has(entry.name) || entry.name.startsWith(".")) return [];
    const rel = dir === "" ? entry.name : `${dir}/${entry.name}`;
    if (entry.isDirectory()) return sources(rel);
    return SOURCE.test(entry.name) ? [rel] : [];
  });
}

const files: SourceFile[] = sources("").map((file) => ({
  path: file,
  text: readFileSync(path.join(ROOT, file), "utf8"),
}));
const importers = (specifier: string) =>
  files.filter((f) => specifiersOf(f.text).includes(specifier)).map((f) => f.path);

describe("the HSM boundary, on this repository", () => {
  it("scans the files that matter (the scan itself works)", () => {
    expect(importers("pkcs11js")).toContain("server/hsm/pkcs11/pkcs11.ts");
    expect(importers("pkcs11js")).toContain("bench/hsm-raw.ts");
    expect(importers("@/server/hsm")).toContain("server/api/routers/status.ts");
  });

  it("has no import that breaks a rule", () => {
    expect(checkBoundary(files)).toEqual([]);
  });
});
