// builtWorker() runs only a worker built from the sources as they are now: a missing build, a replaced
// output file and a changed or removed input are each refused with a clear HsmError.
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { HsmError } from "../pkcs11/errors";
import { builtWorker, INSTALLED_WORKER, WORKER_BUILD_DIR } from "./worker-file";

let root: string;
const sha = (text: string) => createHash("sha256").update(text).digest("hex");

/** A fake installation: one input, its built worker and the build record, as scripts/build-hsm-worker.mjs writes. */
function install(): void {
  mkdirSync(path.join(root, "src"), { recursive: true });
  mkdirSync(path.join(root, WORKER_BUILD_DIR), { recursive: true });
  writeFileSync(path.join(root, "src", "a.ts"), "export const a = 1;\n");
  writeFileSync(path.join(root, WORKER_BUILD_DIR, `${INSTALLED_WORKER}.mjs`), "// built\n");
  const manifest = {
    entry: "src/a.ts",
    output: sha("// built\n"),
    inputs: { "src/a.ts": sha("export const a = 1;\n") },
  };
  writeFileSync(path.join(root, WORKER_BUILD_DIR, `${INSTALLED_WORKER}.json`), JSON.stringify(manifest));
}

function refusal(): HsmError {
  try {
    builtWorker(INSTALLED_WORKER, root);
  } catch (e) {
    if (e instanceof HsmError) return e;
    throw e;
  }
  throw new Error("builtWorker accepted the build");
}

beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), "keyward-worker-file-"));
  install();
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe("builtWorker", () => {
  it("gives the absolute path of a build that matches its sources", () => {
    expect(builtWorker(INSTALLED_WORKER, root)).toBe(
      path.join(root, WORKER_BUILD_DIR, `${INSTALLED_WORKER}.mjs`),
    );
  });

  it("refuses a missing build record", () => {
    unlinkSync(path.join(root, WORKER_BUILD_DIR, `${INSTALLED_WORKER}.json`));
    expect(refusal()).toMatchObject({ reason: "misconfigured", kind: "configuration" });
    expect(refusal().message).toMatch(
      /is missing or has no readable build record; rebuild it with `node scripts\/prepare.mjs`/,
    );
  });

  it("refuses a missing or replaced worker file", () => {
    writeFileSync(path.join(root, WORKER_BUILD_DIR, `${INSTALLED_WORKER}.mjs`), "// something else\n");
    expect(refusal().message).toContain("is not the file its build recorded");
    unlinkSync(path.join(root, WORKER_BUILD_DIR, `${INSTALLED_WORKER}.mjs`));
    expect(refusal().message).toContain("is not the file its build recorded");
  });

  it("refuses a build older than a changed or removed source, and names the source", () => {
    writeFileSync(path.join(root, "src", "a.ts"), "export const a = 2;\n");
    expect(refusal()).toMatchObject({ reason: "misconfigured" });
    expect(refusal().message).toContain("is stale: src/a.ts changed since it was built");
    unlinkSync(path.join(root, "src", "a.ts"));
    expect(refusal().message).toContain("is stale: src/a.ts changed since it was built");
  });
});
