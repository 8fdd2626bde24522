"use client";
// The home page's live parts: what waits for me (operations I may still vote on, my own proposals still
// waiting for others, with their deadlines, and operations I may veto now: waiting out a delay, with the time it
// ends; canVeto from operations.list, the same judgement as the operation page) and keys by state. operations.onList and keys.onCounts push both
// again whenever an operation, a member or a key changes; the server page hands the first snapshot.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import Link from "next/link";
import { KEY_STATES } from "@/db/schema/operations";
import { useTRPC } from "./_trpc/client";
import { KeyStateBadge, timeLeft, utc } from "./operations/badges";
import { LiveIndicator } from "./operations/live";

const PENDING = { state: "pending", limit: 50 } as const;
const WAITING = { state: "waiting", limit: 50 } as const;

export function HomeLive({ memberId }: { memberId: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const pending = useQuery(trpc.operations.list.queryOptions(PENDING));
  const held = useQuery(trpc.operations.list.queryOptions(WAITING));
  const counts = useQuery(trpc.keys.counts.queryOptions());
  const livePending = useSubscription(
    trpc.operations.onList.subscriptionOptions(PENDING, {
      onData: ({ data }) => queryClient.setQueryData(trpc.operations.list.queryKey(PENDING), data),
    }),
  );
  const liveHeld = useSubscription(
    trpc.operations.onList.subscriptionOptions(WAITING, {
      onData: ({ data }) => queryClient.setQueryData(trpc.operations.list.queryKey(WAITING), data),
    }),
  );
  const liveCounts = useSubscription(
    trpc.keys.onCounts.subscriptionOptions(undefined, {
      onData: ({ data }) => queryClient.setQueryData(trpc.keys.counts.queryKey(), data),
    }),
  );
  const now = new Date(pending.dataUpdatedAt || Date.now());
  const ops = pending.data ?? [];
  const waiting = [...ops.filter((op) => op.canVote), ...ops.filter((op) => op.initiatorId === memberId)];
  const vetoable = (held.data ?? []).filter((op) => op.canVeto && op.release?.at);
  return (
    <>
      <section className="card space-y-3" aria-labelledby="waiting">
        <div className="flex flex-wrap items-center gap-3">
          <h2 id="waiting" className="text-lg font-medium">
            Waiting for you
          </h2>
          <LiveIndicator subscriptions={[livePending, liveHeld, liveCounts]} />
          <Link href="/operations" className="ml-auto text-sm text-indigo-800 hover:underline">
            All approvals ({ops.length} pending)
          </Link>
        </div>
        {waiting.length === 0 && vetoable.length === 0 && (
          <p className="text-sm text-slate-600" data-testid="nothing-waiting">
            Nothing waits for your vote.
          </p>
        )}
        {waiting.length > 0 && (
          <ul className="divide-y divide-slate-100 text-sm" data-testid="waiting-list">
            {waiting.map((op) => (
              <li key={op.id} className="flex flex-wrap items-center gap-x-3 gap-y-1 py-2">
                <Link href={`/operations/${op.id}`} className="font-medium text-indigo-800 hover:underline">
                  {op.title}
                </Link>
                <span className="text-slate-600">
                  {op.canVote ? `proposed by ${op.initiatorName}` : "your proposal"} ·{" "}
                  {op.tally.map((t) => `${t.approvals} of ${t.needed} from ${t.group}`).join(" and ")}
                </span>
                <span className="ml-auto text-slate-600">
                  deadline {utc(op.expiresAt)} ({timeLeft(op.expiresAt, now)})
                </span>
              </li>
            ))}
          </ul>
        )}
        {vetoable.length > 0 && (
          <ul className="divide-y divide-slate-100 text-sm" data-testid="veto-list">
            {vetoable.map((op) => (
              <li key={op.id} className="flex flex-wrap items-center gap-x-3 gap-y-1 py-2">
                <Link href={`/operations/${op.id}`} className="font-medium text-indigo-800 hover:underline">
                  {op.title}
                </Link>
                <span className="text-slate-600">
                  proposed by {op.initiatorName} · approved, waiting out a delay
                  <span className="ml-2 rounded bg-red-100 px-2 text-xs font-semibold text-red-900">
                    you may veto
                  </span>
                </span>
                {op.release?.at && (
                  <span className="ml-auto text-slate-600">
                    delay ends {utc(op.release.at)} ({timeLeft(op.release.at, now)})
                  </span>
                )}
              </li>
            ))}
          </ul>
        )}
      </section>

      <section className="card space-y-3" aria-labelledby="keys-by-state">
        <div className="flex items-center gap-3">
          <h2 id="keys-by-state" className="text-lg font-medium">
            Keys by state
          </h2>
          <Link href="/keys" className="ml-auto text-sm text-indigo-800 hover:underline">
            All keys
          </Link>
        </div>
        <ul className="flex flex-wrap gap-4 text-sm" data-testid="key-counts">
          {KEY_STATES.map((state) => (
            <li key={state} className="flex items-center gap-2">
              <KeyStateBadge state={state} />
              <span className="font-semibold">{counts.data?.[state] ?? "…"}</span>
            </li>
          ))}
        </ul>
      </section>
    </>
  );
}
