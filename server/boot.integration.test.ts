// A refusal at start-up ends the process: a second server on a data folder in use prints one line and exits 1.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { lockDataFolder } from "@/db/lock";

const dataDir = mkdtempSync(path.join(tmpdir(), "keyward-boot-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

/** Runs instrumentation.ts's register() as `next start` does, in a process of its own. */
function startSecondServer() {
  return spawnSync(
    process.execPath,
    [
      "--conditions=react-server",
      "--import",
      "tsx",
      "--input-type=module",
      "-e",
      'const { register } = await import("./instrumentation.ts"); await register(); console.log("still running");',
    ],
    {
      cwd: path.resolve("."),
      encoding: "utf8",
      timeout: 60_000,
      env: {
        PATH: process.env.PATH ?? "",
        NODE_ENV: "production",
        NEXT_RUNTIME: "nodejs",
        KEYWARD_DATA_DIR: dataDir,
        AUTH_SECRET: "s".repeat(40),
        KEYWARD_HSM_PIN: "123456",
      },
    },
  );
}

describe("start-up refusal", () => {
  it("prints one line naming the owner and exits non-zero when the data folder is in use", () => {
    // This test process plays the first server: it owns the PGlite folder.
    const release = lockDataFolder(path.join(dataDir, "pglite"));
    try {
      const second = startSecondServer();
      expect(second.status).toBe(1);
      expect(second.stdout).not.toContain("still running");
      const lines = second.stderr.trim().split("\n");
      expect(lines).toEqual([
        `Keyward: The database folder ${path.join(dataDir, "pglite")} is in use by process ${process.pid}. Stop that Keyward server first (PGlite allows one owner).`,
      ]);
    } finally {
      release();
    }
  });

  it("prints one line and exits non-zero on invalid configuration", () => {
    const second = spawnSync(
      process.execPath,
      [
        "--conditions=react-server",
        "--import",
        "tsx",
        "--input-type=module",
        "-e",
        'await (await import("./instrumentation.ts")).register();',
      ],
      {
        cwd: path.resolve("."),
        encoding: "utf8",
        timeout: 60_000,
        env: {
          PATH: process.env.PATH ?? "",
          NODE_ENV: "production",
          NEXT_RUNTIME: "nodejs",
          KEYWARD_DATA_DIR: dataDir,
          KEYWARD_ORIGIN: "not a url",
        },
      },
    );
    expect(second.status).toBe(1);
    expect(second.stderr.trim().split("\n")).toHaveLength(1);
    expect(second.stderr).toContain("Keyward: Invalid configuration: KEYWARD_ORIGIN");
  });
});
