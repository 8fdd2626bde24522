// Username-less sign-in and server-side sessions on real databases: who gets in, who is refused and why
// (each refusal audited), and when a session ends — idle, expired, member suspended, token revoked.
import { and, asc, eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import type { Db } from "@/db/client";
import { auditEvents, tokens, sessions } from "@/db/schema";
import { suspendMember } from "@/server/members/members";
import { revokeToken } from "@/server/members/tokens";
import { addToken } from "@/server/testing/add-token";
import {
  TEST_WEBAUTHN_CONFIG as config,
  firstAdmin,
  invitedMember,
  type Person,
} from "@/server/testing/identity-fixtures";
import { type AuthenticationOverrides, SoftAuthenticator } from "@/server/testing/soft-authenticator";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";
import { resumeSession, type SessionPolicy } from "./sessions";
import { beginSignIn, completeSignIn, type SignInFailure } from "./sign-in";

const MINUTE = 60_000;
const policy: SessionPolicy = { idleMs: 15 * MINUTE, maxMs: 60 * MINUTE };
const T0 = new Date("2026-04-03T07:00:00.000Z");
const at = (minutes: number) => new Date(T0.getTime() + minutes * MINUTE);

describe.each(testEngines())("sign-in and sessions on %s", (engine) => {
  const database = useTestDatabase(engine);
  let db: Db;
  let admin: Person;

  beforeAll(async () => {
    db = database();
    admin = await firstAdmin(db, { now: T0 });
  });

  /** A new approver with one token, invited by the admin and accepted at T0. */
  const invited = () => invitedMember(db, admin.acting, { now: T0, roles: ["approver"] });

  async function signIn(token: SoftAuthenticator, now = T0, overrides: AuthenticationOverrides = {}) {
    const options = await beginSignIn(db, config, now);
    return completeSignIn(db, config, { response: token.authenticate(options, overrides), now, policy });
  }

  const resume = (sessionId: string, now: Date) => resumeSession(db, { sessionId, now, policy });

  async function eventsAbout(action: string, subject: string) {
    return db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.action, action), eq(auditEvents.subject, subject)))
      .orderBy(asc(auditEvents.seq));
  }

  async function storedCounter(token: SoftAuthenticator): Promise<number | undefined> {
    const [row] = await db.select().from(tokens).where(eq(tokens.id, token.credentialId));
    return row?.counter;
  }

  /** Expects the sign-in to be refused for `reason`, with exactly one more auth.sign_in_failed for this token. */
  async function expectRefused(
    attempt: () => Promise<unknown>,
    token: SoftAuthenticator,
    reason: SignInFailure,
  ) {
    const subject = `token:${token.credentialId}`;
    const failuresBefore = (await eventsAbout("auth.sign_in_failed", subject)).length;
    await expect(attempt()).rejects.toMatchObject({
      reason,
      code: reason === "challenge_invalid" ? "EXPIRED" : "UNAUTHENTICATED",
    });
    const failures = await eventsAbout("auth.sign_in_failed", subject);
    expect(failures).toHaveLength(failuresBefore + 1);
    expect(failures.at(-1)).toMatchObject({
      actor: "anonymous",
      data: { reason, credentialId: token.credentialId },
    });
  }

  describe("sign-in", () => {
    it("offers a username-less challenge requiring user verification, and signs the token's holder in", async () => {
      const options = await beginSignIn(db, config, T0);
      expect(options.allowCredentials ?? []).toEqual([]);
      expect(options.userVerification).toBe("required");
      const { sessionId, memberId } = await completeSignIn(db, config, {
        response: admin.token.authenticate(options),
        now: T0,
        policy,
      });
      expect(memberId).toBe(admin.acting.id);
      const [session] = await db.select().from(sessions).where(eq(sessions.id, sessionId));
      expect(session).toMatchObject({
        memberId,
        tokenId: admin.token.credentialId,
        expiresAt: at(60),
        endedAt: null,
      });
      expect(await eventsAbout("auth.signed_in", `session:${sessionId}`)).toEqual([
        expect.objectContaining({
          actor: `member:${memberId}`,
          data: { sessionId, credentialId: admin.token.credentialId },
        }),
      ]);
      expect(await storedCounter(admin.token)).toBe(admin.token.counter);
      expect((await resume(sessionId, at(1)))?.member).toMatchObject({
        id: memberId,
        name: "Ada Admin",
        roles: ["admin"],
      });
    });

    it("refuses a replayed assertion (the same response sent twice)", async () => {
      const { token } = await invited();
      const options = await beginSignIn(db, config, T0);
      const response = token.authenticate(options);
      await completeSignIn(db, config, { response, now: T0, policy });
      await expectRefused(
        () => completeSignIn(db, config, { response, now: at(1), policy }),
        token,
        "challenge_invalid",
      );
      const open = await db.select().from(sessions).where(eq(sessions.tokenId, token.credentialId));
      expect(open).toHaveLength(1);
    });

    it.each([
      ["goes backwards", -1],
      ["stays the same", 0],
    ])("refuses a token whose counter %s, and records the suspected clone", async (_, delta) => {
      const { token } = await invited();
      await signIn(token);
      await signIn(token);
      const stored = token.counter;
      const received = stored + delta;
      await expectRefused(() => signIn(token, at(1), { counter: received }), token, "counter_regressed");
      expect(await eventsAbout("auth.counter_regressed", `token:${token.credentialId}`)).toEqual([
        expect.objectContaining({
          data: { credentialId: token.credentialId, storedCounter: stored, receivedCounter: received },
        }),
      ]);
      expect(await storedCounter(token)).toBe(stored);
    });

    it("accepts a token that keeps no counter (always 0)", async () => {
      const { token } = await invited();
      await signIn(token, T0, { counter: 0 });
      await expect(signIn(token, at(1), { counter: 0 })).resolves.toMatchObject({
        memberId: expect.any(String),
      });
    });

    it("refuses an assertion without user verification", async () => {
      const { token } = await invited();
      const counter = await storedCounter(token);
      await expectRefused(
        () => signIn(token, T0, { userVerified: false }),
        token,
        "user_verification_missing",
      );
      expect(await storedCounter(token)).toBe(counter);
      expect(await db.select().from(sessions).where(eq(sessions.tokenId, token.credentialId))).toEqual(
        [],
      );
    });

    it("refuses an assertion whose user handle names another person (WebAuthn §7.2 step 6)", async () => {
      const { token } = await invited();
      const other = await invited();
      await expectRefused(
        () => signIn(token, T0, { userHandle: other.token.userHandle ?? null }),
        token,
        "verification_failed",
      );
    });

    it("refuses a token that was never registered", async () => {
      const stranger = new SoftAuthenticator();
      await expectRefused(() => signIn(stranger), stranger, "verification_failed");
    });

    it("refuses a revoked token", async () => {
      const member = await invited();
      await revokeToken(db, { actor: admin.acting, credentialId: member.token.credentialId, now: T0 });
      await expectRefused(() => signIn(member.token, at(1)), member.token, "token_revoked");
    });

    it("refuses a suspended member", async () => {
      const member = await invited();
      await suspendMember(db, { actor: admin.acting, memberId: member.acting.id, now: T0 });
      await expectRefused(() => signIn(member.token, at(1)), member.token, "member_suspended");
    });
  });

  describe("sessions", () => {
    it("stay live while used within the idle timeout, and end after it with reason idle", async () => {
      const { token } = await invited();
      const { sessionId, memberId } = await signIn(token);
      expect((await resume(sessionId, at(10)))?.member.id).toBe(memberId);
      expect((await resume(sessionId, at(24)))?.member.id).toBe(memberId); // 14 min after the last request
      expect(await resume(sessionId, at(39))).toBeNull(); // 15 min idle
      expect(await resume(sessionId, at(40))).toBeNull();
      const [row] = await db.select().from(sessions).where(eq(sessions.id, sessionId));
      expect(row).toMatchObject({ endedAt: at(39), endReason: "idle" });
      expect(await eventsAbout("session.ended", `session:${sessionId}`)).toEqual([
        expect.objectContaining({ actor: "system", at: at(39), data: { sessionId, reason: "idle" } }),
      ]);
    });

    it("end at the absolute timeout with reason expired, however active they are", async () => {
      const { token } = await invited();
      const { sessionId } = await signIn(token);
      for (let minute = 10; minute < 60; minute += 10)
        expect(await resume(sessionId, at(minute))).not.toBeNull();
      expect(await resume(sessionId, at(60))).toBeNull();
      expect((await eventsAbout("session.ended", `session:${sessionId}`)).map((e) => e.data)).toEqual([
        { sessionId, reason: "expired" },
      ]);
    });

    it("end when the member is suspended", async () => {
      const member = await invited();
      const first = await signIn(member.token);
      const second = await signIn(member.token, at(1));
      const { sessionsEnded } = await suspendMember(db, {
        actor: admin.acting,
        memberId: member.acting.id,
        now: at(2),
      });
      expect(sessionsEnded).toBe(2);
      for (const { sessionId } of [first, second]) {
        expect(await resume(sessionId, at(3))).toBeNull();
        expect((await eventsAbout("session.ended", `session:${sessionId}`)).map((e) => e.data)).toEqual([
          { sessionId, reason: "member-suspended" },
        ]);
      }
    });

    it("end when the token they were signed in with is revoked, and only those", async () => {
      const member = await invited();
      const spare = new SoftAuthenticator();
      await addToken(db, config, {
        memberId: member.acting.id,
        approver: member.token,
        token: spare,
        nickname: "Spare",
        now: T0,
      });
      const withFirst = await signIn(member.token);
      const withSpare = await signIn(spare);

      await revokeToken(db, { actor: member.acting, credentialId: member.token.credentialId, now: at(1) });
      expect(await resume(withFirst.sessionId, at(2))).toBeNull();
      expect(
        (await eventsAbout("session.ended", `session:${withFirst.sessionId}`)).map((e) => e.data),
      ).toEqual([{ sessionId: withFirst.sessionId, reason: "token-revoked" }]);
      expect((await resume(withSpare.sessionId, at(2)))?.tokenId).toBe(spare.credentialId);
    });
  });
});
