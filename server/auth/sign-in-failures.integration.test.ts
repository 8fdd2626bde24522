// Sign-in as the attacker sees it, on real databases: someone who knows a credential id (but not its key)
// learns nothing about the token or its member, and failed sign-ins cannot flood the append-only trail.
import { and, eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import type { Db } from "@/db/client";
import { auditEvents, signInFailureCounts } from "@/db/schema";
import { appendAudit } from "@/server/audit/append";
import { sealedSoFar } from "@/server/audit/integrate";
import { suspendMember } from "@/server/members/members";
import { revokeToken } from "@/server/members/tokens";
import {
  firstAdmin,
  invitedMember,
  type Person,
  TEST_WEBAUTHN_CONFIG as config,
} from "@/server/testing/identity-fixtures";
import { SoftAuthenticator } from "@/server/testing/soft-authenticator";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";
import { MAX_CREDENTIALS_PER_MINUTE, summariseSignInFailures } from "./failure-events";
import { SIGN_IN_MESSAGES } from "./refusals";
import { type AuthenticationResponse, authenticationResponseSchema, CREDENTIAL_ID_MAX } from "./schemas";
import { beginSignIn, completeSignIn } from "./sign-in";

const MINUTE = 60_000;
const policy = { idleMs: 15 * MINUTE, maxMs: 60 * MINUTE };
const T0 = new Date("2026-04-03T07:00:00.000Z");
const at = (minutes: number, seconds = 0) => new Date(T0.getTime() + minutes * MINUTE + seconds * 1000);

describe.each(testEngines())("sign-in failures on %s", (engine) => {
  const database = useTestDatabase(engine);
  let db: Db;
  let admin: Person;

  beforeAll(async () => {
    db = database();
    admin = await firstAdmin(db, { now: T0 });
  });

  /** A sign-in attempt at `now` with `token`'s assertion, sent under `claimedId` (a forger's relabelling). */
  async function attempt(token: SoftAuthenticator, now: Date, claimedId?: string) {
    const options = await beginSignIn(db, config, now);
    const signed = token.authenticate(options);
    const response: AuthenticationResponse = claimedId
      ? { ...signed, id: claimedId, rawId: claimedId }
      : signed;
    return completeSignIn(db, config, { response, now, policy });
  }

  /** The refusal's reason and words, or "signed in". */
  async function outcome(run: Promise<unknown>) {
    try {
      await run;
      return "signed in";
    } catch (e) {
      return e instanceof Error && "reason" in e ? { reason: e.reason, message: e.message } : e;
    }
  }

  const failures = (credentialId: string) =>
    db
      .select()
      .from(auditEvents)
      .where(
        and(eq(auditEvents.action, "auth.sign_in_failed"), eq(auditEvents.subject, `token:${credentialId}`)),
      );

  describe("an attacker who knows a credential id", () => {
    it("gets the same answer and audit reason for a suspended member's, a revoked, a live and an unknown token", async () => {
      const suspended = await invitedMember(db, admin.acting, { now: T0, roles: ["approver"] });
      await suspendMember(db, { actor: admin.acting, memberId: suspended.acting.id, now: T0 });
      const revoked = await invitedMember(db, admin.acting, { now: T0, roles: ["approver"] });
      await revokeToken(db, {
        actor: admin.acting,
        credentialId: revoked.token.credentialId,
        now: T0,
      });
      const live = await invitedMember(db, admin.acting, { now: T0, roles: ["approver"] });
      const unknown = new SoftAuthenticator().credentialId;

      const forger = new SoftAuthenticator();
      const unverified = { reason: "verification_failed", message: SIGN_IN_MESSAGES.verification_failed };
      for (const id of [
        suspended.token.credentialId,
        revoked.token.credentialId,
        live.token.credentialId,
        unknown,
      ]) {
        expect(await outcome(attempt(forger, at(1), id))).toEqual(unverified);
        expect((await failures(id)).map((e) => e.data)).toEqual([
          { reason: "verification_failed", credentialId: id },
        ]);
      }

      // Only the holder of the key learns the state.
      expect(await outcome(attempt(suspended.token, at(2)))).toMatchObject({ reason: "member_suspended" });
      expect(await outcome(attempt(revoked.token, at(2)))).toMatchObject({ reason: "token_revoked" });
      expect(await outcome(attempt(live.token, at(2)))).toBe("signed in");
    });
  });

  describe("aggregation", () => {
    it("writes one event for 200 failures of one credential in a minute, counts the rest, and summarises them", async () => {
      const stranger = new SoftAuthenticator();
      const seqBefore = await lastSeq();
      for (let i = 0; i < 200; i++) {
        await expect(attempt(stranger, at(10, i % 60))).rejects.toMatchObject({
          reason: "verification_failed",
        });
      }
      expect(await failures(stranger.credentialId)).toHaveLength(1);
      // The whole trail grew by that one event: nothing else was written for the 199 others.
      expect((await eventsSince(seqBefore)).map((e) => e.action)).toEqual(["auth.sign_in_failed"]);
      const [counted] = await db
        .select()
        .from(signInFailureCounts)
        .where(eq(signInFailureCounts.credentialId, stranger.credentialId));
      expect(counted).toMatchObject({ reason: "verification_failed", minute: at(10), attempts: 200 });

      // Another credential, or another reason, gets its own event in the same minute.
      const other = new SoftAuthenticator();
      await expect(attempt(other, at(10, 30))).rejects.toMatchObject({ reason: "verification_failed" });
      expect(await failures(other.credentialId)).toHaveLength(1);
      const options = await beginSignIn(db, config, at(10));
      const stale = stranger.authenticate(options);
      await expect(completeSignIn(db, config, { response: stale, now: at(10), policy })).rejects.toThrow();
      await expect(
        completeSignIn(db, config, { response: stale, now: at(10, 1), policy }),
      ).rejects.toMatchObject({
        reason: "challenge_invalid",
      });
      expect((await failures(stranger.credentialId)).map((e) => e.data)).toEqual([
        { reason: "verification_failed", credentialId: stranger.credentialId },
        { reason: "challenge_invalid", credentialId: stranger.credentialId },
      ]);

      // The next minute: a new event, and the summary carries the repeats into the trail: 201 verification
      // failures in minute 10 (the 200, and the first use of the stale response), one of them audited.
      const seqMinute11 = await lastSeq();
      await expect(attempt(stranger, at(11))).rejects.toMatchObject({ reason: "verification_failed" });
      const next = await eventsSince(seqMinute11);
      expect(next.map((e) => e.action)).toEqual(["auth.sign_in_failures_summarised", "auth.sign_in_failed"]);
      expect(next[0]?.data).toEqual({
        from: at(10).toISOString(),
        to: at(11).toISOString(),
        repeats: 200,
        credentials: 1,
        byReason: { verification_failed: 200 },
      });
      // Closed minutes are gone from the counting table; the open one stays.
      const left = await db.select().from(signInFailureCounts);
      expect(left.map((r) => r.minute)).toEqual([at(11)]);

      // A periodic summary reaches the trail even when failures stop.
      await expect(attempt(stranger, at(11, 5))).rejects.toMatchObject({ reason: "verification_failed" });
      const seqQuiet = await lastSeq();
      await summariseSignInFailures(db, at(12));
      const quiet = await eventsSince(seqQuiet);
      expect(quiet.map((e) => [e.action, e.data])).toEqual([
        [
          "auth.sign_in_failures_summarised",
          {
            from: at(11).toISOString(),
            to: at(12).toISOString(),
            repeats: 1,
            credentials: 1,
            byReason: { verification_failed: 1 },
          },
        ],
      ]);
      expect(await db.select().from(signInFailureCounts)).toEqual([]);

      // So does the next successful sign-in by anyone.
      await expect(attempt(stranger, at(13))).rejects.toMatchObject({ reason: "verification_failed" });
      await expect(attempt(stranger, at(13, 1))).rejects.toMatchObject({ reason: "verification_failed" });
      const seqSuccess = await lastSeq();
      await expect(attempt(admin.token, at(14))).resolves.toMatchObject({ memberId: admin.acting.id });
      expect((await eventsSince(seqSuccess)).map((e) => [e.action, e.data])).toEqual([
        ["auth.signed_in", expect.anything()],
        [
          "auth.sign_in_failures_summarised",
          expect.objectContaining({ repeats: 1, from: at(13).toISOString() }),
        ],
      ]);
    });

    it("shares one bucket among credential ids past the per-minute limit, so invented ids cannot flood either", async () => {
      const seqBefore = await lastSeq();
      for (let i = 0; i < MAX_CREDENTIALS_PER_MINUTE + 20; i++) {
        await expect(attempt(new SoftAuthenticator(), at(20, i % 60))).rejects.toMatchObject({
          reason: "verification_failed",
        });
      }
      const written = await eventsSince(seqBefore);
      expect(written).toHaveLength(MAX_CREDENTIALS_PER_MINUTE + 1);
      expect(written.at(-1)).toMatchObject({ subject: "token:*", data: { credentialId: null } });
    });

    it("writes one event when many failures of one credential arrive at once", async () => {
      for (let round = 0; round < 5; round++) {
        const stranger = new SoftAuthenticator();
        const now = at(30 + round);
        const responses = await Promise.all(
          Array.from({ length: 20 }, async () => stranger.authenticate(await beginSignIn(db, config, now))),
        );
        const results = await Promise.allSettled(
          responses.map((response) => completeSignIn(db, config, { response, now, policy })),
        );
        expect(results.every((r) => r.status === "rejected")).toBe(true);
        expect(await failures(stranger.credentialId)).toHaveLength(1);
        const [counted] = await db
          .select()
          .from(signInFailureCounts)
          .where(eq(signInFailureCounts.credentialId, stranger.credentialId));
        expect(counted?.attempts).toBe(20);
      }
    });
  });

  describe("size bounds", () => {
    it("refuses a credential id longer than WebAuthn allows before anything is written", () => {
      const long = "A".repeat(CREDENTIAL_ID_MAX + 1);
      const token = new SoftAuthenticator();
      const valid = token.authenticate({ challenge: "AAAA", rpId: "localhost" });
      expect(authenticationResponseSchema.safeParse({ ...valid, id: long, rawId: long }).success).toBe(false);
      expect(authenticationResponseSchema.safeParse(valid).success).toBe(true);
    });

    it("keeps every field of the anonymous failure events bounded in the audit schema", async () => {
      const huge = "A".repeat(CREDENTIAL_ID_MAX + 1);
      const append = (data: { reason: string; credentialId: string | null }) =>
        db.transaction((tx) =>
          appendAudit(tx, {
            action: "auth.sign_in_failed",
            actor: "anonymous",
            subject: "token:x",
            at: T0,
            data,
          }),
        );
      await expect(append({ reason: "verification_failed", credentialId: huge })).rejects.toThrow();
      await expect(append({ reason: "x".repeat(41), credentialId: null })).rejects.toThrow();
      const refused = (data: { reason: string; aaguid: string | null; purpose: string }) =>
        db.transaction((tx) =>
          appendAudit(tx, { action: "token.refused", actor: "anonymous", subject: "token", at: T0, data }),
        );
      await expect(
        refused({ reason: "aaguid_not_allowed", aaguid: "x".repeat(37), purpose: "setup" }),
      ).rejects.toThrow();
      const leftovers = await db.select().from(auditEvents).where(eq(auditEvents.subject, "token:x"));
      expect(leftovers).toEqual([]);
    });
  });

  async function lastSeq(): Promise<number> {
    await sealedSoFar(db);
    const rows = await db.select({ seq: auditEvents.seq }).from(auditEvents);
    return Math.max(0, ...rows.map((r) => r.seq ?? 0));
  }

  async function eventsSince(seq: number) {
    await sealedSoFar(db);
    const rows = await db.select().from(auditEvents);
    return rows.filter((r) => (r.seq ?? 0) > seq).sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0));
  }
});
