// A key.create batch's live progress (operations.onBatchProgress) with a real SoftHSM token behind the signer
// facade: the subscription yields the recorded progress after a chunk of keys is recorded — on PostgreSQL by a
// second pool, standing for another server process — while the batch is held before its next chunk, then the
// end; the banner's subscription (restrictions.onStatus) moves its count of suspended keys when one of those keys
// is suspended with a tap. Refused to an anonymous caller and to a session holding no role that may see it; an
// operation that does not exist ends the stream with NOT_FOUND; a single key.create has no progress (null).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "@/db/client";
import { createCaller } from "@/server/api/root";
import { createContext } from "@/server/api/trpc";
import { createTestToken, type TestToken } from "@/server/hsm/testing/test-token";
import { executeBatch, keyBatchOfOperation } from "@/server/operations/executor/batch";
import { claimApproved } from "@/server/operations/executor/claim";
import { useTokenForServer } from "@/server/operations/executor/testing/fixtures";
import { heldSigner } from "@/server/operations/executor/testing/held-signer";
import { proposeOperation } from "@/server/operations/propose";
import { approveInTurn } from "@/server/operations/testing/approve";
import { TEST_WEBAUTHN_CONFIG as config, type Person } from "@/server/testing/identity-fixtures";
import { testEngines } from "@/server/testing/test-db";
import { watcherFor } from "./audit-head";
import type { BatchProgress } from "./batch-progress";
import { useLiveCast } from "./testing/cast";
import { ended, next, refusedWith, signedIn } from "./testing/subscriptions";

const T0 = new Date("2026-05-06T10:00:00.000Z");
const clock = () => T0;

let token: TestToken;
let server: { close: () => Promise<void> };

beforeAll(() => {
  token = createTestToken("kw-live-batch");
  server = useTokenForServer(token);
});

afterAll(async () => {
  await server.close();
  token.cleanup();
});

describe.each(testEngines())("a batch's live progress on %s", (engine) => {
  // The environment is the SoftHSM token's (useTokenForServer above): the cast stubs none of its own.
  const cast = useLiveCast(engine, { now: T0, hookTimeoutMs: 60_000 });

  const signIn = (who: Person, on: Db = cast().db) => signedIn(on, engine, who, T0);

  async function approvedKeyCreate(payload: Record<string, unknown>): Promise<string> {
    const { db, operator, pia, quinn } = cast();
    const op = await proposeOperation(db, { actor: operator.acting, kind: "key.create", payload, now: T0 });
    expect(await approveInTurn(db, config, { operationId: op.id, voters: [pia, quinn], now: T0 })).toBe(
      "approved",
    );
    return op.id;
  }

  it("yields the progress recorded with each chunk while the batch runs, then its end", {
    timeout: 120_000,
  }, async () => {
    const { db, otherDb, auditor } = cast();
    const id = await approvedKeyCreate({
      label: "acct-{n}",
      curve: "p256",
      tags: ["customer"],
      exportable: "never",
      batch: { count: 4, first: 1 },
    });
    const live = (await (await signIn(auditor)).api.operations.onBatchProgress({ operationId: id }))[
      Symbol.asyncIterator
    ]();
    expect(await next<BatchProgress>(live)).toEqual({ state: "approved", done: 0, total: 4 });

    // Chunks of 2; the third key waits until released, so the batch is held at 2 of 4 recorded.
    const signer = heldSigner(2);
    const op = await claimApproved(otherDb, T0, id);
    const plan = op === null ? null : keyBatchOfOperation(op);
    if (op === null || plan === null) throw new Error("no batch claimed");
    const running = executeBatch({ db: otherDb, clock, signer }, op, plan, {
      chunk: 2,
      inFlight: 1,
      renewEveryMs: 60_000,
    });

    // The claim (operation.executing) may come as a snapshot of its own before the first chunk's keys.
    const seen: BatchProgress[] = [];
    let snapshot = await next<BatchProgress>(live);
    seen.push(snapshot);
    while (snapshot.done < 2) {
      snapshot = await next<BatchProgress>(live);
      seen.push(snapshot);
    }
    expect(snapshot).toEqual({ state: "executing", done: 2, total: 4 });
    expect(seen.slice(0, -1)).toEqual(
      seen.slice(0, -1).map(() => ({ state: "executing", done: 0, total: 4 })),
    );

    signer.release();
    expect(await running).toEqual({ operationId: id, outcome: "executed" });
    snapshot = await next<BatchProgress>(live);
    while (snapshot.state !== "executed") snapshot = await next<BatchProgress>(live);
    expect(snapshot).toEqual({ state: "executed", done: 4, total: 4 });

    await live.return?.();
    expect(watcherFor(db).listening).toBe(0);
  });

  it("moves the banner's count when a key is suspended elsewhere", { timeout: 120_000 }, async () => {
    const { otherDb, operator, pia } = cast();
    const banner = (await (await signIn(operator)).api.restrictions.onStatus())[Symbol.asyncIterator]();
    expect(await next(banner)).toEqual({ freeze: null, suspendedKeys: 0 });
    const { api } = await signIn(pia, otherDb);
    // One of the keys the batch above made.
    const { keys } = await api.keys.list({ search: "acct-" });
    const keyId = keys[0]?.id;
    if (keyId === undefined) throw new Error("the batch above made no key");
    const { options } = await api.operations.beginSuspendKey({ keyId });
    await api.operations.suspendKey({ keyId, response: pia.token.authenticate(options) });
    expect(await next(banner)).toEqual({ freeze: null, suspendedKeys: 1 });
    await banner.return?.();
  });

  it("has nothing for a single key, and ends with NOT_FOUND for an operation that does not exist", async () => {
    const { pia } = cast();
    const single = await approvedKeyCreate({
      label: "One key",
      curve: "p256",
      tags: [],
      exportable: "never",
    });
    const { api } = await signIn(pia);
    const live = (await api.operations.onBatchProgress({ operationId: single }))[Symbol.asyncIterator]();
    expect(await next(live)).toBeNull();
    await live.return?.();
    const missing = (
      await api.operations.onBatchProgress({ operationId: "00000000-0000-4000-8000-000000000000" })
    )[Symbol.asyncIterator]();
    expect(await ended(missing)).toBe("NOT_FOUND");
  });

  it("is refused to an anonymous caller and to a session with no role that may see it", async () => {
    const { db, auditor } = cast();
    const operationId = "00000000-0000-4000-8000-000000000000";
    const anonymous = createCaller(createContext({ db, engine, session: null, clock }));
    expect(await refusedWith(anonymous.operations.onBatchProgress({ operationId }))).toBe("UNAUTHORIZED");
    // Every role may open an operation's page: a session naming none is what a role check must refuse.
    const { session } = await signIn(auditor);
    const roleless = createCaller(
      createContext({ db, engine, session: { ...session, member: { ...session.member, roles: [] } }, clock }),
    );
    expect(await refusedWith(roleless.operations.onBatchProgress({ operationId }))).toBe("FORBIDDEN");
  });
});
