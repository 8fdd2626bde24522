// The boot wiring (server/boot.ts), in a server process of its own as `next start` runs it: an operation a dead
// process left executing is recovered at start-up (executed, operation.recovered), the scheduler starts, and
// SIGTERM stops it before the HSM and the database close (exit 143, the PGlite folder reopens cleanly).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "@/db/client";
import { auditEvents, keys, members, operations, policyVersions } from "@/db/schema";
import { createTestToken, type TestToken } from "@/server/hsm/testing/test-token";
import { claimApproved } from "./claim";
import { actionsOf, hsmEnvironment, insertKeyCreates, seedInitiator } from "./testing/fixtures";

let token: TestToken;
let dataDir: string;

beforeAll(() => {
  token = createTestToken("kw-boot-recovery");
  dataDir = mkdtempSync(path.join(tmpdir(), "keyward-boot-recovery-"));
});

afterAll(() => {
  token.cleanup();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Boots the server as `next start` would, waits for "booted", stops it with SIGTERM; returns what it printed. */
async function bootAndStop(dataDir: string): Promise<{ stdout: string; exitCode: number | null }> {
  const server = spawn(
    process.execPath,
    [
      "--conditions=react-server",
      "--import",
      "tsx",
      path.resolve("server/operations/executor/testing/boot-child.ts"),
    ],
    {
      cwd: path.resolve("."),
      env: {
        PATH: process.env.PATH ?? "",
        NODE_ENV: "production",
        NEXT_RUNTIME: "nodejs",
        ...hsmEnvironment(token, dataDir),
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stdout = "";
  let stderr = "";
  server.stderr.on("data", (c: Buffer) => {
    stderr += c.toString("utf8");
  });
  const exited = new Promise<number | null>((resolve) => server.on("exit", (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    server.stdout.on("data", (c: Buffer) => {
      stdout += c.toString("utf8");
      if (stdout.includes("booted")) resolve();
    });
    server.on("exit", () => reject(new Error(`server ended before booting: ${stdout} ${stderr}`)));
  });
  server.kill("SIGTERM");
  return { stdout, exitCode: await exited };
}

describe("boot", () => {
  it("recovers an operation left executing, runs the scheduler, and stops it on SIGTERM", {
    timeout: 120_000,
  }, async () => {
    const folder = path.join(dataDir, "pglite");
    const first = await openDatabase({ engine: "pglite", folder });
    const seed = await seedInitiator(first.db, new Date());
    const [id = ""] = await insertKeyCreates(first.db, seed, 1, { now: new Date() });
    expect(await claimApproved(first.db, new Date(), id)).not.toBeNull();
    await first.close();

    const { stdout, exitCode } = await bootAndStop(dataDir);
    expect(stdout).toContain(
      "Keyward: recovered 1 operation(s) left executing: 1 executed, 0 failed, 0 still executing",
    );
    expect(exitCode).toBe(143);

    const after = await openDatabase({ engine: "pglite", folder });
    try {
      const [row] = await after.db.select().from(operations).where(eq(operations.id, id));
      expect(row?.state).toBe("executed");
      expect(await after.db.select().from(keys).where(eq(keys.operationId, id))).toHaveLength(1);
      expect(await actionsOf(after.db, id)).toEqual([
        "operation.executing",
        "operation.recovered",
        "operation.executed",
      ]);
    } finally {
      await after.close();
    }
  });

  it("gives an installation set up before policies existed the default policy, once", {
    timeout: 120_000,
  }, async () => {
    const oldDataDir = mkdtempSync(path.join(tmpdir(), "keyward-boot-policy-"));
    const folder = path.join(oldDataDir, "pglite");
    const first = await openDatabase({ engine: "pglite", folder });
    const [admin] = await first.db
      .insert(members)
      .values({ name: "Old admin", roles: ["admin"], userHandle: randomBytes(16).toString("base64url") })
      .returning({ id: members.id });
    expect(admin).toBeDefined();
    expect(await first.db.select().from(policyVersions)).toEqual([]);
    await first.close();

    expect((await bootAndStop(oldDataDir)).exitCode).toBe(143);
    expect((await bootAndStop(oldDataDir)).exitCode).toBe(143);

    const after = await openDatabase({ engine: "pglite", folder });
    try {
      const versions = await after.db.select().from(policyVersions);
      expect(versions.map((v) => v.version)).toEqual([1]);
      const seeded = await after.db.select().from(auditEvents).where(eq(auditEvents.action, "policy.seeded"));
      expect(seeded).toHaveLength(1);
    } finally {
      await after.close();
      rmSync(oldDataDir, { recursive: true, force: true });
    }
  });
});
