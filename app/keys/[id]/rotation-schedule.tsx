"use client";
// The key's rotation by time, in words: the policy's period for its tags, when it is due, and when Keyward's
// hourly sweep will propose the rotation — or why not yet (one is open, or approvers declined one less than
// the back-off ago: server/operations/rotation-due.ts). Read-only; nothing shows when no period applies.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useEffect } from "react";
import { useTRPC } from "../../_trpc/client";
import { utc } from "../../operations/badges";

const DECLINED: Record<string, string> = {
  rejected: "rejected",
  expired: "expired unanswered",
  cancelled: "cancelled",
};

export function RotationSchedule({ keyId }: { keyId: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const page = useQuery(trpc.keys.get.queryOptions({ keyId }));
  const schedule = useQuery(trpc.keyLifecycle.rotation.queryOptions({ keyId }));
  // The key page's live snapshot changes whenever the key or an operation does: read the schedule again then.
  const updated = page.dataUpdatedAt;
  useEffect(() => {
    if (updated)
      void queryClient.invalidateQueries({ queryKey: trpc.keyLifecycle.rotation.queryKey({ keyId }) });
  }, [updated, queryClient, trpc, keyId]);

  const s = schedule.data;
  if (!s) return null;
  return (
    <section className="card space-y-2" aria-labelledby="rotation-schedule" data-testid="rotation-schedule">
      <h2 id="rotation-schedule" className="text-lg font-medium">
        Rotation by time
      </h2>
      <p className="text-sm">
        The policy rotates this key every {s.everyDays} days: due {utc(s.dueAt)}.
      </p>
      {s.open && (
        <p className="text-sm">
          A{" "}
          <Link href={`/operations/${s.open.operationId}`} className="text-indigo-800 hover:underline">
            rotation
          </Link>{" "}
          is {s.open.state}: Keyward proposes no other meanwhile.
        </p>
      )}
      {s.declined && (
        <p className="text-sm">
          The last{" "}
          <Link href={`/operations/${s.declined.operationId}`} className="text-indigo-800 hover:underline">
            rotation
          </Link>{" "}
          was {DECLINED[s.declined.state] ?? s.declined.state} on {utc(s.declined.decidedAt)}; Keyward waits
          until {utc(s.declined.holdsUntil)} before proposing again.
        </p>
      )}
      {s.nextProposalAt && (
        <p className="text-sm" data-testid="next-rotation-proposal">
          Keyward proposes the rotation at its first hourly check from{" "}
          <strong>{utc(s.nextProposalAt)}</strong>; it still needs the quorum.
        </p>
      )}
    </section>
  );
}
