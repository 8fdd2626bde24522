"use client";
// The approvals inbox: pending operations (or all of them), each with its kind, what it does, who proposed it,
// its deadline and the votes it has against those it needs. The list comes with each row's tally in one call
// (operations.list), and operations.onList pushes it again whenever an operation or a member changes. Waiting
// operations (their votes met the rule; a delay, a closed window or a velocity cap holds them) show when they
// run, and whether the viewer may veto.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import Link from "next/link";
import { useState } from "react";
import type { OperationState } from "@/db/schema";
import { FormError } from "../_components/form-error";
import { describeError } from "../_components/token-ceremony";
import { useTRPC } from "../_trpc/client";
import { OperationStateBadge, timeLeft, utc } from "./badges";
import { LiveIndicator } from "./live";
import { countdown, type Release, releaseLine } from "./release";

type Row = {
  id: string;
  kind: string;
  title: string;
  state: OperationState;
  initiatorName: string;
  createdAt: Date;
  expiresAt: Date;
  tally: { group: string; needed: number; approvals: number }[];
  canVote: boolean;
  canVeto: boolean;
  myVote: string | null;
  release: Release | null;
};

function Waiting({ op, now }: { op: Row; now: Date }) {
  if (!op.release) return <span className="text-slate-500">waiting</span>;
  return (
    <span data-testid="op-waiting">
      {releaseLine(op.release, now)}
      {op.canVeto && (
        <span className="ml-2 rounded bg-red-100 px-2 text-xs font-semibold text-red-900">you may veto</span>
      )}
    </span>
  );
}

function Tally({ op }: { op: Row }) {
  return (
    <span data-testid="op-tally">
      {op.tally.map((t) => `${t.approvals} of ${t.needed} from ${t.group}`).join(" and ")}
      {op.canVote && (
        <span className="ml-2 rounded bg-indigo-100 px-2 text-xs font-semibold text-indigo-900">
          your vote
        </span>
      )}
      {op.myVote && <span className="ml-2 text-xs text-slate-500">you voted {op.myVote}</span>}
    </span>
  );
}

function OperationRow({ op, now }: { op: Row; now: Date }) {
  return (
    <tr className="border-t border-slate-200 align-top" data-testid="op-row">
      <td className="py-2 pr-3">
        <Link href={`/operations/${op.id}`} className="font-medium text-indigo-800 hover:underline">
          {op.title}
        </Link>
        <div className="text-xs text-slate-500">{op.kind}</div>
      </td>
      <td className="py-2 pr-3">
        <OperationStateBadge state={op.state} />
      </td>
      <td className="py-2 pr-3">{op.initiatorName}</td>
      <td className="py-2 pr-3">
        {op.state === "pending" ? (
          <>
            <div>{utc(op.expiresAt)}</div>
            <div className="text-xs text-slate-500">{timeLeft(op.expiresAt, now)}</div>
          </>
        ) : op.state === "waiting" && op.release?.at ? (
          <>
            <div>runs {utc(new Date(op.release.at))}</div>
            <div className="text-xs text-slate-500">{countdown(new Date(op.release.at), now)}</div>
          </>
        ) : (
          <span className="text-slate-500">—</span>
        )}
      </td>
      <td className="py-2">
        {op.state === "pending" ? (
          <Tally op={op} />
        ) : op.state === "waiting" ? (
          <Waiting op={op} now={now} />
        ) : (
          <span className="text-slate-500">decided</span>
        )}
      </td>
    </tr>
  );
}

export function Inbox() {
  const trpc = useTRPC();
  const [show, setShow] = useState<"pending" | "waiting" | "all">("pending");
  const queryClient = useQueryClient();
  const input = show === "all" ? ({ limit: 50 } as const) : ({ state: show, limit: 50 } as const);
  const list = useQuery(trpc.operations.list.queryOptions(input));
  const live = useSubscription(
    trpc.operations.onList.subscriptionOptions(input, {
      onData: (snapshot) => queryClient.setQueryData(trpc.operations.list.queryKey(input), snapshot.data),
    }),
  );
  const now = new Date(list.dataUpdatedAt || Date.now());
  return (
    <section className="space-y-3" aria-label="Operations">
      <fieldset className="flex flex-wrap items-center gap-4 text-sm">
        <legend className="sr-only">Show</legend>
        {(["pending", "waiting", "all"] as const).map((choice) => (
          <label key={choice} className="flex items-center gap-1">
            <input type="radio" name="show" checked={show === choice} onChange={() => setShow(choice)} />
            {choice === "pending"
              ? "Waiting for votes"
              : choice === "waiting"
                ? "Approved, waiting (delay, window)"
                : "All operations"}
          </label>
        ))}
        <span className="ml-auto">
          <LiveIndicator subscriptions={[live]} />
        </span>
      </fieldset>
      <FormError message={list.error ? describeError(list.error) : null} />
      {list.data && list.data.length === 0 ? (
        <p className="card text-slate-600" data-testid="inbox-empty">
          {show === "pending"
            ? "Nothing is waiting for votes."
            : show === "waiting"
              ? "Nothing is held by a delay, a window or a limit."
              : "No operations yet."}
        </p>
      ) : (
        <div className="overflow-x-auto rounded-lg border border-slate-200 bg-white px-4">
          <table className="w-full text-left text-sm">
            <thead className="text-slate-500">
              <tr>
                <th className="py-2 pr-3 font-medium">Operation</th>
                <th className="py-2 pr-3 font-medium">State</th>
                <th className="py-2 pr-3 font-medium">Proposed by</th>
                <th className="py-2 pr-3 font-medium">Deadline</th>
                <th className="py-2 font-medium">Approvals</th>
              </tr>
            </thead>
            <tbody>
              {list.data?.map((op) => (
                <OperationRow key={op.id} op={op} now={now} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
