// A live read: the async generator behind each subscription. It yields the reader's snapshot at once, then
// again whenever the audit trail shows a change the snapshot depends on. Before every snapshot, and at least
// every RECHECK_MS, it re-reads the session and the member as they are now, without touching the session
// (a page left open is idle, not active): a session ended, expired or idle, a member suspended or a token
// revoked ends the stream (UNAUTHORIZED), a role taken away ends it (FORBIDDEN). Snapshots are made by the
// same read functions the queries use, for the member as they are now, so nothing more than the query shows.
import "server-only";
import { type TrackedEnvelope, tracked } from "@trpc/server";
import { eq } from "drizzle-orm";
import type { Db } from "@/db/client";
import { members, type Role, sessions, tokens } from "@/db/schema";
import type { SessionMember, SessionPolicy } from "@/server/auth/sessions";
import type { Clock } from "@/server/clock";
import { env } from "@/server/env";
import { AppError, toTRPCError } from "@/server/errors";
import { type AuditHeadWatcher, type Change, watcherFor } from "./audit-head";

/** Without any change, the session is still re-checked this often (expiry, idle time). */
export const RECHECK_MS = 30_000;

export type LiveMember = SessionMember["member"];

export type LiveReadInput<T> = {
  db: Db;
  session: SessionMember;
  /** The roles the mirrored query needs (any one of them). */
  roles: readonly Role[];
  policy: SessionPolicy;
  clock: Clock;
  signal?: AbortSignal;
  /** The id of the last snapshot the client holds (tRPC's tracked lastEventId): the head it was read at. */
  lastEventId?: string | null;
  /** Whether a change may alter this snapshot. */
  relevant: (change: Change) => boolean;
  read: (viewer: LiveMember) => Promise<T>;
  watcher?: AuditHeadWatcher;
  recheckMs?: number;
};

/** The member behind a session now, or the error that ends the stream. Reads only. */
export async function liveViewer(
  db: Db,
  input: { sessionId: string; roles: readonly Role[]; policy: SessionPolicy; now: Date },
): Promise<LiveMember> {
  const [row] = await db
    .select({
      endedAt: sessions.endedAt,
      lastSeenAt: sessions.lastSeenAt,
      expiresAt: sessions.expiresAt,
      id: members.id,
      name: members.name,
      status: members.status,
      roles: members.roles,
      groups: members.groups,
      revokedAt: tokens.revokedAt,
    })
    .from(sessions)
    .innerJoin(members, eq(members.id, sessions.memberId))
    .innerJoin(tokens, eq(tokens.id, sessions.tokenId))
    .where(eq(sessions.id, input.sessionId));
  const now = input.now.getTime();
  const live =
    row !== undefined &&
    row.endedAt === null &&
    row.status === "active" &&
    row.revokedAt === null &&
    now < row.expiresAt.getTime() &&
    now - row.lastSeenAt.getTime() < input.policy.idleMs;
  if (!live) {
    throw toTRPCError(
      new AppError(
        "UNAUTHENTICATED",
        "Your session has ended. Sign in with your hardware token to follow live updates.",
      ),
    );
  }
  if (!input.roles.some((r) => row.roles.includes(r))) {
    throw toTRPCError(new AppError("FORBIDDEN", `This needs the ${input.roles.join(" or ")} role.`));
  }
  return { id: row.id, name: row.name, roles: row.roles, groups: row.groups };
}

function merge(a: Change | null, b: Change): Change {
  if (a === null) return b;
  const subjects =
    a.subjects === "all" || b.subjects === "all" ? "all" : new Set([...a.subjects, ...b.subjects]);
  return { head: Math.max(a.head, b.head), subjects };
}

/**
 * One snapshot. A domain refusal (an operation or a key that does not exist: NOT_FOUND) ends the stream with its
 * own code: thrown as it is from inside the stream, tRPC would send it as INTERNAL_SERVER_ERROR, which the
 * browser's link takes for a passing fault and reconnects to forever.
 */
async function snapshot<T>(read: (viewer: LiveMember) => Promise<T>, viewer: LiveMember): Promise<T> {
  try {
    return await read(viewer);
  } catch (e) {
    if (e instanceof AppError) throw toTRPCError(e);
    throw e;
  }
}

export async function* liveRead<T>(
  input: LiveReadInput<T>,
): AsyncGenerator<TrackedEnvelope<T>, void, unknown> {
  const watcher = input.watcher ?? watcherFor(input.db);
  const recheckMs = input.recheckMs ?? RECHECK_MS;
  let pending: Change | null = null;
  let ended = false;
  let wake: (() => void) | undefined;
  const onAbort = () => {
    ended = true;
    wake?.();
  };
  // Listen before reading the head: a change committed in between is then both seen and not lost.
  const leave = watcher.listen({
    change: (change) => {
      pending = merge(pending, change);
      wake?.();
    },
    close: onAbort,
  });
  input.signal?.addEventListener("abort", onAbort);
  const hasPending = () => pending !== null;
  const takePending = (): Change | null => {
    const change = pending;
    pending = null;
    return change;
  };
  const viewer = () =>
    liveViewer(input.db, {
      sessionId: input.session.sessionId,
      roles: input.roles,
      policy: input.policy,
      now: input.clock(),
    });
  try {
    await watcher.ready();
    let shown = await watcher.currentHead();
    const first = await viewer();
    // A client reconnecting with the head its snapshot was read at has nothing to catch up on.
    if (input.lastEventId !== String(shown)) yield tracked(String(shown), await snapshot(input.read, first));
    while (!ended && !input.signal?.aborted) {
      if (!hasPending()) {
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          wake = resolve;
          timer = setTimeout(resolve, recheckMs);
        });
        clearTimeout(timer);
        wake = undefined;
      }
      if (ended || input.signal?.aborted) return;
      const change = takePending();
      const now = await viewer();
      // A change at or below the head of the last snapshot is already in it.
      if (change !== null && change.head > shown && input.relevant(change)) {
        shown = change.head;
        yield tracked(String(shown), await snapshot(input.read, now));
      }
    }
  } finally {
    leave();
    input.signal?.removeEventListener("abort", onAbort);
  }
}

/** The session rules live reads follow: the server's configured idle and maximum times. */
export function liveSessionPolicy(): SessionPolicy {
  const config = env();
  return { idleMs: config.sessionIdleMs, maxMs: config.sessionMaxMs };
}
