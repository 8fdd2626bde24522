// Adding a token needs a fresh tap of one of the same person's live tokens, bound to that one addition, on
// real databases. Tried as an attacker would: with a session alone (a forged registration challenge), with
// another person's step-up, with a replayed step-up, with a revoked token, and with a token of someone else.
import { createHash, randomUUID } from "node:crypto";
import { and, asc, eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import type { Db } from "@/db/client";
import { auditEvents, members, tokens } from "@/db/schema";
import { beginRegistration } from "@/server/auth/registration";
import { approvedAddition } from "@/server/testing/add-token";
import {
  TEST_WEBAUTHN_CONFIG as config,
  firstAdmin,
  invitedMember,
  type Person,
} from "@/server/testing/identity-fixtures";
import { SoftAuthenticator } from "@/server/testing/soft-authenticator";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";
import { additionSubject } from "./step-up";
import { approveAddToken, beginAddToken, completeAddToken, listTokens, revokeToken } from "./tokens";

const T0 = new Date("2026-04-06T08:00:00.000Z");

describe.each(testEngines())("adding a token needs a step-up on %s", (engine) => {
  const database = useTestDatabase(engine);
  let db: Db;
  let admin: Person;

  beforeAll(async () => {
    db = database();
    admin = await firstAdmin(db, { now: T0 });
  });

  const invited = () => invitedMember(db, admin.acting, { now: T0, roles: ["approver"] });

  async function tokenRow(id: string) {
    const [row] = await db.select().from(tokens).where(eq(tokens.id, id));
    return row;
  }

  async function events(action: string, memberId: string) {
    const rows = await db
      .select()
      .from(auditEvents)
      .where(eq(auditEvents.action, action))
      .orderBy(asc(auditEvents.seq));
    return rows.filter((e) => JSON.stringify(e.data).includes(memberId));
  }

  /** Expects `attempt()` refused with `code`, one more `token.step_up_refused` for `reason`, and no token stored. */
  async function expectRefused(
    who: Person,
    attempt: () => Promise<unknown>,
    expected: { code: string; reason: string; newToken?: SoftAuthenticator },
  ) {
    const before = (await events("token.step_up_refused", who.acting.id)).length;
    await expect(attempt()).rejects.toMatchObject({ code: expected.code, reason: expected.reason });
    const after = await events("token.step_up_refused", who.acting.id);
    expect(after).toHaveLength(before + 1);
    expect(after.at(-1)).toMatchObject({
      actor: `member:${who.acting.id}`,
      data: { memberId: who.acting.id, reason: expected.reason },
    });
    if (expected.newToken) expect(await tokenRow(expected.newToken.credentialId)).toBeUndefined();
  }

  it("a session alone gets a step-up challenge, not registration options; a tap of a live token unlocks them", async () => {
    const m = await invited();
    const { additionId, options } = await beginAddToken(db, config, { memberId: m.acting.id, now: T0 });
    // Assertion options naming only her live tokens, with user verification: nothing to register a token with.
    expect(options).not.toHaveProperty("user");
    expect(options.userVerification).toBe("required");
    expect(options.allowCredentials?.map((c) => c.id)).toEqual([m.token.credentialId]);

    const registration = await approveAddToken(db, config, {
      memberId: m.acting.id,
      additionId,
      response: m.token.authenticate(options),
      now: T0,
    });
    const spare = new SoftAuthenticator();
    const done = await completeAddToken(db, config, {
      memberId: m.acting.id,
      additionId,
      nickname: "Spare",
      response: spare.register(registration),
      now: T0,
    });
    expect(done).toEqual({ credentialId: spare.credentialId, approvedBy: m.token.credentialId });

    // Shown to the owner: which token's tap approved the new one.
    const listed = await listTokens(db, m.acting.id);
    expect(listed.map((t) => [t.nickname, t.approvedBy])).toEqual([
      ["Key", null],
      ["Spare", "Key"],
    ]);
    const [approved] = await events("token.step_up_approved", m.acting.id);
    expect(approved).toMatchObject({
      actor: `member:${m.acting.id}`,
      subject: `token-addition:${additionId}`,
      data: { memberId: m.acting.id, additionId, credentialId: m.token.credentialId },
    });
    const [added] = await events("token.added", m.acting.id);
    expect(added).toMatchObject({
      actor: `member:${m.acting.id}`,
      subject: `token:${spare.credentialId}`,
      data: {
        memberId: m.acting.id,
        credentialId: spare.credentialId,
        additionId,
        approvedBy: m.token.credentialId,
      },
    });
    // The new token's key and registration as stored, hashed: what an evidence bundle binds them to the log by.
    const stored = await tokenRow(spare.credentialId);
    const sha256 = (base64url: string | null | undefined) =>
      createHash("sha256")
        .update(Buffer.from(base64url ?? "", "base64url"))
        .digest("hex");
    expect(added?.data).toMatchObject({
      publicKeyDigest: sha256(stored?.publicKey),
      attestationObjectDigest: sha256(stored?.attestationObject),
      clientDataDigest: sha256(stored?.registrationClientData),
    });
  });

  it("refuses a registration challenge that no consumed step-up stands behind", async () => {
    const m = await invited();
    const [member] = await db.select().from(members).where(eq(members.id, m.acting.id));
    if (!member) throw new Error("no member");
    // What beginAddToken used to hand any session: registration options straight away, for a made-up addition
    // and for one whose step-up was issued but never tapped.
    const untapped = (await beginAddToken(db, config, { memberId: m.acting.id, now: T0 })).additionId;
    for (const additionId of [randomUUID(), untapped]) {
      const forged = await beginRegistration(db, config, {
        purpose: "add-token",
        subject: additionSubject(m.acting.id, additionId),
        userHandle: member.userHandle,
        userName: member.name,
        now: T0,
      });
      const thief = new SoftAuthenticator();
      const attempt = () =>
        completeAddToken(db, config, {
          memberId: m.acting.id,
          additionId,
          nickname: "Thief's key",
          response: thief.register(forged),
          now: T0,
        });
      await expectRefused(m, attempt, { code: "FORBIDDEN", reason: "step_up_missing", newToken: thief });
    }
  });

  it("refuses another person's step-up, for the registration and for the step-up itself", async () => {
    const bob = await invited();
    const mallory = await invited();
    // Bob's approved addition, completed by Mallory in her own name.
    const bobs = await approvedAddition(db, config, {
      memberId: bob.acting.id,
      approver: bob.token,
      now: T0,
    });
    const thief = new SoftAuthenticator();
    const stolen = () =>
      completeAddToken(db, config, {
        memberId: mallory.acting.id,
        additionId: bobs.additionId,
        nickname: "Thief's key",
        response: thief.register(bobs.registration),
        now: T0,
      });
    await expectRefused(mallory, stolen, { code: "FORBIDDEN", reason: "wrong_addition", newToken: thief });

    // Bob's step-up challenge answered by Mallory's own token, to approve Mallory's addition.
    const bobsStepUp = await beginAddToken(db, config, { memberId: bob.acting.id, now: T0 });
    const mine = await beginAddToken(db, config, { memberId: mallory.acting.id, now: T0 });
    const crossed = () =>
      approveAddToken(db, config, {
        memberId: mallory.acting.id,
        additionId: mine.additionId,
        response: mallory.token.authenticate({ ...bobsStepUp.options, allowCredentials: [] }),
        now: T0,
      });
    await expectRefused(mallory, crossed, { code: "FORBIDDEN", reason: "wrong_addition" });

    // Mallory's own step-up tapped by Bob's token (a colluding or careless colleague): not hers.
    const next = await beginAddToken(db, config, { memberId: mallory.acting.id, now: T0 });
    const foreignTap = () =>
      approveAddToken(db, config, {
        memberId: mallory.acting.id,
        additionId: next.additionId,
        response: bob.token.authenticate({ ...next.options, allowCredentials: [] }),
        now: T0,
      });
    await expectRefused(mallory, foreignTap, { code: "FORBIDDEN", reason: "wrong_member" });
    expect((await listTokens(db, mallory.acting.id)).map((t) => t.nickname)).toEqual(["Key"]);
  });

  it("refuses a replayed step-up, and a step-up after its minutes to live", async () => {
    const m = await invited();
    const { additionId, options } = await beginAddToken(db, config, { memberId: m.acting.id, now: T0 });
    const input = { memberId: m.acting.id, additionId, response: m.token.authenticate(options), now: T0 };
    await approveAddToken(db, config, input);
    await expectRefused(m, () => approveAddToken(db, config, input), {
      code: "EXPIRED",
      reason: "challenge_invalid",
    });

    const late = await beginAddToken(db, config, { memberId: m.acting.id, now: T0 });
    const attempt = () =>
      approveAddToken(db, config, {
        memberId: m.acting.id,
        additionId: late.additionId,
        response: m.token.authenticate(late.options),
        now: new Date(T0.getTime() + config.challengeTtlMs),
      });
    await expectRefused(m, attempt, { code: "EXPIRED", reason: "challenge_invalid" });
  });

  it("refuses a step-up made with a revoked token, and an addition whose approving token was revoked since", async () => {
    const m = await invited();
    const spare = new SoftAuthenticator();
    const first = await approvedAddition(db, config, { memberId: m.acting.id, approver: m.token, now: T0 });
    await completeAddToken(db, config, {
      memberId: m.acting.id,
      additionId: first.additionId,
      nickname: "Spare",
      response: spare.register(first.registration),
      now: T0,
    });
    await revokeToken(db, { actor: m.acting, credentialId: spare.credentialId, now: T0 });

    // The browser is offered only live tokens; a tampered client answers with the revoked one anyway.
    const { additionId, options } = await beginAddToken(db, config, { memberId: m.acting.id, now: T0 });
    expect(options.allowCredentials?.map((c) => c.id)).toEqual([m.token.credentialId]);
    const withRevoked = () =>
      approveAddToken(db, config, {
        memberId: m.acting.id,
        additionId,
        response: spare.authenticate({ ...options, allowCredentials: [] }),
        now: T0,
      });
    await expectRefused(m, withRevoked, { code: "FORBIDDEN", reason: "token_revoked" });

    // Approved by Key; Key is then revoked by the admin before the new token is registered.
    const third = new SoftAuthenticator();
    const approved = await approvedAddition(db, config, {
      memberId: m.acting.id,
      approver: m.token,
      now: T0,
    });
    await revokeToken(db, { actor: admin.acting, credentialId: m.token.credentialId, now: T0 });
    const attempt = () =>
      completeAddToken(db, config, {
        memberId: m.acting.id,
        additionId: approved.additionId,
        nickname: "Third",
        response: third.register(approved.registration),
        now: T0,
      });
    await expectRefused(m, attempt, {
      code: "FORBIDDEN",
      reason: "approving_token_revoked",
      newToken: third,
    });
  });

  it("refuses a step-up without user verification, and one whose counter went backwards (recorded)", async () => {
    const m = await invited();
    const noUv = await beginAddToken(db, config, { memberId: m.acting.id, now: T0 });
    const attempt = () =>
      approveAddToken(db, config, {
        memberId: m.acting.id,
        additionId: noUv.additionId,
        response: m.token.authenticate(noUv.options, { userVerified: false }),
        now: T0,
      });
    await expectRefused(m, attempt, { code: "FORBIDDEN", reason: "user_verification_missing" });

    await approvedAddition(db, config, { memberId: m.acting.id, approver: m.token, now: T0 });
    const cloned = await beginAddToken(db, config, { memberId: m.acting.id, now: T0 });
    const stored = (await tokenRow(m.token.credentialId))?.counter ?? 0;
    const replayedCounter = () =>
      approveAddToken(db, config, {
        memberId: m.acting.id,
        additionId: cloned.additionId,
        response: m.token.authenticate(cloned.options, { counter: stored }),
        now: T0,
      });
    await expectRefused(m, replayedCounter, { code: "FORBIDDEN", reason: "counter_regressed" });
    const regressed = await db
      .select()
      .from(auditEvents)
      .where(
        and(
          eq(auditEvents.action, "auth.counter_regressed"),
          eq(auditEvents.subject, `token:${m.token.credentialId}`),
        ),
      );
    expect(regressed.map((e) => e.data)).toEqual([
      { credentialId: m.token.credentialId, storedCounter: stored, receivedCounter: stored },
    ]);
  });

  it("one step-up approves one addition, and one addition adds one token, even when sent twice at once", async () => {
    const m = await invited();
    for (let round = 0; round < 10; round++) {
      const { additionId, options } = await beginAddToken(db, config, { memberId: m.acting.id, now: T0 });
      const approval = {
        memberId: m.acting.id,
        additionId,
        response: m.token.authenticate(options),
        now: T0,
      };
      const approvals = await Promise.allSettled([
        approveAddToken(db, config, approval),
        approveAddToken(db, config, approval),
      ]);
      const granted = approvals.flatMap((a) => (a.status === "fulfilled" ? [a.value] : []));
      expect(granted).toHaveLength(1);
      expect(approvals.filter((a) => a.status === "rejected")).toMatchObject([
        { reason: { code: "EXPIRED" } },
      ]);

      const [registration] = granted;
      if (!registration) throw new Error("no registration options");
      const token = new SoftAuthenticator();
      const completion = {
        memberId: m.acting.id,
        additionId,
        nickname: `Spare ${round}`,
        response: token.register(registration),
        now: T0,
      };
      const added = await Promise.allSettled([
        completeAddToken(db, config, completion),
        completeAddToken(db, config, completion),
      ]);
      expect(added.filter((a) => a.status === "fulfilled")).toHaveLength(1);
      expect(await tokenRow(token.credentialId)).toBeDefined();
    }
    expect(await events("token.added", m.acting.id)).toHaveLength(10);
  });

  it("refuses bad input before touching anything: a malformed step-up response", async () => {
    const m = await invited();
    const { additionId, options } = await beginAddToken(db, config, { memberId: m.acting.id, now: T0 });
    const response = m.token.authenticate(options);
    const attempt = () =>
      approveAddToken(db, config, {
        memberId: m.acting.id,
        additionId,
        response: { ...response, response: { ...response.response, clientDataJSON: "bm90LWpzb24" } },
        now: T0,
      });
    await expect(attempt()).rejects.toMatchObject({ code: "BAD_INPUT", field: "response" });
    // The real tap still works afterwards: nothing was consumed.
    await expect(
      approveAddToken(db, config, { memberId: m.acting.id, additionId, response, now: T0 }),
    ).resolves.toHaveProperty("user");
  });
});
