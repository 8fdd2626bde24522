"use client";
// The member table. Admins edit roles and groups, suspend and reactivate, and open a member's "Tokens and
// sessions" panel; auditors only read. Once Keyward is live, saving roles and groups and reinstating propose
// operations (member.update, member.reinstate) that need the quorum; suspending stays immediate, and the page
// then warns of every rule the policy can no longer reach.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { FormError } from "../_components/form-error";
import { describeError } from "../_components/token-ceremony";
import { useTRPC } from "../_trpc/client";
import { MemberAccessPanel } from "./member-access-panel";
import { type Notice, NoticeLine, PROPOSED, useLive, useProposeMembership } from "./proposed";
import { readRoleFields, RoleFields } from "./role-fields";

export function MemberList({ canEdit, selfId }: { canEdit: boolean; selfId: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const list = useQuery(trpc.members.list.queryOptions());
  const refresh = {
    onSuccess: () => queryClient.invalidateQueries({ queryKey: trpc.members.list.queryKey() }),
  };
  const suspend = useMutation(trpc.members.suspend.mutationOptions(refresh));
  const reactivate = useMutation(trpc.members.reactivate.mutationOptions(refresh));
  const update = useMutation(trpc.members.update.mutationOptions(refresh));
  const [editing, setEditing] = useState<string | null>(null);
  const [access, setAccess] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<Notice | null>(null);
  const live = useLive();
  const proposal = useProposeMembership();

  const act = (p: Promise<Notice>) => {
    setError(null);
    setNotice(null);
    p.then(setNotice).catch((e: unknown) => setError(describeError(e)));
  };

  function onSave(e: FormEvent<HTMLFormElement>, memberId: string) {
    e.preventDefault();
    const fields = readRoleFields(new FormData(e.currentTarget));
    act(
      (live
        ? proposal
            .propose("member.update", { memberId, ...fields })
            .then(
              (operationId): Notice => ({
                text: `${PROPOSED} The roles and groups change once approved.`,
                operationId,
              }),
            )
        : update
            .mutateAsync({ memberId, ...fields })
            .then((): Notice => ({ text: "Roles and groups saved." }))
      ).then((n) => {
        setEditing(null);
        return n;
      }),
    );
  }

  function onSuspend(m: { id: string; name: string }) {
    act(
      suspend
        .mutateAsync({ memberId: m.id })
        .then(
          (r): Notice => ({ text: `${m.name} is suspended.`, warnings: r.unreachable.map((u) => u.reason) }),
        ),
    );
  }

  function onReinstate(m: { id: string; name: string }) {
    act(
      live
        ? proposal
            .propose("member.reinstate", { memberId: m.id })
            .then(
              (operationId): Notice => ({
                text: `${PROPOSED} ${m.name} is active again once approved.`,
                operationId,
              }),
            )
        : reactivate
            .mutateAsync({ memberId: m.id })
            .then((): Notice => ({ text: `${m.name} is active again.` })),
    );
  }

  return (
    <section className="space-y-3" aria-label="Member list">
      <FormError message={error ?? (list.error ? describeError(list.error) : null)} />
      <NoticeLine notice={notice} />
      <div className="overflow-x-auto rounded-lg border border-slate-200 bg-white">
        <table className="w-full text-left text-sm">
          <thead className="bg-slate-50 text-slate-600">
            <tr>
              <th className="px-4 py-2">Name</th>
              <th className="px-4 py-2">Roles</th>
              <th className="px-4 py-2">Groups</th>
              <th className="px-4 py-2">Tokens</th>
              <th className="px-4 py-2">Status</th>
              {canEdit && <th className="px-4 py-2">Actions</th>}
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-200">
            {list.data?.map((m) => (
              <tr key={m.id} data-testid={`member-${m.name}`}>
                <td className="px-4 py-2 font-medium">{m.name}</td>
                <td className="px-4 py-2">{m.roles.join(", ")}</td>
                <td className="px-4 py-2">{m.groups.join(", ") || "—"}</td>
                <td className="px-4 py-2">{m.tokens}</td>
                <td className="px-4 py-2">
                  {m.status === "active" ? (
                    <span className="text-green-700">active</span>
                  ) : (
                    <span
                      className="rounded-full bg-red-100 px-2 py-0.5 text-xs font-medium text-red-800"
                      data-testid="suspended-badge"
                      title={m.suspendedAt ? `suspended ${m.suspendedAt.toUTCString()}` : undefined}
                    >
                      suspended
                    </span>
                  )}
                </td>
                {canEdit && (
                  <td className="space-x-2 px-4 py-2 whitespace-nowrap">
                    <button
                      type="button"
                      className="btn-secondary"
                      onClick={() => setEditing(editing === m.id ? null : m.id)}
                    >
                      Edit
                    </button>
                    <button
                      type="button"
                      className="btn-secondary"
                      aria-expanded={access === m.id}
                      onClick={() => setAccess(access === m.id ? null : m.id)}
                    >
                      Tokens and sessions
                    </button>
                    {m.id !== selfId &&
                      (m.status === "active" ? (
                        <button
                          type="button"
                          className="btn-danger"
                          onClick={() =>
                            window.confirm(`Suspend ${m.name}? Their sessions end at once.`) && onSuspend(m)
                          }
                        >
                          Suspend
                        </button>
                      ) : (
                        <button
                          type="button"
                          className="btn-secondary"
                          disabled={proposal.isPending}
                          onClick={() => onReinstate(m)}
                        >
                          {live ? "Propose reinstatement" : "Reactivate"}
                        </button>
                      ))}
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {canEdit &&
        list.data
          ?.filter((m) => m.id === editing)
          .map((m) => (
            <form
              key={m.id}
              onSubmit={(e) => onSave(e, m.id)}
              className="card space-y-4"
              aria-label={`Edit ${m.name}`}
            >
              <h3 className="font-medium">Edit {m.name}</h3>
              <RoleFields idPrefix={`edit-${m.id}`} roles={m.roles} groups={m.groups} />
              <div className="flex gap-2">
                <button
                  type="submit"
                  className="btn-primary"
                  disabled={update.isPending || proposal.isPending}
                >
                  {live ? "Propose the change" : "Save"}
                </button>
                <button type="button" className="btn-secondary" onClick={() => setEditing(null)}>
                  Cancel
                </button>
              </div>
            </form>
          ))}
      {canEdit &&
        list.data
          ?.filter((m) => m.id === access)
          .map((m) => (
            <MemberAccessPanel
              key={m.id}
              member={m}
              live={live}
              selfId={selfId}
              onClose={() => setAccess(null)}
            />
          ))}
    </section>
  );
}
