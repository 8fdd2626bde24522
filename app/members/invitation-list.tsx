"use client";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { FormError } from "../_components/form-error";
import { describeError } from "../_components/token-ceremony";
import { useTRPC } from "../_trpc/client";

export function InvitationList() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const list = useQuery(trpc.invitations.list.queryOptions());
  const revoke = useMutation(
    trpc.invitations.revoke.mutationOptions({
      onSuccess: () => queryClient.invalidateQueries({ queryKey: trpc.invitations.list.queryKey() }),
    }),
  );
  const [error, setError] = useState<string | null>(null);

  return (
    <section className="space-y-3" aria-labelledby="open-invitations">
      <h2 id="open-invitations" className="text-lg font-medium">
        Open invitations
      </h2>
      <FormError message={error ?? (list.error ? describeError(list.error) : null)} />
      {list.data?.length === 0 && <p className="text-sm text-slate-600">None.</p>}
      <ul className="divide-y divide-slate-200 rounded-lg border border-slate-200 bg-white">
        {list.data?.map((inv) => (
          <li key={inv.id} className="flex flex-wrap items-center gap-3 px-4 py-3 text-sm">
            <span className="font-medium">{inv.name}</span>
            <span className="text-slate-600">{inv.roles.join(", ")}</span>
            <span className="text-slate-500">expires {inv.expiresAt.toUTCString()}</span>
            <button
              type="button"
              className="btn-danger ml-auto"
              onClick={() =>
                revoke.mutateAsync({ invitationId: inv.id }).catch((e: unknown) => setError(describeError(e)))
              }
            >
              Revoke
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}
