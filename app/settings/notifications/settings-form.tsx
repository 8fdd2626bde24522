"use client";
// The member's own e-mail address and the events they receive; the same zod schema as the procedure.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { NOTIFY_EVENTS } from "@/db/schema/notifications";
import { EVENT_LABELS, mySettingsInput } from "@/server/notify/schemas";
import { FormError } from "../../_components/form-error";
import { describeError } from "../../_components/token-ceremony";
import { useTRPC } from "../../_trpc/client";

export function NotificationSettingsForm() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const mine = useQuery(trpc.notifications.mine.queryOptions());
  const update = useMutation(
    trpc.notifications.updateMine.mutationOptions({
      onSuccess: () => queryClient.invalidateQueries({ queryKey: trpc.notifications.mine.queryKey() }),
    }),
  );
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  if (mine.isPending) return <p className="text-slate-600">Loading…</p>;
  if (mine.error) return <FormError message={describeError(mine.error)} />;
  const settings = mine.data;

  async function onSubmit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    setError(null);
    setNotice(null);
    const form = new FormData(e.currentTarget);
    const parsed = mySettingsInput.safeParse({
      email: String(form.get("email") ?? "").trim(),
      events: NOTIFY_EVENTS.filter((ev) => form.get(`event-${ev}`) === "on"),
    });
    if (!parsed.success) {
      setError(parsed.error.issues[0]?.message ?? "Check the form.");
      return;
    }
    try {
      await update.mutateAsync({ email: parsed.data.email, events: parsed.data.events });
      setNotice("Saved.");
    } catch (err) {
      setError(describeError(err));
    }
  }

  return (
    <section className="card space-y-4" aria-labelledby="email-heading">
      <h2 id="email-heading" className="text-lg font-medium">
        E-mail
      </h2>
      {!settings.emailOn && (
        <p
          role="status"
          className="rounded-md border border-amber-200 bg-amber-50 px-3 py-2 text-sm text-amber-900"
          data-testid="email-off"
        >
          E-mail notifications are off: this Keyward has no SMTP server configured (KEYWARD_SMTP_URL). Your
          choices are kept and used once an admin configures one.
        </p>
      )}
      <form onSubmit={onSubmit} className="space-y-4">
        <div>
          <label htmlFor="notify-email" className="label">
            E-mail address (leave empty to receive nothing)
          </label>
          <input
            id="notify-email"
            name="email"
            type="email"
            maxLength={254}
            defaultValue={settings.email ?? ""}
            className="input max-w-md"
          />
        </div>
        <fieldset className="space-y-2">
          <legend className="label">Send me an e-mail when</legend>
          {NOTIFY_EVENTS.map((ev) => (
            <label key={ev} className="flex items-center gap-2 text-sm">
              <input type="checkbox" name={`event-${ev}`} defaultChecked={settings.events.includes(ev)} />
              {EVENT_LABELS[ev]}
            </label>
          ))}
        </fieldset>
        <FormError message={error} />
        {notice && (
          <p role="status" className="text-sm text-green-800">
            {notice}
          </p>
        )}
        <button type="submit" className="btn-primary" disabled={update.isPending}>
          {update.isPending ? "Saving…" : "Save"}
        </button>
      </form>
    </section>
  );
}
