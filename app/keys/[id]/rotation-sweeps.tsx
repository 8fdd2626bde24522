"use client";
// A rotated key's sweeps: after key.rotate, Keyward proposes one withdrawal per asset the old key holds, to its
// successor's address (server/withdrawals/rotation-sweep.ts); each still needs its quorum. Shows the successor,
// whether the sweep job has run, the proposed withdrawals with their state, and what was not swept and why.
// Read-only; nothing shows for a key that was never rotated.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useEffect } from "react";
import { useTRPC } from "../../_trpc/client";
import { utc } from "../../operations/badges";

const JOB_WORDS: Record<string, string> = {
  waiting: "Keyward has not read the old key's balances yet (or retries after an error)",
  running: "Keyward is reading the old key's balances now",
  done: "Keyward read the old key's balances and proposed what is listed below",
  failed: "Keyward could not read the old key's balances",
};

export function RotationSweeps({ keyId }: { keyId: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const page = useQuery(trpc.keys.get.queryOptions({ keyId }));
  const sweeps = useQuery(trpc.keyLifecycle.sweeps.queryOptions({ keyId }));
  // The key page's live snapshot changes whenever the key or an operation does: read the sweeps again then.
  const updated = page.dataUpdatedAt;
  useEffect(() => {
    if (updated)
      void queryClient.invalidateQueries({ queryKey: trpc.keyLifecycle.sweeps.queryKey({ keyId }) });
  }, [updated, queryClient, trpc, keyId]);

  const s = sweeps.data;
  if (!s) return null;
  return (
    <section className="card space-y-2" aria-labelledby="rotation-sweeps" data-testid="rotation-sweeps">
      <h2 id="rotation-sweeps" className="text-lg font-medium">
        Sweeps to the successor
      </h2>
      <p className="text-sm">
        This key was rotated: its successor is{" "}
        <Link href={`/keys/${s.successor.id}`} className="text-indigo-800 hover:underline">
          {s.successor.label}
        </Link>
        . Keyward proposes one withdrawal per asset this key holds, to the successor&apos;s address; each
        needs its quorum like any withdrawal. This key can send funds nowhere else.
      </p>
      {s.job && (
        <p className="text-sm">
          {JOB_WORDS[s.job.state] ?? s.job.state}
          {s.job.lastError ? `: ${s.job.lastError}` : "."}
        </p>
      )}
      {s.sweeps.length > 0 ? (
        <ul className="space-y-1 text-sm" data-testid="rotation-sweep-list">
          {s.sweeps.map((w) => (
            <li key={w.operationId}>
              <Link href={`/operations/${w.operationId}`} className="text-indigo-800 hover:underline">
                {w.amount} on {w.chain}
              </Link>{" "}
              to <span className="font-mono break-all">{w.destination}</span>: {w.state}
            </li>
          ))}
        </ul>
      ) : (
        s.job?.state === "done" && <p className="text-sm">No sweep was proposed.</p>
      )}
      {s.skipped.length > 0 && (
        <div className="text-sm">
          <p className="font-medium">Not swept automatically:</p>
          <ul className="list-disc space-y-1 pl-5" data-testid="rotation-sweep-skips">
            {s.skipped.map((k) => (
              <li key={`${k.chain} ${k.asset ?? ""} ${String(k.at)}`}>
                {k.asset ?? "everything"} on {k.chain} ({utc(k.at)}): {k.reason}
              </li>
            ))}
          </ul>
        </div>
      )}
    </section>
  );
}
