// An admin's view of another member's access, through the tRPC API on real databases: list their tokens,
// revoke one (the last admin's last token stays protected), end all their sessions. A non-admin gets
// FORBIDDEN whatever they name, and learns nothing.
import { TRPCError } from "@trpc/server";
import { and, asc, eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import type { Db } from "@/db/client";
import { auditEvents, tokens } from "@/db/schema";
import { createCaller } from "@/server/api/root";
import { createContext } from "@/server/api/trpc";
import { resumeSession, type SessionPolicy } from "@/server/auth/sessions";
import { beginSignIn, completeSignIn } from "@/server/auth/sign-in";
import { addToken } from "@/server/testing/add-token";
import {
  TEST_WEBAUTHN_CONFIG as config,
  firstAdmin,
  invitedMember,
  type Person,
} from "@/server/testing/identity-fixtures";
import { SoftAuthenticator } from "@/server/testing/soft-authenticator";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";
import { updateMember } from "./members";

const MINUTE = 60_000;
const policy: SessionPolicy = { idleMs: 15 * MINUTE, maxMs: 8 * 60 * MINUTE };
const T0 = new Date("2026-04-07T09:00:00.000Z");
const at = (minutes: number) => new Date(T0.getTime() + minutes * MINUTE);

describe.each(testEngines())("an admin manages a member's tokens and sessions on %s", (engine) => {
  const database = useTestDatabase(engine);
  let db: Db;
  let admin: Person;

  beforeAll(async () => {
    db = database();
    admin = await firstAdmin(db, { now: T0 });
  });

  async function signIn(token: SoftAuthenticator, now = T0) {
    const options = await beginSignIn(db, config, now);
    return completeSignIn(db, config, { response: token.authenticate(options), now, policy });
  }

  const resume = (sessionId: string, now: Date) => resumeSession(db, { sessionId, now, policy });

  /** The API as `person` sees it once signed in with their token at `now`. */
  async function apiOf(person: Person, now = T0) {
    const { sessionId } = await signIn(person.token, now);
    const session = await resume(sessionId, now);
    if (!session) throw new Error("the session is not live");
    return createCaller(createContext({ db, engine, session, clock: () => now }));
  }

  /** A member with two tokens ("Key", then "Spare" approved by a tap of Key), signed in twice. */
  async function memberWithTwoTokens() {
    const m = await invitedMember(db, admin.acting, { now: T0, roles: ["approver"] });
    const spare = new SoftAuthenticator();
    await addToken(db, config, {
      memberId: m.acting.id,
      approver: m.token,
      token: spare,
      nickname: "Spare",
      now: T0,
    });
    const withKey = await signIn(m.token, at(1));
    const withSpare = await signIn(spare, at(1));
    return { m, spare, sessionIds: [withKey.sessionId, withSpare.sessionId] };
  }

  async function codeOf(call: Promise<unknown>): Promise<string> {
    return call.then(
      () => "ok",
      (e: unknown) => (e instanceof TRPCError ? e.code : String(e)),
    );
  }

  it("lists another member's tokens with their approvals, and revokes one, ending the sessions made with it", async () => {
    const { m, spare, sessionIds } = await memberWithTwoTokens();
    const api = await apiOf(admin, at(2));
    const listed = await api.tokens.ofMember({ memberId: m.acting.id });
    expect(listed.map((t) => [t.nickname, t.approvedBy, t.revokedAt])).toEqual([
      ["Key", null, null],
      ["Spare", "Key", null],
    ]);
    expect(await api.members.sessions({ memberId: m.acting.id })).toHaveLength(2);

    await expect(
      api.members.revokeToken({ memberId: m.acting.id, credentialId: spare.credentialId }),
    ).resolves.toEqual({
      sessionsEnded: 1,
    });
    const [row] = await db.select().from(tokens).where(eq(tokens.id, spare.credentialId));
    expect(row).toMatchObject({ revokedAt: at(2), revokedBy: admin.acting.id });
    expect(await resume(sessionIds[1] ?? "", at(3))).toBeNull();
    expect((await resume(sessionIds[0] ?? "", at(3)))?.member.id).toBe(m.acting.id);

    // A token named under the wrong member is no such token; a revoked one cannot be revoked again.
    const other = await invitedMember(db, admin.acting, { now: T0 });
    await expect(
      api.members.revokeToken({ memberId: other.acting.id, credentialId: m.token.credentialId }),
    ).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(
      api.members.revokeToken({ memberId: m.acting.id, credentialId: spare.credentialId }),
    ).rejects.toMatchObject({
      code: "CONFLICT",
    });
  });

  it("keeps the rule that the last admin's last token cannot be revoked", async () => {
    const api = await apiOf(admin, at(2));
    const refused = api.members.revokeToken({
      memberId: admin.acting.id,
      credentialId: admin.token.credentialId,
    });
    await expect(refused).rejects.toMatchObject({ code: "CONFLICT" });
    const [row] = await db.select().from(tokens).where(eq(tokens.id, admin.token.credentialId));
    expect(row?.revokedAt).toBeNull();
  });

  it("ends all of a member's sessions: their next resume is null, and it is recorded", async () => {
    const { m, sessionIds } = await memberWithTwoTokens();
    const api = await apiOf(admin, at(2));
    await expect(api.members.endSessions({ memberId: m.acting.id })).resolves.toEqual({ sessionsEnded: 2 });
    for (const sessionId of sessionIds) expect(await resume(sessionId, at(3))).toBeNull();
    expect(await api.members.sessions({ memberId: m.acting.id })).toEqual([]);
    const trail = await db
      .select()
      .from(auditEvents)
      .where(
        and(
          eq(auditEvents.action, "session.ended_by_admin"),
          eq(auditEvents.subject, `member:${m.acting.id}`),
        ),
      )
      .orderBy(asc(auditEvents.seq));
    expect(trail.map((e) => [e.actor, e.data])).toEqual([
      [`member:${admin.acting.id}`, { memberId: m.acting.id, sessionsEnded: 2 }],
    ]);
    for (const sessionId of sessionIds) {
      const [ended] = await db
        .select()
        .from(auditEvents)
        .where(and(eq(auditEvents.action, "session.ended"), eq(auditEvents.subject, `session:${sessionId}`)));
      expect(ended?.data).toEqual({ sessionId, reason: "revoked" });
    }
    // Nothing left to end: the count says so.
    await expect(api.members.endSessions({ memberId: m.acting.id })).resolves.toEqual({ sessionsEnded: 0 });
  });

  it("a non-admin gets FORBIDDEN for every member, existing or not, and nothing changes", async () => {
    const { m, spare, sessionIds } = await memberWithTwoTokens();
    const operator = await invitedMember(db, admin.acting, { now: T0, roles: ["operator", "approver"] });
    const api = await apiOf(operator, at(2));
    const missing = "00000000-0000-4000-8000-00000000dead";
    for (const memberId of [m.acting.id, missing, operator.acting.id]) {
      expect(await codeOf(api.members.sessions({ memberId }))).toBe("FORBIDDEN");
      expect(await codeOf(api.members.endSessions({ memberId }))).toBe("FORBIDDEN");
      expect(await codeOf(api.members.revokeToken({ memberId, credentialId: spare.credentialId }))).toBe(
        "FORBIDDEN",
      );
      expect(await codeOf(api.tokens.ofMember({ memberId }))).toBe("FORBIDDEN");
    }
    // Even malformed input is refused for the role before it is read.
    expect(await codeOf(api.members.endSessions({ memberId: "not-a-uuid" }))).toBe("FORBIDDEN");
    for (const sessionId of sessionIds) expect(await resume(sessionId, at(3))).not.toBeNull();
    const [row] = await db.select().from(tokens).where(eq(tokens.id, spare.credentialId));
    expect(row?.revokedAt).toBeNull();
  });

  it("re-reads the acting admin: one demoted since signing in can no longer end sessions or revoke", async () => {
    const { m, spare, sessionIds } = await memberWithTwoTokens();
    const second = await invitedMember(db, admin.acting, { now: T0, roles: ["admin"] });
    const api = await apiOf(second, at(2));
    await updateMember(db, {
      actor: admin.acting,
      memberId: second.acting.id,
      roles: ["auditor"],
      groups: [],
      now: at(2),
    });
    // The session snapshot still says admin; the database no longer does.
    await expect(api.members.endSessions({ memberId: m.acting.id })).rejects.toMatchObject({
      code: "FORBIDDEN",
    });
    await expect(
      api.members.revokeToken({ memberId: m.acting.id, credentialId: spare.credentialId }),
    ).rejects.toMatchObject({
      code: "FORBIDDEN",
    });
    for (const sessionId of sessionIds) expect(await resume(sessionId, at(3))).not.toBeNull();
  });

  it("refuses bad input with the field named", async () => {
    const api = await apiOf(admin, at(2));
    const refused = api.members.endSessions({ memberId: "not-a-uuid" });
    await expect(refused).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(refused).rejects.toThrow(/memberId/);
    await expect(
      api.members.sessions({ memberId: "00000000-0000-4000-8000-00000000dead" }),
    ).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
  });
});
