"use client";
// The member table. Admins edit roles and groups, suspend and reactivate, and open a member's "Tokens and
// sessions" panel; auditors only read.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { FormError } from "../_components/form-error";
import { describeError } from "../_components/token-ceremony";
import { useTRPC } from "../_trpc/client";
import { MemberAccessPanel } from "./member-access-panel";
import { readRoleFields, RoleFields } from "./role-fields";

export function MemberList({ canEdit, selfId }: { canEdit: boolean; selfId: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const list = useQuery(trpc.members.list.queryOptions());
  const refresh = { onSuccess: () => queryClient.invalidateQueries({ queryKey: trpc.members.list.queryKey() }) };
  const suspend = useMutation(trpc.members.suspend.mutationOptions(refresh));
  const reactivate = useMutation(trpc.members.reactivate.mutationOptions(refresh));
  const update = useMutation(trpc.members.update.mutationOptions(refresh));
  const [editing, setEditing] = useState<string | null>(null);
  const [access, setAccess] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  const act = (p: Promise<unknown>, done: string) => {
    setError(null);
    setNotice(null);
    p.then(() => setNotice(done)).catch((e: unknown) => setError(describeError(e)));
  };

  function onSave(e: FormEvent<HTMLFormElement>, memberId: string) {
    e.preventDefault();
    act(
      update.mutateAsync({ memberId, ...readRoleFields(new FormData(e.currentTarget)) }).then(() => setEditing(null)),
      "Roles and groups saved.",
    );
  }

  return (
    <section className="space-y-3" aria-label="Member list">
      <FormError message={error ?? (list.error ? describeError(list.error) : null)} />
      {notice && (
        <p role="status" className="text-sm text-green-800">
          {notice}
        </p>
      )}
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
                  <span className={m.status === "active" ? "text-green-700" : "text-red-700"}>{m.status}</span>
                </td>
                {canEdit && (
                  <td className="space-x-2 px-4 py-2 whitespace-nowrap">
                    <button type="button" className="btn-secondary" onClick={() => setEditing(editing === m.id ? null : m.id)}>
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
                            window.confirm(`Suspend ${m.name}? Their sessions end at once.`) &&
                            act(suspend.mutateAsync({ memberId: m.id }), `${m.name} is suspended.`)
                          }
                        >
                          Suspend
                        </button>
                      ) : (
                        <button
                          type="button"
                          className="btn-secondary"
                          onClick={() => act(reactivate.mutateAsync({ memberId: m.id }), `${m.name} is active again.`)}
                        >
                          Reactivate
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
            <form key={m.id} onSubmit={(e) => onSave(e, m.id)} className="card space-y-4" aria-label={`Edit ${m.name}`}>
              <h3 className="font-medium">Edit {m.name}</h3>
              <RoleFields idPrefix={`edit-${m.id}`} roles={m.roles} groups={m.groups} />
              <div className="flex gap-2">
                <button type="submit" className="btn-primary" disabled={update.isPending}>
                  Save
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
          .map((m) => <MemberAccessPanel key={m.id} member={m} onClose={() => setAccess(null)} />)}
    </section>
  );
}
