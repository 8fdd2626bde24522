// The setup the live-subscription tests share (server/live/*.integration.test.ts only): a fresh database, on
// PostgreSQL a second pool on it standing for another server process, and the same people in it — the first
// admin, an operator, two approvers and an auditor — all torn down after the block, listeners included.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, vi } from "vitest";
import { type Database, type Db, openDatabase } from "@/db/client";
import { firstAdmin, invitedMember, type Person } from "@/server/testing/identity-fixtures";
import { createTestDatabase, type TestDatabase, type TestEngine } from "@/server/testing/test-db";
import { closeLiveWatchers } from "../audit-head";

export type LiveCast = {
  database: TestDatabase;
  db: Db;
  /** On PostgreSQL, a second pool on the same database: "another server process" makes the change. */
  otherDb: Db;
  /** The temp folder KEYWARD_DATA_DIR points at, when the cast stubs the environment. */
  dataDir: string | undefined;
  admin: Person;
  operator: Person;
  pia: Person;
  quinn: Person;
  auditor: Person;
};

/**
 * The live tests' cast for the enclosing describe block, made at `now` in a beforeAll hook (registered by
 * this call: it runs after the hooks registered before it, before those registered after it) and torn down
 * in an afterAll: live watchers closed, the second pool closed, the database dropped, stubbed environment
 * and temp folder removed. With `dataDirPrefix` it stubs KEYWARD_DATA_DIR (a fresh temp folder), AUTH_SECRET
 * and KEYWARD_HSM_PIN; without it the environment is the caller's (e.g. pointed at a SoftHSM test token).
 * Returns a getter, valid in hooks and tests once the cast is made.
 */
export function useLiveCast(
  engine: TestEngine,
  options: { now: Date; dataDirPrefix?: string; hookTimeoutMs?: number },
): () => LiveCast {
  let cast: LiveCast | undefined;
  let database: TestDatabase | undefined;
  let other: Database | undefined;
  let dataDir: string | undefined;

  beforeAll(async () => {
    if (options.dataDirPrefix !== undefined) {
      dataDir = mkdtempSync(path.join(tmpdir(), options.dataDirPrefix));
      vi.stubEnv("KEYWARD_DATA_DIR", dataDir);
      vi.stubEnv("AUTH_SECRET", "s".repeat(32));
      vi.stubEnv("KEYWARD_HSM_PIN", "123456");
    }
    database = await createTestDatabase(engine);
    const db = database.db;
    if (engine === "postgres" && database.url) {
      other = await openDatabase({ engine: "postgres", url: database.url });
    }
    const { now } = options;
    const admin = await firstAdmin(db, { now });
    cast = {
      database,
      db,
      otherDb: other?.db ?? db,
      dataDir,
      admin,
      operator: await invitedMember(db, admin.acting, { now, roles: ["operator"] }),
      pia: await invitedMember(db, admin.acting, { now, roles: ["approver"] }),
      quinn: await invitedMember(db, admin.acting, { now, roles: ["approver"] }),
      auditor: await invitedMember(db, admin.acting, { now, roles: ["auditor"] }),
    };
  }, options.hookTimeoutMs);

  afterAll(async () => {
    closeLiveWatchers();
    await other?.close();
    await database?.drop();
    if (dataDir !== undefined) {
      vi.unstubAllEnvs();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  return () => {
    if (!cast) throw new Error("the live cast is not made yet: use it in a hook or a test");
    return cast;
  };
}
