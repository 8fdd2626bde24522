// The go-live ceremony on PGlite and PostgreSQL, with real taps from software authenticators: one admin cannot go
// live; two admins each tap and Keyward is live (installation_live, installation.live once, the chain intact);
// a policy update between the taps, or a new admin, makes the earlier tap stop counting; an unreachable policy
// and an admin without a live token are refused with the reason; a tap is bound to its admin and used once;
// after live a direct policy update is refused; two admins tapping last at once on two PostgreSQL pools make
// one installation.live.
import { eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { type Database, openDatabase } from "@/db/client";
import { auditEvents, goLiveTaps, installationLive } from "@/db/schema";
import { verifyWholeChain } from "@/server/audit/verify";
import { challengeFromClientData } from "@/server/auth/challenges";
import { AppError } from "@/server/errors";
import { revokeToken } from "@/server/members/tokens";
import { policyInForce, updatePolicy } from "@/server/operations/policy-store";
import {
  TEST_WEBAUTHN_CONFIG as config,
  firstAdmin,
  invitedMember,
  type Person,
} from "@/server/testing/identity-fixtures";
import { createTestDatabase, type TestDatabase, testEngines } from "@/server/testing/test-db";
import { beginGoLiveTap, completeGoLiveTap, GoLiveRefusedError } from "./go-live";
import { goLiveChallenge } from "./go-live-challenge";
import { goLiveStatus } from "./go-live-status";
import { installationMode } from "./mode";

const now = new Date("2026-12-02T10:00:00.000Z");

/** The code and reason a call was refused with (fails the test if it was not refused). */
async function refusal(
  p: Promise<unknown>,
): Promise<{ code: string; reason: string | null; message: string }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof GoLiveRefusedError) return { code: e.code, reason: e.reason, message: e.message };
    if (e instanceof AppError) return { code: e.code, reason: null, message: e.message };
    throw e;
  }
  throw new Error("expected a refusal");
}

/** A policy whose default needs 2 of the approvers and, as an alternative, nothing else. */
const twoApprovers = (description: string) => ({
  version: 1,
  rules: [],
  default: { id: "default", description, require: [{ group: "approvers", approvals: 2 }] },
});

describe.each(testEngines())("go-live ceremony on %s", (engine) => {
  let database: TestDatabase;
  let ada: Person;
  let bea: Person;
  let approvers: Person[];

  beforeEach(async () => {
    database = await createTestDatabase(engine);
    ada = await firstAdmin(database.db, { now });
    approvers = [];
    for (let i = 0; i < 3; i++) {
      approvers.push(await invitedMember(database.db, ada.acting, { now, roles: ["approver"] }));
    }
  });
  afterEach(async () => {
    await database.drop();
  });

  const db = () => database.db;

  async function tap(who: Person, on: Database["db"] = db()) {
    const { options } = await beginGoLiveTap(on, config, { actor: who.acting, now });
    const response = who.token.authenticate(options);
    return completeGoLiveTap(on, config, { actor: who.acting, response, now });
  }

  async function liveEvents() {
    return db().select().from(auditEvents).where(eq(auditEvents.action, "installation.live"));
  }

  it("refuses one admin alone, with the reason, and records the refusal", async () => {
    const refused = await refusal(tap(ada));
    expect(refused).toMatchObject({ code: "CONFLICT", reason: "not_ready" });
    expect(refused.message).toContain("Going live needs at least 2 admins");
    expect(await installationMode(db())).toEqual({ mode: "setup" });
    const recorded = await db()
      .select()
      .from(auditEvents)
      .where(eq(auditEvents.action, "installation.go_live_refused"));
    expect(recorded.map((e) => e.data)).toEqual([
      { memberId: ada.acting.id, reason: "not_ready", credentialId: null },
    ]);
  });

  it("goes live when both admins tap: one installation.live with the version, then refuses more taps", async () => {
    bea = await invitedMember(db(), ada.acting, { now, roles: ["admin"] });
    const policy = await policyInForce(db());
    if (!policy) throw new Error("no policy");

    const first = await tap(ada);
    expect(first).toMatchObject({ tapped: 1, of: 2, live: false });
    expect(await installationMode(db())).toEqual({ mode: "setup" });
    expect((await goLiveStatus(db())).admins.map((a) => [a.id, a.tapped])).toEqual(
      expect.arrayContaining([
        [ada.acting.id, true],
        [bea.acting.id, false],
      ]),
    );
    // The same admin again, for the same content: refused.
    expect(await refusal(tap(ada))).toMatchObject({ reason: "already_tapped" });

    const last = await tap(bea);
    expect(last).toMatchObject({ tapped: 2, of: 2, live: true });
    expect(await installationMode(db())).toEqual({ mode: "live", since: now, policyVersion: policy.version });
    const [row] = await db().select().from(installationLive);
    expect(row).toMatchObject({ policyVersion: policy.version, policyDigest: policy.digest });
    expect([...(row?.admins ?? [])].sort()).toEqual([ada.acting.id, bea.acting.id].sort());
    const events = await liveEvents();
    expect(events).toHaveLength(1);
    expect(events[0]?.actor).toBe(`member:${bea.acting.id}`);
    expect(events[0]?.data).toMatchObject({ policyVersion: policy.version, completedBy: bea.acting.id });
    const taps = await db()
      .select()
      .from(auditEvents)
      .where(eq(auditEvents.action, "installation.go_live_tapped"));
    expect(taps).toHaveLength(2);
    // Each stored tap is evidence: its assertion signed the challenge recomputed from the row alone.
    for (const row of await db().select().from(goLiveTaps)) {
      const signed = challengeFromClientData(
        z.object({ response: z.object({ clientDataJSON: z.string() }) }).parse(row.assertion).response
          .clientDataJSON,
      );
      expect(signed).toBe(goLiveChallenge(row));
    }

    expect(await refusal(tap(ada))).toMatchObject({ code: "CONFLICT", reason: "already_live" });
    expect((await verifyWholeChain(db())).problems).toEqual([]);
  });

  it("after live, a direct policy update is refused and writes nothing", async () => {
    bea = await invitedMember(db(), ada.acting, { now, roles: ["admin"] });
    // In setup mode the first admin drafts the policy directly.
    const drafted = await updatePolicy(db(), { actor: ada.acting, document: twoApprovers("draft"), now });
    await tap(ada);
    await tap(bea);
    const refused = await refusal(
      updatePolicy(db(), { actor: ada.acting, document: twoApprovers("after live"), now }),
    );
    expect(refused).toEqual({
      code: "CONFLICT",
      reason: null,
      message: "Keyward is live: changing the policy needs the quorum now — propose it as an operation.",
    });
    expect((await policyInForce(db()))?.version).toBe(drafted.version);
  });

  it("a policy update between the taps makes the first tap stop counting", async () => {
    bea = await invitedMember(db(), ada.acting, { now, roles: ["admin"] });
    await tap(ada);
    const v2 = await updatePolicy(db(), { actor: ada.acting, document: twoApprovers("changed"), now });
    // A tap asked for before the change and answered after it is refused as stale.
    const { options } = await beginGoLiveTap(db(), config, { actor: bea.acting, now });
    await updatePolicy(db(), { actor: ada.acting, document: twoApprovers("changed again"), now });
    const stale = await refusal(
      completeGoLiveTap(db(), config, { actor: bea.acting, response: bea.token.authenticate(options), now }),
    );
    expect(stale).toMatchObject({ code: "CONFLICT", reason: "policy_changed" });
    expect(v2.version).toBeGreaterThan(1);

    // Bea taps for the version in force: not live, since Ada's tap was for an earlier one.
    expect(await tap(bea)).toMatchObject({ tapped: 1, of: 2, live: false });
    expect(await installationMode(db())).toEqual({ mode: "setup" });
    expect(await tap(ada)).toMatchObject({ tapped: 2, live: true });
    expect((await installationMode(db())).mode).toBe("live");
  });

  it("a new admin makes the taps given so far stop counting", async () => {
    bea = await invitedMember(db(), ada.acting, { now, roles: ["admin"] });
    await tap(ada);
    const cid = await invitedMember(db(), ada.acting, { now, roles: ["admin"] });
    expect(await tap(bea)).toMatchObject({ tapped: 1, of: 3, live: false });
    expect(await tap(cid)).toMatchObject({ tapped: 2, of: 3, live: false });
    expect(await tap(ada)).toMatchObject({ tapped: 3, of: 3, live: true });
  });

  it("refuses an unreachable policy with the rule and the reason", async () => {
    bea = await invitedMember(db(), ada.acting, { now, roles: ["admin"] });
    await updatePolicy(db(), {
      actor: ada.acting,
      document: {
        version: 1,
        rules: [],
        default: { id: "default", require: [{ group: "approvers", approvals: 4 }] },
      },
      now,
    });
    const refused = await refusal(tap(ada));
    expect(refused).toMatchObject({ code: "CONFLICT", reason: "not_ready" });
    expect(refused.message).toContain("Rule default:");
    expect(refused.message).toMatch(/approvers/);
    const status = await goLiveStatus(db());
    expect(status.unreachable.map((u) => u.ruleId)).toContain("default");
    expect(status.rules[0]?.ways[0]).toEqual([
      { group: "approvers", label: expect.any(String), approvals: 4, eligible: 3 },
    ]);
    expect(await installationMode(db())).toEqual({ mode: "setup" });
  });

  it("refuses while an admin has no live token, naming them", async () => {
    bea = await invitedMember(db(), ada.acting, { now, roles: ["admin"], name: "Bea Admin" });
    await revokeToken(db(), { actor: ada.acting, credentialId: bea.token.credentialId, now });
    const refused = await refusal(tap(ada));
    expect(refused).toMatchObject({ code: "CONFLICT", reason: "not_ready" });
    expect(refused.message).toContain("Bea Admin is an admin without a live hardware token");
    expect(await db().select().from(goLiveTaps)).toHaveLength(0);
  });

  it("an approver group too small: the rule, its group and how many are eligible", async () => {
    bea = await invitedMember(db(), ada.acting, { now, roles: ["admin"] });
    await updatePolicy(db(), {
      actor: ada.acting,
      document: {
        version: 1,
        rules: [
          {
            id: "big-withdrawals",
            description: "Withdrawals need treasury",
            match: { kinds: ["withdrawal"] },
            require: [{ group: "treasury", approvals: 2 }],
          },
        ],
        default: { id: "default", require: [{ group: "approvers", approvals: 2 }] },
      },
      now,
    });
    const refused = await refusal(tap(bea));
    expect(refused.reason).toBe("not_ready");
    expect(refused.message).toContain("Rule big-withdrawals:");
    expect((await goLiveStatus(db())).rules[0]?.ways).toEqual([
      [{ group: "treasury", label: expect.any(String), approvals: 2, eligible: 0 }],
    ]);
  });

  it("a tap is bound to its admin: another admin's response is refused", async () => {
    bea = await invitedMember(db(), ada.acting, { now, roles: ["admin"] });
    const { options } = await beginGoLiveTap(db(), config, { actor: ada.acting, now });
    const refused = await refusal(
      completeGoLiveTap(db(), config, {
        actor: bea.acting,
        // Bea's own token signs Ada's challenge (the browser would only offer Ada's tokens).
        response: bea.token.authenticate({ ...options, allowCredentials: [] }),
        now,
      }),
    );
    expect(refused.reason).toBe("wrong_binding");
    // Burned: Ada cannot use it either.
    const replay = await refusal(
      completeGoLiveTap(db(), config, { actor: ada.acting, response: ada.token.authenticate(options), now }),
    );
    expect(replay.reason).toBe("challenge_invalid");
    expect(await db().select().from(goLiveTaps)).toHaveLength(0);
  });

  it.runIf(engine === "postgres")(
    "two admins tapping last at the same instant on two pools: live once, one installation.live",
    async () => {
      bea = await invitedMember(db(), ada.acting, { now, roles: ["admin"] });
      const cid = await invitedMember(db(), ada.acting, { now, roles: ["admin"] });
      await tap(ada);
      const second = await openDatabase({ engine: "postgres", url: database.url ?? "" });
      try {
        const asked = await Promise.all([
          beginGoLiveTap(db(), config, { actor: bea.acting, now }),
          beginGoLiveTap(second.db, config, { actor: cid.acting, now }),
        ]);
        const [b, c] = asked;
        if (!b || !c) throw new Error("no options");
        const results = await Promise.allSettled([
          completeGoLiveTap(db(), config, {
            actor: bea.acting,
            response: bea.token.authenticate(b.options),
            now,
          }),
          completeGoLiveTap(second.db, config, {
            actor: cid.acting,
            response: cid.token.authenticate(c.options),
            now,
          }),
        ]);
        const outcomes = results.map((r) => (r.status === "fulfilled" ? r.value.live : String(r.reason)));
        expect(outcomes.sort()).toEqual([false, true]);
      } finally {
        await second.close();
      }
      expect(await liveEvents()).toHaveLength(1);
      expect(await db().select().from(goLiveTaps)).toHaveLength(3);
      expect((await installationMode(db())).mode).toBe("live");
      expect((await verifyWholeChain(db())).problems).toEqual([]);
    },
  );
});
