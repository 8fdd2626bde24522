// installRoot() is found from the module's own file, whatever the working directory.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { installRoot, installRootFrom } from "./install-root";

const repository = path.resolve(import.meta.dirname, "..");
const temp = mkdtempSync(path.join(tmpdir(), "keyward-root-"));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

describe("installRoot", () => {
  it("is the folder holding Keyward's package.json above this module, not the working directory", () => {
    const cwd = process.cwd();
    try {
      process.chdir(temp);
      expect(installRoot()).toBe(repository);
    } finally {
      process.chdir(cwd);
    }
  });

  it("skips package.json files of other packages on the way up (e.g. .next/package.json)", () => {
    mkdirSync(path.join(temp, "app", ".next", "server", "chunks"), { recursive: true });
    writeFileSync(path.join(temp, "app", "package.json"), JSON.stringify({ name: "keyward" }));
    writeFileSync(path.join(temp, "app", ".next", "package.json"), JSON.stringify({ type: "commonjs" }));
    expect(installRootFrom(path.join(temp, "app", ".next", "server", "chunks"))).toBe(path.join(temp, "app"));
  });

  it("throws when no Keyward installation is above the start", () => {
    mkdirSync(path.join(temp, "lone"), { recursive: true });
    expect(() => installRootFrom(path.join(temp, "lone"))).toThrow(/No Keyward installation/);
  });
});
