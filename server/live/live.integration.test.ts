// Live updates through the tRPC subscriptions, with real sessions (signed in with real tokens) and real votes
// (taps answered by a software authenticator): a subscription yields again after a vote commits — on
// PostgreSQL the vote goes through a second pool, standing for a second server process; an auditor's
// snapshots are read-only; a signed-out or suspended member's subscription ends; subscriptions that end leave
// no listener behind, and shutdown ends those still open.
import { TRPCError } from "@trpc/server";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import type { Db } from "@/db/client";
import { sessions } from "@/db/schema";
import { createCaller } from "@/server/api/root";
import { createContext } from "@/server/api/trpc";
import { endSession, resumeSession } from "@/server/auth/sessions";
import { beginSignIn, completeSignIn } from "@/server/auth/sign-in";
import { revokeMemberToken } from "@/server/members/member-sessions";
import { suspendMember } from "@/server/members/members";
import { TEST_WEBAUTHN_CONFIG as config, type Person } from "@/server/testing/identity-fixtures";
import { testEngines } from "@/server/testing/test-db";
import { closeLiveWatchers, watcherFor } from "./audit-head";
import { useLiveCast } from "./testing/cast";

const T0 = new Date("2026-05-06T10:00:00.000Z");
const sessionPolicy = { idleMs: 15 * 60_000, maxMs: 8 * 3_600_000 };
const payload = { label: "Live key", curve: "p256", tags: ["hot"], exportable: "never" };

/** The next snapshot a subscription yields (tracked: [id, data]). */
async function next<T>(iterator: AsyncIterator<unknown>): Promise<T> {
  const step = await iterator.next();
  if (step.done) throw new Error("the subscription ended");
  const envelope = step.value;
  if (!Array.isArray(envelope)) throw new Error("expected a tracked envelope");
  return envelope[1] as T;
}

async function ended(iterator: AsyncIterator<unknown>): Promise<string> {
  try {
    const step = await iterator.next();
    return step.done ? "done" : "yielded";
  } catch (e) {
    return e instanceof TRPCError ? e.code : "ERROR";
  }
}

type Row = {
  id: string;
  tally: { approvals: number; needed: number }[];
  canVote: boolean;
  canCancel: boolean;
};
type OperationSnapshot = {
  operation: Row & { votes: unknown[]; state: string };
  timeline: { action: string }[];
};

describe.each(testEngines())("live subscriptions on %s", (engine) => {
  const cast = useLiveCast(engine, { now: T0, dataDirPrefix: "keyward-live-" });

  async function signIn(who: Person, on: Db = cast().db, clock: () => Date = () => T0) {
    const options = await beginSignIn(on, config, T0);
    const { sessionId } = await completeSignIn(on, config, {
      response: who.token.authenticate(options),
      now: T0,
      policy: sessionPolicy,
    });
    const session = await resumeSession(on, { sessionId, now: T0, policy: sessionPolicy });
    if (!session) throw new Error("no live session");
    return { session, api: createCaller(createContext({ db: on, engine, session, clock })) };
  }

  async function vote(who: Person, operationId: string, on: Db) {
    const { api } = await signIn(who, on);
    const { options } = await api.operations.beginVote({ operationId, decision: "approve" });
    await api.operations.completeVote({
      operationId,
      decision: "approve",
      response: who.token.authenticate(options),
    });
  }

  it("yields after a proposal and after a vote committed elsewhere; an auditor's snapshots are read-only", async () => {
    const { db, otherDb, operator, pia, quinn, auditor } = cast();
    const piaInbox = (await (await signIn(pia)).api.operations.onList({ state: "pending" }))[
      Symbol.asyncIterator
    ]();
    expect(await next<Row[]>(piaInbox)).toEqual([]);
    const op = await (await signIn(operator)).api.operations.propose({ kind: "key.create", payload });

    const arrived = await next<Row[]>(piaInbox);
    expect(arrived.map((r) => [r.id, r.canVote, r.tally[0]?.approvals])).toEqual([[op.id, true, 0]]);

    const auditorView = (await (await signIn(auditor)).api.operations.onOperation({ operationId: op.id }))[
      Symbol.asyncIterator
    ]();
    const first = await next<OperationSnapshot>(auditorView);
    expect(first.operation).toMatchObject({ state: "pending", canVote: false, canCancel: false });
    expect(first.timeline.map((e) => e.action)).toEqual(["operation.proposed"]);

    await vote(quinn, op.id, otherDb);

    const afterVote = await next<Row[]>(piaInbox);
    expect(afterVote.map((r) => [r.id, r.canVote, r.tally[0]?.approvals])).toEqual([[op.id, true, 1]]);
    const seen = await next<OperationSnapshot>(auditorView);
    expect(seen.operation).toMatchObject({
      canVote: false,
      canCancel: false,
      tally: [{ approvals: 1, needed: 2 }],
    });
    expect(seen.operation.votes).toHaveLength(1);
    expect(seen.timeline.map((e) => e.action)).toEqual(["operation.proposed", "vote.cast"]);

    // Leaving ends the listener: nothing keeps reading for a page nobody has open.
    await piaInbox.return?.();
    await auditorView.return?.();
    expect(watcherFor(db).listening).toBe(0);
  });

  it("ends the subscription of a member who signs out, and of one who is suspended", async () => {
    const { db, otherDb, admin, pia, quinn } = cast();
    const piaLive = await signIn(pia);
    const piaInbox = (await piaLive.api.operations.onList({}))[Symbol.asyncIterator]();
    await next(piaInbox);
    const quinnKeys = (await (await signIn(quinn)).api.keys.onList({}))[Symbol.asyncIterator]();
    await next(quinnKeys);

    await db.transaction((tx) =>
      endSession(tx, {
        sessionId: piaLive.session.sessionId,
        reason: "signed-out",
        actor: "system",
        now: T0,
      }),
    );
    expect(await ended(piaInbox)).toBe("UNAUTHORIZED");

    await suspendMember(otherDb, { actor: admin.acting, memberId: quinn.acting.id, now: T0 });
    expect(await ended(quinnKeys)).toBe("UNAUTHORIZED");
    expect(watcherFor(db).listening).toBe(0);
  });

  it("ends the subscription of a member whose token is revoked", async () => {
    const { otherDb, admin, operator } = cast();
    const { session, api } = await signIn(operator);
    const inbox = (await api.operations.onList({}))[Symbol.asyncIterator]();
    await next(inbox);
    await revokeMemberToken(otherDb, {
      actor: admin.acting,
      memberId: operator.acting.id,
      credentialId: session.tokenId,
      now: T0,
    });
    expect(await ended(inbox)).toBe("UNAUTHORIZED");
  });

  it("does not count following a page as activity: a session left idle ends its subscription", async () => {
    const { db, admin, pia } = cast();
    let now = T0;
    const { session, api } = await signIn(pia, db, () => now);
    const inbox = (await api.operations.onList({}))[Symbol.asyncIterator]();
    await next(inbox);
    const lastSeen = async () =>
      (
        await db
          .select({ lastSeenAt: sessions.lastSeenAt })
          .from(sessions)
          .where(eq(sessions.id, session.sessionId))
      )[0]?.lastSeenAt;
    // A minute later a proposal arrives: the snapshot comes, and the session was only read, not touched.
    now = new Date(T0.getTime() + 60_000);
    await (await signIn(admin)).api.operations.propose({ kind: "key.create", payload });
    await next(inbox);
    expect(await lastSeen()).toEqual(T0);
    // Idle since its last request: at the next change the stream ends.
    now = new Date(T0.getTime() + sessionPolicy.idleMs);
    await signIn(admin);
    expect(await ended(inbox)).toBe("UNAUTHORIZED");
  });

  it("refuses to start for a session that is no longer live", async () => {
    const { db, auditor } = cast();
    const { session, api } = await signIn(auditor);
    await db.transaction((tx) =>
      endSession(tx, { sessionId: session.sessionId, reason: "signed-out", actor: "system", now: T0 }),
    );
    const counts = (await api.keys.onCounts())[Symbol.asyncIterator]();
    expect(await ended(counts)).toBe("UNAUTHORIZED");
  });

  it("ends open subscriptions on shutdown", async () => {
    const { admin } = cast();
    const counts = (await (await signIn(admin)).api.keys.onCounts())[Symbol.asyncIterator]();
    expect(await next(counts)).toMatchObject({ active: 0 });
    const waiting = ended(counts);
    closeLiveWatchers();
    expect(await waiting).toBe("done");
  });
});
