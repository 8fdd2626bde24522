// The banner's live subscription (restrictions.onStatus) with real sessions and real taps: it yields again when
// signing is frozen — on PostgreSQL by a second pool, standing for another server process — and again when the
// quorum's signing.unfreeze is carried out, and not for proposing or approving that lifting (a suspended key
// moving its count: batch-progress.integration.test.ts, which has keys). It is refused to an anonymous caller
// and to a session holding no role that may see it, ends when the session ends, and leaves no listener behind.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type Database, type Db, openDatabase } from "@/db/client";
import { createCaller } from "@/server/api/root";
import { createContext } from "@/server/api/trpc";
import { endSession } from "@/server/auth/sessions";
import { runExecutorRound } from "@/server/operations/executor/run";
import { approveInTurn } from "@/server/operations/testing/approve";
import {
  TEST_WEBAUTHN_CONFIG as config,
  firstAdmin,
  invitedMember,
  type Person,
} from "@/server/testing/identity-fixtures";
import { createTestDatabase, type TestDatabase, testEngines } from "@/server/testing/test-db";
import { closeLiveWatchers, watcherFor } from "./audit-head";
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
  let database: TestDatabase;
  /** On PostgreSQL, a second pool on the same database: "another server process" makes the change. */
  let other: Database | undefined;
  let db: Db;
  let otherDb: Db;
  let dataDir: string;
  let admin: Person;
  let operator: Person;
  let pia: Person;
  let quinn: Person;
  let auditor: Person;

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), "keyward-live-banner-"));
    vi.stubEnv("KEYWARD_DATA_DIR", dataDir);
    vi.stubEnv("AUTH_SECRET", "s".repeat(32));
    vi.stubEnv("KEYWARD_HSM_PIN", "123456");
    database = await createTestDatabase(engine);
    db = database.db;
    if (engine === "postgres" && database.url) {
      other = await openDatabase({ engine: "postgres", url: database.url });
      otherDb = other.db;
    } else otherDb = db;
    admin = await firstAdmin(db, { now: T0 });
    operator = await invitedMember(db, admin.acting, { now: T0, roles: ["operator"] });
    pia = await invitedMember(db, admin.acting, { now: T0, roles: ["approver"] });
    quinn = await invitedMember(db, admin.acting, { now: T0, roles: ["approver"] });
    auditor = await invitedMember(db, admin.acting, { now: T0, roles: ["auditor"] });
  }, 60_000);

  afterAll(async () => {
    closeLiveWatchers();
    await other?.close();
    await database.drop();
    vi.unstubAllEnvs();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const signIn = (who: Person, on: Db = db) => signedIn(on, engine, who, T0);

  async function freezeBy(who: Person, reason: string, on: Db) {
    const { api } = await signIn(who, on);
    const { options } = await api.restrictions.beginFreeze({ reason });
    return api.restrictions.freeze({ reason, response: who.token.authenticate(options) });
  }

  it("yields the freeze made elsewhere, then its lifting once the quorum's operation is carried out", async () => {
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
