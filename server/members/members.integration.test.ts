// Tokens and members on real databases: who may add and revoke which token, and the guards that keep an
// active admin able to sign in.
// The guard tests rely on Ada (setup's admin) being the only admin who can sign in, as each test leaves it.
import { and, eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import type { Db } from "@/db/client";
import { auditEvents, tokens, members, type Role } from "@/db/schema";
import {
  TEST_WEBAUTHN_CONFIG as config,
  firstAdmin,
  invitedMember,
  type Person,
} from "@/server/testing/identity-fixtures";
import { AuthenticatorRefusedError, SoftAuthenticator } from "@/server/testing/soft-authenticator";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";
import { suspendMember, updateMember } from "./members";
import { approveAddToken, beginAddToken, completeAddToken, listTokens, revokeToken } from "./tokens";

const T0 = new Date("2026-04-05T10:00:00.000Z");

describe.each(testEngines())("tokens and members on %s", (engine) => {
  const database = useTestDatabase(engine);
  let db: Db;
  let admin: Person;

  beforeAll(async () => {
    db = database();
    admin = await firstAdmin(db, { now: T0 });
  });

  /** A new member (an operator unless told otherwise) with one token "Key", invited by the admin at T0. */
  const invited = (roles?: Role[]) => invitedMember(db, admin.acting, { now: T0, roles });

  async function token(id: string) {
    const [row] = await db.select().from(tokens).where(eq(tokens.id, id));
    if (!row) throw new Error(`no token ${id}`);
    return row;
  }

  async function member(id: string) {
    const [row] = await db.select().from(members).where(eq(members.id, id));
    if (!row) throw new Error(`no member ${id}`);
    return row;
  }

  describe("tokens", () => {
    it("lets a member add a second token and revoke one of their own", async () => {
      const m = await invited();
      const { additionId, options: stepUp } = await beginAddToken(db, config, {
        memberId: m.acting.id,
        now: T0,
      });
      const options = await approveAddToken(db, config, {
        memberId: m.acting.id,
        additionId,
        response: m.token.authenticate(stepUp),
        now: T0,
      });
      // The browser will not register a token already on file for this person.
      expect(options.excludeCredentials?.map((c) => c.id)).toEqual([m.token.credentialId]);
      expect(() => m.token.register(options)).toThrow(AuthenticatorRefusedError);
      const spare = new SoftAuthenticator();
      const response = spare.register(options);
      await completeAddToken(db, config, {
        memberId: m.acting.id,
        additionId,
        nickname: "Spare",
        response,
        now: T0,
      });
      expect((await listTokens(db, m.acting.id)).map((t) => t.nickname).sort()).toEqual(["Key", "Spare"]);

      await expect(
        revokeToken(db, { actor: m.acting, credentialId: m.token.credentialId, now: T0 }),
      ).resolves.toEqual({ sessionsEnded: 0 });
      expect(await token(m.token.credentialId)).toMatchObject({ revokedAt: T0, revokedBy: m.acting.id });
      expect((await token(spare.credentialId)).revokedAt).toBeNull();
      const [event] = await db
        .select()
        .from(auditEvents)
        .where(
          and(
            eq(auditEvents.action, "token.revoked"),
            eq(auditEvents.subject, `token:${m.token.credentialId}`),
          ),
        );
      expect(event).toMatchObject({
        actor: `member:${m.acting.id}`,
        data: { memberId: m.acting.id, credentialId: m.token.credentialId, sessionsEnded: 0 },
      });
    });

    it("refuses a member revoking their last token, and another person's token looks like no token", async () => {
      const m = await invited();
      const other = await invited();
      await expect(
        revokeToken(db, { actor: m.acting, credentialId: m.token.credentialId, now: T0 }),
      ).rejects.toMatchObject({ code: "FORBIDDEN" });
      const foreign = revokeToken(db, { actor: m.acting, credentialId: other.token.credentialId, now: T0 });
      await expect(foreign).rejects.toMatchObject({ code: "NOT_FOUND" });
      const missing = revokeToken(db, { actor: m.acting, credentialId: "no-such-token", now: T0 });
      await expect(missing).rejects.toMatchObject({ code: "NOT_FOUND" });
      expect(await foreign.catch((e: unknown) => String(e))).toBe(
        await missing.catch((e: unknown) => String(e)),
      );
      expect((await token(m.token.credentialId)).revokedAt).toBeNull();
      expect((await token(other.token.credentialId)).revokedAt).toBeNull();
    });

    it("lets an admin revoke another person's token, even their last", async () => {
      const m = await invited();
      await revokeToken(db, { actor: admin.acting, credentialId: m.token.credentialId, now: T0 });
      expect(await token(m.token.credentialId)).toMatchObject({ revokedAt: T0, revokedBy: admin.acting.id });
    });

    it("refuses to revoke the last token of the last admin", async () => {
      const refused = revokeToken(db, {
        actor: admin.acting,
        credentialId: admin.token.credentialId,
        now: T0,
      });
      await expect(refused).rejects.toMatchObject({ code: "CONFLICT" });
      expect((await token(admin.token.credentialId)).revokedAt).toBeNull();
    });
  });

  describe("members", () => {
    it("refuses suspending yourself, and suspensions by a non-admin", async () => {
      const m = await invited();
      await expect(
        suspendMember(db, { actor: admin.acting, memberId: admin.acting.id, now: T0 }),
      ).rejects.toMatchObject({ code: "CONFLICT" });
      await expect(
        suspendMember(db, { actor: m.acting, memberId: admin.acting.id, now: T0 }),
      ).rejects.toMatchObject({ code: "FORBIDDEN" });
      expect((await member(admin.acting.id)).status).toBe("active");
    });

    it("refuses to suspend the last admin when two admins suspend each other at once", async () => {
      const second = await invited(["admin"]);
      await suspendMember(db, { actor: admin.acting, memberId: second.acting.id, now: T0 });
      // The second admin's request passed its role check before the suspension landed; re-read under the
      // admin lock, they are suspended and may no longer act (the concurrent race: concurrency.integration.test.ts).
      await expect(
        suspendMember(db, { actor: second.acting, memberId: admin.acting.id, now: T0 }),
      ).rejects.toMatchObject({ code: "FORBIDDEN" });
      expect((await member(admin.acting.id)).status).toBe("active");
      expect((await member(second.acting.id)).status).toBe("suspended");
    });

    it("refuses to take the admin role from the last admin, but not from one of several", async () => {
      const demoteAda = () =>
        updateMember(db, {
          actor: admin.acting,
          memberId: admin.acting.id,
          roles: ["operator"],
          groups: [],
          now: T0,
        });
      await expect(demoteAda()).rejects.toMatchObject({ code: "CONFLICT" });
      expect((await member(admin.acting.id)).roles).toEqual(["admin"]);

      const other = await invited(["admin"]);
      await updateMember(db, {
        actor: admin.acting,
        memberId: other.acting.id,
        roles: ["approver"],
        groups: ["treasury"],
        now: T0,
      });
      expect(await member(other.acting.id)).toMatchObject({ roles: ["approver"], groups: ["treasury"] });
      const [event] = await db
        .select()
        .from(auditEvents)
        .where(
          and(eq(auditEvents.action, "member.updated"), eq(auditEvents.subject, `member:${other.acting.id}`)),
        );
      expect(event?.data).toEqual({
        memberId: other.acting.id,
        roles: ["approver"],
        groups: ["treasury"],
        previousRoles: ["admin"],
        previousGroups: [],
      });
      await expect(demoteAda()).rejects.toMatchObject({ code: "CONFLICT" });
      await expect(
        updateMember(db, {
          actor: { id: other.acting.id, roles: ["approver"] },
          memberId: other.acting.id,
          roles: ["admin"],
          groups: [],
          now: T0,
        }),
      ).rejects.toMatchObject({ code: "FORBIDDEN" });
    });
  });
});
