// What the admin lock's transactions check on both engines, one request after another: the acting admin is
// read again inside the transaction (a request carrying a session's snapshot from before a suspension,
// demotion or token revocation is refused), suspending or demoting an admin revokes their open invitations,
// and accepting an invitation checks that its creator is still an active admin. The races themselves are in
// concurrency.integration.test.ts (PostgreSQL only).
import { and, count, eq, inArray } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import type { Db } from "@/db/client";
import { auditEvents, invitations, members, type Role, tokens } from "@/db/schema";
import {
  TEST_WEBAUTHN_CONFIG as config,
  firstAdmin,
  invitedMember,
  type Person,
} from "@/server/testing/identity-fixtures";
import { SoftAuthenticator } from "@/server/testing/soft-authenticator";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";
import type { Acting } from "./guards";
import {
  beginAcceptInvitation,
  completeAcceptInvitation,
  createInvitation,
  describeInvitation,
} from "./invitations";
import { reactivateMember, suspendMember, updateMember } from "./members";
import { revokeToken } from "./tokens";

const T0 = new Date("2026-04-07T10:00:00.000Z");
const HOUR = 3_600_000;

describe.each(testEngines())("admin changes re-checked inside their transaction on %s", (engine) => {
  const database = useTestDatabase(engine);
  let db: Db;
  /** Setup's admin; every test leaves Ada an active admin with a live token. */
  let ada: Person;

  beforeAll(async () => {
    db = database();
    ada = await firstAdmin(db, { now: T0 });
  });

  /** A new member with one token, invited by Ada. */
  const invited = (roles: Role[]) => invitedMember(db, ada.acting, { now: T0, roles });

  async function memberRow(id: string) {
    const [row] = await db.select().from(members).where(eq(members.id, id));
    if (!row) throw new Error(`no member ${id}`);
    return row;
  }

  let invitees = 0;
  const invite = (actor: Acting) =>
    createInvitation(db, {
      actor,
      name: `Invitee ${++invitees}`,
      roles: ["operator"],
      groups: [],
      ttlMs: 72 * HOUR,
      now: T0,
    });

  /** Starts accepting an invitation with a new token; `complete` finishes it later. */
  async function beginAccept(secret: string) {
    const options = await beginAcceptInvitation(db, config, { secret, now: T0 });
    const response = new SoftAuthenticator().register(options);
    return () => completeAcceptInvitation(db, config, { secret, tokenName: "Key", response, now: T0 });
  }

  async function revocationsOf(ids: string[]) {
    return db
      .select({ subject: auditEvents.subject, actor: auditEvents.actor, data: auditEvents.data })
      .from(auditEvents)
      .where(
        and(
          eq(auditEvents.action, "invitation.revoked"),
          inArray(
            auditEvents.subject,
            ids.map((id) => `invitation:${id}`),
          ),
        ),
      );
  }

  describe("the acting admin is read again, not taken from the session", () => {
    it("refuses a suspended admin's request, even while other admins remain", async () => {
      const bea = await invited(["admin"]);
      const cy = await invited(["admin"]);
      const target = await invited(["operator"]);
      await suspendMember(db, { actor: ada.acting, memberId: bea.acting.id, now: T0 });
      // bea.acting is the snapshot her session held before the suspension landed.
      const attempts = [
        () => suspendMember(db, { actor: bea.acting, memberId: target.acting.id, now: T0 }),
        () => updateMember(db, { actor: bea.acting, memberId: cy.acting.id, roles: ["auditor"], groups: [], now: T0 }),
        () => reactivateMember(db, { actor: bea.acting, memberId: bea.acting.id, now: T0 }),
        () => revokeToken(db, { actor: bea.acting, credentialId: target.token.credentialId, now: T0 }),
        () => invite(bea.acting),
      ];
      for (const attempt of attempts) {
        const refused = attempt();
        await expect(refused).rejects.toMatchObject({ code: "FORBIDDEN" });
        await expect(refused).rejects.toThrow("your membership has been suspended");
      }
      expect((await memberRow(target.acting.id)).status).toBe("active");
      expect((await memberRow(cy.acting.id)).roles).toEqual(["admin"]);
      expect((await memberRow(bea.acting.id)).status).toBe("suspended");
      const [live] = await db.select().from(tokens).where(eq(tokens.id, target.token.credentialId));
      expect(live?.revokedAt).toBeNull();
      const [made] = await db.select({ n: count() }).from(invitations).where(eq(invitations.createdBy, bea.acting.id));
      expect(made?.n).toBe(0);
    });

    it("refuses a demoted admin's admin actions, and treats their token revocations as a member's", async () => {
      const dan = await invited(["admin"]);
      const target = await invited(["operator"]);
      await updateMember(db, { actor: ada.acting, memberId: dan.acting.id, roles: ["operator"], groups: [], now: T0 });
      const suspend = suspendMember(db, { actor: dan.acting, memberId: target.acting.id, now: T0 });
      await expect(suspend).rejects.toMatchObject({ code: "FORBIDDEN" });
      await expect(suspend).rejects.toThrow("you are no longer an admin");
      // Another person's token: the same answer a member gets, as for a token that does not exist.
      await expect(
        revokeToken(db, { actor: dan.acting, credentialId: target.token.credentialId, now: T0 }),
      ).rejects.toMatchObject({ code: "NOT_FOUND" });
      // Their own last token: a member may not revoke it (an admin could have).
      await expect(
        revokeToken(db, { actor: dan.acting, credentialId: dan.token.credentialId, now: T0 }),
      ).rejects.toMatchObject({ code: "FORBIDDEN" });
      expect((await memberRow(target.acting.id)).status).toBe("active");
      const live = await db
        .select({ id: tokens.id, revokedAt: tokens.revokedAt })
        .from(tokens)
        .where(inArray(tokens.id, [target.token.credentialId, dan.token.credentialId]));
      expect(live.map((t) => t.revokedAt)).toEqual([null, null]);
    });

    it("refuses an admin whose every token was revoked: they are no usable admin", async () => {
      const eve = await invited(["admin"]);
      const target = await invited(["operator"]);
      await revokeToken(db, { actor: ada.acting, credentialId: eve.token.credentialId, now: T0 });
      const refused = suspendMember(db, { actor: eve.acting, memberId: target.acting.id, now: T0 });
      await expect(refused).rejects.toMatchObject({ code: "FORBIDDEN" });
      await expect(refused).rejects.toThrow("you no longer have a live hardware token");
      expect((await memberRow(target.acting.id)).status).toBe("active");
    });
  });

  describe("an admin's invitations go when they do", () => {
    it("suspending an admin revokes their open invitations in the same change, recorded with the reason", async () => {
      const fay = await invited(["admin"]);
      const open = await invite(fay.acting);
      const started = await invite(fay.acting);
      const finishLater = await beginAccept(started.secret);
      const used = await invite(fay.acting);
      await (await beginAccept(used.secret))();
      const adas = await invite(ada.acting);

      await suspendMember(db, { actor: ada.acting, memberId: fay.acting.id, now: T0 });

      const rows = await db
        .select({ id: invitations.id, revokedAt: invitations.revokedAt })
        .from(invitations)
        .where(inArray(invitations.id, [open.id, started.id, used.id, adas.id]));
      const revokedAt = new Map(rows.map((r) => [r.id, r.revokedAt]));
      expect(revokedAt.get(open.id)).toEqual(T0);
      expect(revokedAt.get(started.id)).toEqual(T0);
      expect(revokedAt.get(used.id)).toBeNull();
      expect(revokedAt.get(adas.id)).toBeNull();
      const events = await revocationsOf([open.id, started.id, used.id, adas.id]);
      expect(events.sort((a, b) => a.subject.localeCompare(b.subject))).toEqual(
        [open.id, started.id]
          .sort()
          .map((invitationId) => ({
            subject: `invitation:${invitationId}`,
            actor: `member:${ada.acting.id}`,
            data: { invitationId, reason: "creator-suspended" },
          })),
      );
      // The person who had already tapped their token cannot finish; the link says it was revoked.
      const membersBefore = await db.select({ n: count() }).from(members);
      await expect(finishLater()).rejects.toMatchObject({ code: "EXPIRED" });
      await expect(describeInvitation(db, open.secret, T0)).rejects.toThrow("revoked");
      expect(await db.select({ n: count() }).from(members)).toEqual(membersBefore);
    });

    it("taking away the admin role revokes their open invitations; other changes to them do not", async () => {
      const gus = await invited(["admin"]);
      const first = await invite(gus.acting);
      await updateMember(db, { actor: ada.acting, memberId: gus.acting.id, roles: ["admin", "approver"], groups: ["ops"], now: T0 });
      expect(await revocationsOf([first.id])).toEqual([]);
      await updateMember(db, { actor: ada.acting, memberId: gus.acting.id, roles: ["approver"], groups: [], now: T0 });
      expect(await revocationsOf([first.id])).toEqual([
        {
          subject: `invitation:${first.id}`,
          actor: `member:${ada.acting.id}`,
          data: { invitationId: first.id, reason: "creator-demoted" },
        },
      ]);
      await expect(describeInvitation(db, first.secret, T0)).rejects.toMatchObject({ code: "EXPIRED" });
    });

    it("accepting re-checks that the invitation's creator is still an active admin", async () => {
      const hal = await invited(["admin"]);
      const pending = await invite(hal.acting);
      const finish = await beginAccept(pending.secret);
      // An invitation left open by an admin suspended before suspensions revoked invitations (data written by
      // an earlier Keyward): today's suspension would revoke it, so the old state is written directly.
      await db.update(members).set({ status: "suspended", suspendedAt: T0 }).where(eq(members.id, hal.acting.id));
      const membersBefore = await db.select({ n: count() }).from(members);
      const refused = finish();
      await expect(refused).rejects.toMatchObject({ code: "FORBIDDEN" });
      await expect(refused).rejects.toThrow("no longer an active admin");
      await expect(describeInvitation(db, pending.secret, T0)).rejects.toMatchObject({ code: "FORBIDDEN" });
      expect(await db.select({ n: count() }).from(members)).toEqual(membersBefore);
      const [row] = await db.select().from(invitations).where(eq(invitations.id, pending.id));
      expect(row?.acceptedAt).toBeNull();
    });
  });
});
