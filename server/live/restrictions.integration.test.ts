// The banner's live subscription (restrictions.onStatus) with real sessions and real taps: it yields again when
// signing is frozen — on PostgreSQL by a second pool, standing for another server process — and again when the
// quorum's signing.unfreeze is carried out, and not for proposing or approving that lifting (a suspended key
// moving its count: batch-progress.integration.test.ts, which has keys). It is refused to an anonymous caller
// and to a session holding no role that may see it, ends when the session ends, and leaves no listener behind.
import { describe, expect, it } from "vitest";
import type { Db } from "@/db/client";
import { createCaller } from "@/server/api/root";
import { createContext } from "@/server/api/trpc";
import { endSession } from "@/server/auth/sessions";
import { runExecutorRound } from "@/server/operations/executor/run";
import { approveInTurn } from "@/server/operations/testing/approve";
import { TEST_WEBAUTHN_CONFIG as config, type Person } from "@/server/testing/identity-fixtures";
import { testEngines } from "@/server/testing/test-db";
import { watcherFor } from "./audit-head";
import { useLiveCast } from "./testing/cast";
import { ended, next, refusedWith, signedIn } from "./testing/subscriptions";

const T0 = new Date("2026-05-06T10:00:00.000Z");

type Shown = {
  freeze: {
    id: string;
    frozenAt: Date;
    frozenBy: { id: string; name: string };
    reason: string | null;
  } | null;
  suspendedKeys: number;
};

describe.each(testEngines())("the restrictions banner's subscription on %s", (engine) => {
  const cast = useLiveCast(engine, { now: T0, dataDirPrefix: "keyward-live-banner-", hookTimeoutMs: 60_000 });

  const signIn = (who: Person, on: Db = cast().db) => signedIn(on, engine, who, T0);

  async function freezeBy(who: Person, reason: string, on: Db) {
    const { api } = await signIn(who, on);
    const { options } = await api.restrictions.beginFreeze({ reason });
    return api.restrictions.freeze({ reason, response: who.token.authenticate(options) });
  }

  it("yields the freeze made elsewhere, then its lifting once the quorum's operation is carried out", async () => {
    const { db, otherDb, operator, pia, quinn, auditor } = cast();
    const banner = (await (await signIn(auditor)).api.restrictions.onStatus())[Symbol.asyncIterator]();
    expect(await next<Shown>(banner)).toEqual({ freeze: null, suspendedKeys: 0 });

    await freezeBy(pia, "a laptop was stolen", otherDb);
    const frozen = await next<Shown>(banner);
    expect(frozen.freeze).toMatchObject({
      frozenBy: { id: pia.acting.id },
      reason: "a laptop was stolen",
    });
    expect(frozen.suspendedKeys).toBe(0);
    const freezeId = frozen.freeze?.id ?? "";

    // Proposing and approving the lifting changes nothing the banner shows: no snapshot for those.
    const { api } = await signIn(operator, otherDb);
    const lifting = await api.operations.propose({ kind: "signing.unfreeze", payload: { freezeId } });
    expect(
      await approveInTurn(otherDb, config, { operationId: lifting.id, voters: [pia, quinn], now: T0 }),
    ).toBe("approved");
    await runExecutorRound({ db: otherDb, clock: () => T0 });

    const lifted = await next<Shown>(banner);
    expect(lifted).toEqual({ freeze: null, suspendedKeys: 0 });
    const status = await (await signIn(auditor)).api.restrictions.status();
    expect(status).toEqual(lifted);

    await banner.return?.();
    expect(watcherFor(db).listening).toBe(0);
  });

  it("is refused to an anonymous caller and to a session with no role that may see it", async () => {
    const { db, auditor } = cast();
    const anonymous = createCaller(createContext({ db, engine, session: null, clock: () => T0 }));
    expect(await refusedWith(anonymous.restrictions.onStatus())).toBe("UNAUTHORIZED");
    // Every role sees the banner: a session naming none is what a role check must refuse.
    const { session } = await signIn(auditor);
    const roleless = createCaller(
      createContext({
        db,
        engine,
        session: { ...session, member: { ...session.member, roles: [] } },
        clock: () => T0,
      }),
    );
    expect(await refusedWith(roleless.restrictions.onStatus())).toBe("FORBIDDEN");
    // The same session with its roles starts.
    const allowed = createCaller(createContext({ db, engine, session, clock: () => T0 }));
    const started = (await allowed.restrictions.onStatus())[Symbol.asyncIterator]();
    expect(await next<Shown>(started)).toEqual({ freeze: null, suspendedKeys: 0 });
    await started.return?.();
  });

  it("ends when the session behind it ends", async () => {
    const { db, otherDb, quinn } = cast();
    const { session, api } = await signIn(quinn);
    const banner = (await api.restrictions.onStatus())[Symbol.asyncIterator]();
    await next(banner);
    await otherDb.transaction((tx) =>
      endSession(tx, { sessionId: session.sessionId, reason: "signed-out", actor: "system", now: T0 }),
    );
    expect(await ended(banner)).toBe("UNAUTHORIZED");
    expect(watcherFor(db).listening).toBe(0);
  });
});
