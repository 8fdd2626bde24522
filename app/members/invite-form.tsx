"use client";
// Invite a member: the link is shown once, here; only its hash is stored. Once Keyward is live the form proposes
// a member.invite operation instead: the link is still shown once, now, but works only after the quorum approved
// and the invitation was created (server/operations/kinds/member-invite.ts).
import { useMutation, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { type FormEvent, useState } from "react";
import { FormError } from "../_components/form-error";
import { describeError } from "../_components/token-ceremony";
import { useTRPC } from "../_trpc/client";
import { PROPOSED, useLive } from "./proposed";
import { readRoleFields, RoleFields } from "./role-fields";

export function InviteForm() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const create = useMutation(
    trpc.invitations.create.mutationOptions({
      onSuccess: () => queryClient.invalidateQueries({ queryKey: trpc.invitations.list.queryKey() }),
    }),
  );
  const propose = useMutation(trpc.invitations.propose.mutationOptions());
  const live = useLive();
  const [error, setError] = useState<string | null>(null);
  const [created, setCreated] = useState<{ link: string; expiresAt: Date; name: string } | null>(null);
  const [proposed, setProposed] = useState<{
    link: string;
    operationId: string;
    name: string;
    hours: number;
  } | null>(null);

  async function onSubmit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    setError(null);
    const formEl = e.currentTarget;
    const form = new FormData(formEl);
    const name = String(form.get("name") ?? "");
    const hours = Number(form.get("validHours") ?? 72);
    try {
      setCreated(null);
      setProposed(null);
      if (live) {
        const result = await propose.mutateAsync({ name, ...readRoleFields(form), validHours: hours });
        setProposed({ ...result, name, hours });
      } else {
        const result = await create.mutateAsync({ name, ...readRoleFields(form), validHours: hours });
        setCreated({ ...result, name });
      }
      formEl.reset();
    } catch (err) {
      setError(describeError(err));
    }
  }

  return (
    <section className="card space-y-4" aria-labelledby="invite-heading">
      <h2 id="invite-heading" className="text-lg font-medium">
        Invite a member
      </h2>
      <form onSubmit={onSubmit} className="space-y-4">
        <div>
          <label htmlFor="invite-name" className="label">
            Name
          </label>
          <input id="invite-name" name="name" className="input" required minLength={2} maxLength={80} />
        </div>
        <RoleFields idPrefix="invite" />
        <div>
          <label htmlFor="invite-hours" className="label">
            Link valid for (hours)
          </label>
          <input
            id="invite-hours"
            name="validHours"
            type="number"
            min={1}
            max={336}
            defaultValue={72}
            className="input w-32"
          />
        </div>
        <FormError message={error} />
        <button type="submit" className="btn-primary" disabled={create.isPending || propose.isPending}>
          {create.isPending || propose.isPending
            ? "Creating…"
            : live
              ? "Propose the invitation"
              : "Create invitation link"}
        </button>
      </form>
      {created && (
        <div role="status" className="space-y-2 rounded-md border border-green-200 bg-green-50 p-4 text-sm">
          <p>
            Invitation for <strong>{created.name}</strong> created. Send this link privately; it works once,
            until {created.expiresAt.toUTCString()}. It will not be shown again.
          </p>
          <input
            readOnly
            aria-label="Invitation link"
            data-testid="invitation-link"
            className="input font-mono"
            value={created.link}
          />
          <button
            type="button"
            className="btn-secondary"
            onClick={() => navigator.clipboard.writeText(created.link)}
          >
            Copy link
          </button>
        </div>
      )}
      {proposed && (
        <div role="status" className="space-y-2 rounded-md border border-amber-200 bg-amber-50 p-4 text-sm">
          <p>
            {PROPOSED} The invitation for <strong>{proposed.name}</strong> is created once approvers approve
            it;{" "}
            <Link
              href={`/operations/${proposed.operationId}`}
              className="underline"
              data-testid="proposed-operation"
            >
              open the operation
            </Link>
            . Keep this link and send it privately once it is approved: until then it does not work; then it
            works once, for {proposed.hours} hours. It will not be shown again.
          </p>
          <input
            readOnly
            aria-label="Invitation link"
            data-testid="invitation-link"
            className="input font-mono"
            value={proposed.link}
          />
          <button
            type="button"
            className="btn-secondary"
            onClick={() => navigator.clipboard.writeText(proposed.link)}
          >
            Copy link
          </button>
        </div>
      )}
    </section>
  );
}
