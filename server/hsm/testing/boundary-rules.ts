// Who may import what of server/hsm, checked on source text (ARCHITECTURE.md's one rule, widened as
// server/hsm/README.md says). Pure: boundary.test.ts feeds it the repository's files, boundary-rules.test.ts
// synthetic ones, so each kind of violation is shown to be caught.
import path from "node:path";

export type SourceFile = { path: string; text: string };
export type ViolationKind =
  /** pkcs11js imported outside server/hsm and the named benchmark baselines. */
  | "pkcs11js-outside-hsm"
  /** A server/hsm module importing pkcs11js whose first import is not `import "server-only";`. */
  | "pkcs11js-not-server-only"
  /** A path inside server/hsm other than its facades imported from outside it. */
  | "deep-import"
  /** server/hsm/signer imported by something other than the operation executor or the audit checkpointer. */
  | "signer-import"
  /** server/hsm/ceremonies imported by something other than scripts/. */
  | "ceremony-import"
  /** server/hsm/testing imported by production code (not a test, not the benchmark). */
  | "testing-import";
export type Violation = { kind: ViolationKind; file: string; specifier: string };

const HSM = "server/hsm";
/** The benchmark's raw baselines: the only files outside server/hsm that may import pkcs11js. */
export const PKCS11JS_EXCEPTIONS: readonly string[] = [
  "bench/hsm-raw.ts",
  "bench/hsm-raw-threads.ts",
  "bench/hsm-raw-async.ts",
];

/** Static `import … from`, `export … from`, side-effect `import "x"`, dynamic `import("x")`, `require("x")`. */
const SPECIFIERS = [
  /\b(?:import|export)\s+(?:type\s+)?[^'";]*?\bfrom\s*["']([^"']+)["']/g,
  /\bimport\s*["']([^"']+)["']/g,
  /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g,
  /\brequire\s*\(\s*["']([^"']+)["']\s*\)/g,
];

export function specifiersOf(text: string): string[] {
  return SPECIFIERS.flatMap((pattern) => [...text.matchAll(pattern)].map((m) => m[1] ?? ""));
}

/**
 * What a specifier names, as a repository path without extension or trailing `/index` (`server/hsm` for the
 * folder's index), or the package name for a bare specifier.
 */
export function targetOf(from: string, specifier: string): string {
  let target: string;
  if (specifier.startsWith("@/")) target = specifier.slice(2);
  else if (specifier.startsWith(".")) target = path.posix.join(path.posix.dirname(from), specifier);
  else
    return specifier.split("/")[0]?.startsWith("@")
      ? specifier.split("/").slice(0, 2).join("/")
      : (specifier.split("/")[0] ?? specifier);
  return path.posix
    .normalize(target)
    .replace(/\.(ts|tsx|mts|cts|js|mjs|cjs|jsx)$/, "")
    .replace(/\/index$/, "");
}

const inside = (file: string, folder: string) => file === folder || file.startsWith(`${folder}/`);
const isTest = (file: string) => /\.test\.tsx?$/.test(file) || inside(file, "e2e");

/** Why `from` may not import `target` (a repository path), or undefined when it may. */
function refusal(from: string, target: string): ViolationKind | undefined {
  if (!inside(target, HSM)) return undefined;
  if (inside(target, `${HSM}/testing`)) {
    return isTest(from) || inside(from, `${HSM}/testing`) || inside(from, "bench")
      ? undefined
      : "testing-import";
  }
  if (inside(from, HSM)) return undefined;
  if (target === HSM) return undefined;
  if (target === `${HSM}/signer`) {
    return inside(from, "server/operations") || from.startsWith("server/audit/checkpoint")
      ? undefined
      : "signer-import";
  }
  if (inside(target, `${HSM}/ceremonies`)) return inside(from, "scripts") ? undefined : "ceremony-import";
  return "deep-import";
}

export function checkBoundary(files: readonly SourceFile[]): Violation[] {
  const violations: Violation[] = [];
  for (const file of files) {
    const specifiers = specifiersOf(file.text);
    for (const specifier of specifiers) {
      const target = targetOf(file.path, specifier);
      if (target === "pkcs11js") {
        if (!inside(file.path, HSM) && !PKCS11JS_EXCEPTIONS.includes(file.path)) {
          violations.push({ kind: "pkcs11js-outside-hsm", file: file.path, specifier });
        }
        continue;
      }
      const kind = refusal(file.path, target);
      if (kind !== undefined) violations.push({ kind, file: file.path, specifier });
    }
    if (inside(file.path, HSM) && !isTest(file.path) && specifiers.some((s) => s === "pkcs11js")) {
      const first = file.text.split("\n").find((line) => line.startsWith("import "));
      if (first !== 'import "server-only";') {
        violations.push({ kind: "pkcs11js-not-server-only", file: file.path, specifier: "pkcs11js" });
      }
    }
  }
  return violations;
}
