// Walks every procedure of the appRouter as anonymous and as each role, and checks allow/deny against the
// table below. A procedure without a declared access rule, or missing from the table, fails the test.
import { TRPCError } from "@trpc/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Role } from "@/db/schema";
import { createTestDatabase, type TestDatabase } from "@/server/testing/test-db";
import { appRouter, createCaller } from "./root";
import { type Access, createContext } from "./trpc";

const PUBLIC: Access = { kind: "public" };
const MEMBER: Access = { kind: "member" };
const role = (...roles: Role[]): Access => ({ kind: "role", roles });

/** The intended access of every procedure. Adding a procedure means adding it here, on purpose. */
const EXPECTED: Record<string, Access> = {
  "setup.status": PUBLIC,
  "setup.begin": PUBLIC,
  "setup.complete": PUBLIC,
  "auth.signInOptions": PUBLIC,
  "auth.me": MEMBER,
  "invitations.create": role("admin"),
  "invitations.propose": role("admin"),
  "invitations.list": role("admin"),
  "invitations.revoke": role("admin"),
  "invitations.describe": PUBLIC,
  "invitations.beginAccept": PUBLIC,
  "invitations.completeAccept": PUBLIC,
  "members.list": role("admin", "auditor"),
  "members.update": role("admin"),
  "members.suspend": role("admin"),
  "members.reactivate": role("admin"),
  "members.sessions": role("admin"),
  "members.revokeToken": role("admin"),
  "members.endSessions": role("admin"),
  "tokens.mine": MEMBER,
  "tokens.ofMember": role("admin", "auditor"),
  "tokens.beginAdd": MEMBER,
  "tokens.approveAdd": MEMBER,
  "tokens.completeAdd": MEMBER,
  "tokens.revoke": MEMBER,
  "audit.recent": role("admin", "auditor"),
  "audit.reportProgress": role("admin", "auditor"),
  "status.auditKey": role("admin", "auditor"),
  "audit.verify": role("admin", "auditor"),
  "audit.events": role("admin", "auditor"),
  "audit.verifyTree": role("admin", "auditor"),
  "audit.checkpoint": role("admin", "auditor"),
  "audit.inclusion": role("admin", "auditor"),
  "audit.consistency": role("admin", "auditor"),
  "status.health": role("admin", "auditor"),
  "operations.propose": role("operator", "admin"),
  "operations.cancel": role("operator", "admin"),
  "operations.list": role("admin", "operator", "approver", "auditor"),
  "operations.get": role("admin", "operator", "approver", "auditor"),
  "operations.onList": role("admin", "operator", "approver", "auditor"),
  "operations.onOperation": role("admin", "operator", "approver", "auditor"),
  "operations.onBatchProgress": role("admin", "operator", "approver", "auditor"),
  "operations.beginVote": role("approver", "admin"),
  "operations.completeVote": role("approver", "admin"),
  "operations.beginVeto": role("admin", "operator", "approver", "auditor"),
  "operations.veto": role("admin", "operator", "approver", "auditor"),
  "operations.beginSuspendKey": role("admin", "approver"),
  "operations.suspendKey": role("admin", "approver"),
  "policy.current": role("admin", "operator", "approver", "auditor"),
  "policy.update": role("admin"),
  "policy.history": role("admin", "operator", "approver", "auditor"),
  "policy.preview": role("admin"),
  "keys.list": role("admin", "operator", "approver", "auditor"),
  "keys.counts": role("admin", "operator", "approver", "auditor"),
  "keys.get": role("admin", "operator", "approver", "auditor"),
  "keys.onList": role("admin", "operator", "approver", "auditor"),
  "keys.onCounts": role("admin", "operator", "approver", "auditor"),
  "keys.onKey": role("admin", "operator", "approver", "auditor"),
  "keys.holders": role("admin", "operator", "approver", "auditor"),
  "keys.operationTimeline": role("admin", "operator", "approver", "auditor"),
  "keys.ofOperation": role("admin", "operator", "approver", "auditor"),
  "keyLifecycle.status": role("admin", "operator", "approver", "auditor"),
  "keyLifecycle.rotation": role("admin", "operator", "approver", "auditor"),
  "keyLifecycle.sweeps": role("admin", "operator", "approver", "auditor"),
  "keyLifecycle.beginCancelDestruction": role("admin", "approver"),
  "keyLifecycle.cancelDestruction": role("admin", "approver"),
  "restrictions.status": role("admin", "operator", "approver", "auditor"),
  "restrictions.onStatus": role("admin", "operator", "approver", "auditor"),
  "restrictions.beginFreeze": role("admin", "approver"),
  "restrictions.freeze": role("admin", "approver"),
  "backups.ofKey": role("admin", "operator", "approver", "auditor"),
  "backups.download": role("admin"),
  "governance.mode": role("admin", "operator", "approver", "auditor"),
  "governance.status": role("admin", "operator", "approver", "auditor"),
  "governance.onStatus": role("admin", "operator", "approver", "auditor"),
  "governance.beginTap": role("admin"),
  "governance.tap": role("admin"),
  "notifications.mine": role("admin", "operator", "approver", "auditor"),
  "notifications.updateMine": role("admin", "operator", "approver", "auditor"),
  "notifications.status": role("admin", "operator", "approver", "auditor"),
  "notifications.webhooks": role("admin"),
  "notifications.addWebhook": role("admin"),
  "notifications.disableWebhook": role("admin"),
  "notifications.deliveries": role("admin"),
  "serviceAccounts.list": role("admin"),
  "serviceAccounts.create": role("admin"),
  "serviceAccounts.revoke": role("admin"),
  "allowlists.list": role("admin", "operator", "approver", "auditor"),
  "withdrawals.propose": role("operator", "admin"),
  "withdrawals.list": role("admin", "operator", "approver", "auditor"),
  "withdrawals.section": role("admin", "operator", "approver", "auditor"),
  "withdrawals.speedUps": role("admin", "operator", "approver", "auditor"),
  "withdrawals.formOptions": role("operator", "admin"),
  "withdrawals.estimate": role("operator", "admin"),
  "withdrawals.previewImported": role("operator", "admin"),
  "withdrawals.previewPsbt": role("operator", "admin"),
  "withdrawals.download": role("operator", "admin"),
};

const PRINCIPALS = ["anonymous", "admin", "operator", "approver", "auditor"] as const;
type Principal = (typeof PRINCIPALS)[number];

function allowed(access: Access, who: Principal): boolean {
  if (access.kind === "public") return true;
  if (who === "anonymous") return false;
  return access.kind === "member" || access.roles.includes(who);
}

const procedures = Object.entries(appRouter._def.procedures).map(([path, procedure]) => {
  const meta: unknown = (procedure as { _def?: { meta?: { access?: Access } } })._def?.meta;
  const access =
    meta && typeof meta === "object" && "access" in meta ? (meta.access as Access | undefined) : undefined;
  return { path, access };
});

describe("every procedure declares its access rule", () => {
  it.each(procedures)("$path", ({ path, access }) => {
    expect(
      access,
      `${path} has no access rule: build it from publicProcedure, memberProcedure or withRole`,
    ).toBeDefined();
    expect(access, `${path} is not in the expected-access table`).toEqual(EXPECTED[path]);
  });

  it("the table lists no procedure that does not exist", () => {
    expect(Object.keys(EXPECTED).sort()).toEqual(procedures.map((p) => p.path).sort());
  });
});

describe("every procedure allows and denies as declared", () => {
  let database: TestDatabase;
  beforeAll(async () => {
    // status.health reads the HSM configuration; point it at a library that does not exist.
    process.env.AUTH_SECRET = "x".repeat(40);
    process.env.KEYWARD_HSM_PIN = "1234";
    process.env.KEYWARD_HSM_LIBRARY = "/nonexistent/libpkcs11.so";
    process.env.KEYWARD_DATA_DIR = "/nonexistent-keyward-data";
    database = await createTestDatabase("pglite");
  });
  afterAll(() => database.drop());

  function callerFor(who: Principal) {
    const session =
      who === "anonymous"
        ? null
        : {
            sessionId: "00000000-0000-4000-8000-000000000001",
            tokenId: "credential",
            member: { id: "00000000-0000-4000-8000-000000000002", name: who, roles: [who], groups: [] },
          };
    return createCaller(createContext({ db: database.db, engine: "pglite", session }));
  }

  async function outcome(who: Principal, path: string): Promise<string> {
    let target: unknown = callerFor(who);
    for (const part of path.split(".")) {
      target = (target as Record<string, unknown>)[part];
    }
    if (typeof target !== "function") throw new Error(`${path} is not callable`);
    try {
      await target({});
      return "ok";
    } catch (e) {
      return e instanceof TRPCError ? e.code : "ERROR";
    }
  }

  const cases = procedures.flatMap(({ path }) => PRINCIPALS.map((who) => ({ path, who })));
  it.each(cases)("$path as $who", async ({ path, who }) => {
    const access = EXPECTED[path];
    if (!access) throw new Error(`${path} missing from EXPECTED`);
    const result = await outcome(who, path);
    if (allowed(access, who)) {
      expect(["UNAUTHORIZED", "FORBIDDEN"]).not.toContain(result);
    } else {
      expect(result).toBe(who === "anonymous" ? "UNAUTHORIZED" : "FORBIDDEN");
    }
  });
});
