"use client";
// Once Keyward is live, membership changes on this page are proposals (member.invite, member.update,
// member.reinstate, token.revoke): this says so and links to the operation the approvers vote on.
import { useMutation, useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useTRPC } from "../_trpc/client";

/** Whether Keyward is live (governance.mode); false while it loads: the server refuses a direct change once live. */
export function useLive(): boolean {
  const trpc = useTRPC();
  const mode = useQuery(trpc.governance.mode.queryOptions());
  return mode.data?.mode === "live";
}

/** operations.propose for one of the membership kinds; resolves to the new operation's id. */
export function useProposeMembership() {
  const trpc = useTRPC();
  const propose = useMutation(trpc.operations.propose.mutationOptions());
  return {
    isPending: propose.isPending,
    propose: async (kind: "member.update" | "member.reinstate" | "token.revoke", payload: unknown) =>
      (await propose.mutateAsync({ kind, payload })).id,
  };
}

export type Notice = { text: string; operationId?: string; warnings?: string[] };

export function NoticeLine({ notice }: { notice: Notice | null }) {
  if (notice === null) return null;
  return (
    <div role="status" className="space-y-1 text-sm">
      <p className="text-green-800">
        {notice.text}
        {notice.operationId && (
          <>
            {" "}
            <Link
              href={`/operations/${notice.operationId}`}
              className="underline"
              data-testid="proposed-operation"
            >
              Open the operation
            </Link>
          </>
        )}
      </p>
      {notice.warnings && notice.warnings.length > 0 && (
        <div
          className="rounded-md border border-amber-300 bg-amber-50 p-3 text-amber-900"
          data-testid="reachability-warning"
        >
          <p className="font-medium">The policy can no longer be met for:</p>
          <ul className="list-inside list-disc">
            {notice.warnings.map((w) => (
              <li key={w}>{w}</li>
            ))}
          </ul>
          <p>Invite or reinstate members (by the quorum) so these rules can be approved again.</p>
        </div>
      )}
    </div>
  );
}

export const PROPOSED = "Proposed: needs the quorum.";
