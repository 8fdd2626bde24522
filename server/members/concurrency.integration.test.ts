// Two admins acting at the same moment, for real: each race runs its two calls at once (Promise.allSettled)
// on separate connections of the PostgreSQL pool, many rounds over, and checks what must hold whatever the
// interleaving: at least one admin who can sign in, one member per invitation, one admin from setup, one
// live token left to the last admin. PGlite runs transactions one after another, so it cannot race: these
// tests run on PostgreSQL only.
import { and, arrayContains, count, eq, exists, isNull } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Db } from "@/db/client";
import { invitations, members, tokens } from "@/db/schema";
import { setupCodeSchema } from "@/server/auth/schemas";
import { beginSetup, completeSetup, issueSetupCode } from "@/server/auth/setup-code";
import {
  TEST_WEBAUTHN_CONFIG as config,
  firstAdmin,
  invitedMember,
  type Person,
} from "@/server/testing/identity-fixtures";
import { addToken } from "@/server/testing/add-token";
import { SoftAuthenticator } from "@/server/testing/soft-authenticator";
import { createTestDatabase, type TestDatabase, testEngines } from "@/server/testing/test-db";
import { beginAcceptInvitation, completeAcceptInvitation, createInvitation } from "./invitations";
import { suspendMember, updateMember } from "./members";
import { revokeToken } from "./tokens";

const ROUNDS = 30;
/** Fewer for setup: each of its rounds needs a database of its own. */
const SETUP_ROUNDS = 25;
const T0 = new Date("2026-04-06T09:00:00.000Z");

const onPostgres = testEngines().includes("postgres");

/** Ids of the active admins who hold a live token: the people who can still run Keyward. */
async function usableAdmins(db: Db): Promise<string[]> {
  const rows = await db
    .select({ id: members.id })
    .from(members)
    .where(
      and(
        arrayContains(members.roles, ["admin"]),
        eq(members.status, "active"),
        exists(
          db
            .select({ one: tokens.id })
            .from(tokens)
            .where(and(eq(tokens.memberId, members.id), isNull(tokens.revokedAt))),
        ),
      ),
    );
  return rows.map((r) => r.id);
}

/** How a race ended: the code of each refused call, "ok" for each that went through. */
function outcomeCodes(outcomes: PromiseSettledResult<unknown>[]): string[] {
  return outcomes
    .map((o) => {
      if (o.status === "fulfilled") return "ok";
      const reason: unknown = o.reason;
      return reason && typeof reason === "object" && "code" in reason ? String(reason.code) : String(reason);
    })
    .sort();
}

/**
 * Checked after all rounds, so that a broken invariant (checked in each round, first) is what a failure
 * reports: in every round exactly one call went through and the other was refused with `code`.
 */
function expectOneWinnerEachRound(rounds: string[][], code: string) {
  expect(rounds).toEqual(rounds.map(() => [code, "ok"].sort()));
}

describe.skipIf(!onPostgres)(
  "membership races on PostgreSQL (skipped without TEST_DATABASE_URL: PGlite runs transactions one after another, so nothing can race there)",
  () => {
    // A fresh database and first admin for each test, so one broken invariant cannot cascade into the next.
    let database: TestDatabase | undefined;
    let db: Db;
    /** The only usable admin between rounds; each race's survivor carries on. */
    let survivor: Person;

    beforeEach(async () => {
      database = await createTestDatabase("postgres");
      db = database.db;
      survivor = await firstAdmin(db, { now: T0 });
    });
    afterEach(async () => {
      await database?.drop();
      database = undefined;
    });

    /** Invites a second admin, so that exactly two usable admins face each other in the round. */
    async function rival(): Promise<Person> {
      expect(await usableAdmins(db)).toEqual([survivor.acting.id]);
      return invitedMember(db, survivor.acting, { now: T0, roles: ["admin"] });
    }

    /** After a race between `a` and `b`: at least one of them is still a usable admin, who carries on. */
    async function nextSurvivor(a: Person, b: Person) {
      const usable = await usableAdmins(db);
      expect(usable.length, "no admin who can sign in is left").toBeGreaterThanOrEqual(1);
      expect(usable).toHaveLength(1);
      survivor = usable[0] === a.acting.id ? a : b;
    }

    const suspend = (actor: Person, target: Person) =>
      suspendMember(db, { actor: actor.acting, memberId: target.acting.id, now: T0 });
    const demote = (actor: Person, target: Person) =>
      updateMember(db, { actor: actor.acting, memberId: target.acting.id, roles: ["operator"], groups: [], now: T0 });
    const revoke = (actor: Person, credentialId: string) =>
      revokeToken(db, { actor: actor.acting, credentialId, now: T0 });

    it(`two admins suspending each other at once leave one admin (${ROUNDS} rounds)`, async () => {
      const rounds: string[][] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const a = survivor;
        const b = await rival();
        const outcomes = await Promise.allSettled([suspend(a, b), suspend(b, a)]);
        await nextSurvivor(a, b);
        rounds.push(outcomeCodes(outcomes));
      }
      expectOneWinnerEachRound(rounds, "FORBIDDEN");
    });

    it(`two admins demoting each other at once leave one admin (${ROUNDS} rounds)`, async () => {
      const rounds: string[][] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const a = survivor;
        const b = await rival();
        const outcomes = await Promise.allSettled([demote(a, b), demote(b, a)]);
        await nextSurvivor(a, b);
        rounds.push(outcomeCodes(outcomes));
      }
      expectOneWinnerEachRound(rounds, "FORBIDDEN");
    });

    it(`one admin suspending the other while that one demotes the first leave one admin (${ROUNDS} rounds)`, async () => {
      const rounds: string[][] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const a = survivor;
        const b = await rival();
        // Alternate who suspends and who demotes, so both directions of the race are tried.
        const [suspender, demoter] = round % 2 === 0 ? [a, b] : [b, a];
        const outcomes = await Promise.allSettled([suspend(suspender, demoter), demote(demoter, suspender)]);
        await nextSurvivor(a, b);
        rounds.push(outcomeCodes(outcomes));
      }
      expectOneWinnerEachRound(rounds, "FORBIDDEN");
    });

    it(`two admins revoking each other's only token at once leave one admin who can sign in (${ROUNDS} rounds)`, async () => {
      const rounds: string[][] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const a = survivor;
        const b = await rival();
        const outcomes = await Promise.allSettled([revoke(a, b.token.credentialId), revoke(b, a.token.credentialId)]);
        await nextSurvivor(a, b);
        rounds.push(outcomeCodes(outcomes));
        // The loser keeps the admin role but has no live token: it must not count as a usable admin next round.
      }
      expectOneWinnerEachRound(rounds, "FORBIDDEN");
    });

    it(`revoking the last admin's two tokens at once leaves one live token (${ROUNDS} rounds)`, async () => {
      const rounds: string[][] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const admin = survivor;
        expect(await usableAdmins(db)).toEqual([admin.acting.id]);
        const spare = new SoftAuthenticator();
        await addToken(db, config, {
          memberId: admin.acting.id,
          approver: admin.token,
          token: spare,
          nickname: `Spare ${round}`,
          now: T0,
        });
        const outcomes = await Promise.allSettled([
          revoke(admin, admin.token.credentialId),
          revoke(admin, spare.credentialId),
        ]);
        const live = await db
          .select({ id: tokens.id })
          .from(tokens)
          .where(and(eq(tokens.memberId, admin.acting.id), isNull(tokens.revokedAt)));
        expect(live.length, "the last admin has no live token left").toBe(1);
        rounds.push(outcomeCodes(outcomes));
        // Carry on with whichever token is still live.
        const token = live[0]?.id === spare.credentialId ? spare : admin.token;
        survivor = { acting: admin.acting, token };
      }
      expectOneWinnerEachRound(rounds, "CONFLICT");
    });

    it(`one invitation accepted twice at once makes one member (${ROUNDS} rounds)`, async () => {
      const rounds: string[][] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const { id, secret } = await createInvitation(db, {
          actor: survivor.acting,
          name: `Twice ${round}`,
          roles: ["approver"],
          groups: [],
          ttlMs: 3_600_000,
          now: T0,
        });
        // Two browsers opened the same link and each registered its own token.
        const attempts = await Promise.all(
          [new SoftAuthenticator(), new SoftAuthenticator()].map(async (token) => {
            const options = await beginAcceptInvitation(db, config, { secret, now: T0 });
            return token.register(options);
          }),
        );
        const outcomes = await Promise.allSettled(
          attempts.map((response) =>
            completeAcceptInvitation(db, config, { secret, tokenName: "Key", response, now: T0 }),
          ),
        );
        const [made] = await db.select({ n: count() }).from(members).where(eq(members.name, `Twice ${round}`));
        expect(made?.n, "one invitation made two members").toBe(1);
        rounds.push(outcomeCodes(outcomes));
        const [row] = await db.select().from(invitations).where(eq(invitations.id, id));
        expect(row?.acceptedBy).toBeTruthy();
      }
      expectOneWinnerEachRound(rounds, "CONFLICT");
    });
  },
);

describe.skipIf(!onPostgres)(
  "first-admin setup raced on PostgreSQL (skipped without TEST_DATABASE_URL: PGlite runs transactions one after another)",
  () => {
    let round: TestDatabase | undefined;
    afterEach(async () => {
      await round?.drop();
      round = undefined;
    });

    it(`setup completed twice at once makes one admin (${SETUP_ROUNDS} rounds, a fresh database each)`, async () => {
      const rounds: string[][] = [];
      for (let i = 0; i < SETUP_ROUNDS; i++) {
        round = await createTestDatabase("postgres");
        const { db } = round;
        const issued = await issueSetupCode(db, { now: T0, ttlMs: 60_000 });
        if (!issued) throw new Error("no setup code was issued");
        const code = setupCodeSchema.parse(issued.code);
        // Two people with the printed code, each registering their own token.
        const people = await Promise.all(
          ["Ada", "Bob"].map(async (name) => {
            const options = await beginSetup(db, config, { code, name, now: T0 });
            return { name, response: new SoftAuthenticator().register(options) };
          }),
        );
        const outcomes = await Promise.allSettled(
          people.map(({ name, response }) =>
            completeSetup(db, config, { code, name, tokenName: "Key", response, now: T0 }),
          ),
        );
        const admins = await db.select({ id: members.id }).from(members).where(arrayContains(members.roles, ["admin"]));
        expect(admins.length, "setup made two admins").toBe(1);
        rounds.push(outcomeCodes(outcomes));
        await round.drop();
        round = undefined;
      }
      expectOneWinnerEachRound(rounds, "CONFLICT");
    });
  },
);
