// Test helpers for live subscriptions (server/live/*.test.ts only): people signed in through the real ceremony
// (a challenge answered by their software token, a live session row), a tRPC caller acting for them, and the
// next snapshot a subscription yields or the way it ended.
import { TRPCError } from "@trpc/server";
import type { Db } from "@/db/client";
import { createCaller } from "@/server/api/root";
import { createContext } from "@/server/api/trpc";
import type { SessionPolicy } from "@/server/auth/sessions";
import { resumeSession } from "@/server/auth/sessions";
import { beginSignIn, completeSignIn } from "@/server/auth/sign-in";
import type { Clock } from "@/server/clock";
import { TEST_WEBAUTHN_CONFIG as config, type Person } from "@/server/testing/identity-fixtures";

export const TEST_SESSION_POLICY: SessionPolicy = { idleMs: 15 * 60_000, maxMs: 8 * 3_600_000 };

/** Signs `who` in on `db` at `now`; the caller's clock is `clock` (now, unless told). */
export async function signedIn(
  db: Db,
  engine: "pglite" | "postgres",
  who: Person,
  now: Date,
  clock: Clock = () => now,
) {
  const options = await beginSignIn(db, config, now);
  const { sessionId } = await completeSignIn(db, config, {
    response: who.token.authenticate(options),
    now,
    policy: TEST_SESSION_POLICY,
  });
  const session = await resumeSession(db, { sessionId, now, policy: TEST_SESSION_POLICY });
  if (!session) throw new Error("no live session");
  return { session, api: createCaller(createContext({ db, engine, session, clock })) };
}

/** The data of the next snapshot a subscription yields (tracked: [id, data]). */
export async function next<T>(iterator: AsyncIterator<unknown>): Promise<T> {
  const step = await iterator.next();
  if (step.done) throw new Error("the subscription ended");
  const envelope = step.value;
  if (!Array.isArray(envelope)) throw new Error("expected a tracked envelope");
  return envelope[1] as T;
}

/** How a subscription ends at its next step: "done", "yielded", or the tRPC error code it failed with. */
export async function ended(iterator: AsyncIterator<unknown>): Promise<string> {
  try {
    const step = await iterator.next();
    return step.done ? "done" : "yielded";
  } catch (e) {
    return e instanceof TRPCError ? e.code : "ERROR";
  }
}

/** The tRPC error code a call was refused with, or "started" when it was not refused. */
export async function refusedWith(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return "started";
  } catch (e) {
    return e instanceof TRPCError ? e.code : "ERROR";
  }
}
