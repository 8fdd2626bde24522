// The key page's backup panel draws its buttons from backups.ofKey's `viewer`; this checks, for real members of
// every role mix, that what `viewer` offers is exactly what the procedures then allow: Download only where
// backups.download gets past its role checks (the procedure's and download.ts's re-read of the member), Propose
// a backup / a restore only where operations.propose does. On PGlite and PostgreSQL.
import { randomUUID } from "node:crypto";
import { TRPCError } from "@trpc/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Role } from "@/db/schema";
import { createCaller } from "@/server/api/root";
import { createContext } from "@/server/api/trpc";
import { firstAdmin, invitedMember, type Person } from "@/server/testing/identity-fixtures";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";

const MIXES: Role[][] = [
  ["operator"],
  ["approver"],
  ["auditor"],
  ["operator", "approver"],
  ["auditor", "approver"],
  ["admin", "auditor"],
];

const saved: Record<string, string | undefined> = {};
beforeAll(() => {
  // backups.ofKey names the configured HSM tokens; no HSM is opened.
  const env: Record<string, string> = {
    AUTH_SECRET: "x".repeat(40),
    KEYWARD_HSM_PIN: "1234",
    KEYWARD_HSM_LIBRARY: "/nonexistent/libpkcs11.so",
    KEYWARD_DATA_DIR: "/nonexistent-keyward-data",
  };
  for (const [k, v] of Object.entries(env)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
});
afterAll(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

async function codeOf(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return "ok";
  } catch (e) {
    return e instanceof TRPCError ? e.code : "ERROR";
  }
}

describe.each(testEngines())("the backup panel's viewer on %s", (engine) => {
  const db = useTestDatabase(engine);
  const people: { name: string; person: Person }[] = [];

  beforeAll(async () => {
    const now = new Date("2026-12-02T06:00:00Z");
    const admin = await firstAdmin(db(), { now });
    people.push({ name: "admin", person: admin });
    for (const roles of MIXES) {
      people.push({ name: roles.join("+"), person: await invitedMember(db(), admin.acting, { now, roles }) });
    }
  });

  function callerOf(person: Person) {
    const member = { id: person.acting.id, name: "viewer", roles: [...person.acting.roles], groups: [] };
    const session = { sessionId: randomUUID(), tokenId: "credential", member };
    return createCaller(createContext({ db: db(), engine, session }));
  }

  it("offers Download exactly to the members backups.download does not refuse, and only to admins", async () => {
    const seen: Record<string, { offered: boolean; outcome: string }> = {};
    for (const { name, person } of people) {
      const caller = callerOf(person);
      const { viewer } = await caller.backups.ofKey({ keyId: randomUUID() });
      // No such backup: an allowed member gets NOT_FOUND, past both role checks; a refused one FORBIDDEN.
      const outcome = await codeOf(caller.backups.download({ backupId: randomUUID() }));
      seen[name] = { offered: viewer.canDownload, outcome };
    }
    expect(seen).toEqual({
      admin: { offered: true, outcome: "NOT_FOUND" },
      operator: { offered: false, outcome: "FORBIDDEN" },
      approver: { offered: false, outcome: "FORBIDDEN" },
      auditor: { offered: false, outcome: "FORBIDDEN" },
      "operator+approver": { offered: false, outcome: "FORBIDDEN" },
      "auditor+approver": { offered: false, outcome: "FORBIDDEN" },
      "admin+auditor": { offered: true, outcome: "NOT_FOUND" },
    });
  });

  it("offers Propose a backup / a restore exactly to the members operations.propose does not refuse", async () => {
    for (const { name, person } of people) {
      const caller = callerOf(person);
      const { viewer } = await caller.backups.ofKey({ keyId: randomUUID() });
      const backup = await codeOf(
        caller.operations.propose({ kind: "key.backup", payload: { keyId: randomUUID() } }),
      );
      const restore = await codeOf(
        caller.operations.propose({ kind: "key.restore", payload: { backupId: randomUUID(), token: "t" } }),
      );
      // Allowed proposers get past the role checks to the missing key or backup, and nothing is proposed.
      expect({ name, backup: backup !== "FORBIDDEN", restore: restore !== "FORBIDDEN" }).toEqual({
        name,
        backup: viewer.canProposeBackup,
        restore: viewer.canProposeRestore,
      });
      expect([backup, restore].filter((c) => c !== "FORBIDDEN")).toEqual(
        viewer.canProposeBackup ? ["NOT_FOUND", "NOT_FOUND"] : [],
      );
    }
    const proposers = people.filter((p) =>
      p.person.acting.roles.some((r) => r === "operator" || r === "admin"),
    );
    expect(proposers.map((p) => p.name)).toEqual(["admin", "operator", "operator+approver", "admin+auditor"]);
  });
});
