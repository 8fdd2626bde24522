"use client";
// Add an endpoint (its signing secret is shown once, here), list them, disable one.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { NOTIFY_EVENTS } from "@/db/schema/notifications";
import { addWebhookInput } from "@/server/notify/schemas";
import { FormError } from "../../_components/form-error";
import { describeError } from "../../_components/token-ceremony";
import { useTRPC } from "../../_trpc/client";

const utc = (at: Date) => `${at.toISOString().replace("T", " ").slice(0, 16)} UTC`;

export function WebhookEndpoints() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const list = useQuery(trpc.notifications.webhooks.queryOptions());
  const refresh = {
    onSuccess: () => queryClient.invalidateQueries({ queryKey: trpc.notifications.webhooks.queryKey() }),
  };
  const add = useMutation(trpc.notifications.addWebhook.mutationOptions(refresh));
  const disable = useMutation(trpc.notifications.disableWebhook.mutationOptions(refresh));
  const [error, setError] = useState<string | null>(null);
  const [created, setCreated] = useState<{ url: string; secret: string } | null>(null);

  async function onAdd(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    setError(null);
    setCreated(null);
    const formEl = e.currentTarget;
    const form = new FormData(formEl);
    const parsed = addWebhookInput.safeParse({
      url: String(form.get("url") ?? ""),
      description: String(form.get("description") ?? ""),
      events: NOTIFY_EVENTS.filter((ev) => form.get(`event-${ev}`) === "on"),
    });
    if (!parsed.success) {
      setError(parsed.error.issues[0]?.message ?? "Check the form.");
      return;
    }
    try {
      const result = await add.mutateAsync(parsed.data);
      setCreated({ url: result.url, secret: result.secret });
      formEl.reset();
    } catch (err) {
      setError(describeError(err));
    }
  }

  async function onDisable(id: string, url: string) {
    if (!window.confirm(`Disable the endpoint ${url}? It receives nothing more; this cannot be undone.`))
      return;
    setError(null);
    try {
      await disable.mutateAsync({ endpointId: id });
    } catch (err) {
      setError(describeError(err));
    }
  }

  return (
    <section className="card space-y-4" aria-labelledby="endpoints-heading">
      <h2 id="endpoints-heading" className="text-lg font-medium">
        Endpoints
      </h2>
      {list.data && list.data.length === 0 && <p className="text-sm text-slate-600">No endpoint yet.</p>}
      {list.data && list.data.length > 0 && (
        <table className="w-full text-left text-sm" data-testid="webhook-endpoints">
          <thead className="text-slate-500">
            <tr>
              <th className="py-1 pr-3">URL</th>
              <th className="pr-3">Description</th>
              <th className="pr-3">Events</th>
              <th className="pr-3">State</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {list.data.map((e) => (
              <tr key={e.id} className="border-t border-slate-100 align-top">
                <td className="py-1 pr-3 break-all">{e.url}</td>
                <td className="pr-3">{e.description}</td>
                <td className="pr-3">{e.events.join(", ")}</td>
                <td className="pr-3">
                  {e.enabled ? "enabled" : `disabled ${e.disabledAt ? utc(e.disabledAt) : ""}`}
                </td>
                <td>
                  {e.enabled && (
                    <button type="button" className="btn-secondary" onClick={() => onDisable(e.id, e.url)}>
                      Disable
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {created && (
        <div
          role="status"
          className="space-y-1 rounded-md border border-amber-200 bg-amber-50 px-3 py-2 text-sm"
          data-testid="webhook-secret"
        >
          <p>
            Endpoint {created.url} added. Its signing secret is shown <strong>only now</strong>: copy it into
            the receiver, which verifies every request with it.
          </p>
          <code className="block break-all font-mono">{created.secret}</code>
        </div>
      )}
      <form onSubmit={onAdd} className="space-y-3">
        <h3 className="font-medium">Add an endpoint</h3>
        <div>
          <label htmlFor="webhook-url" className="label">
            URL (https://, or http:// to localhost)
          </label>
          <input id="webhook-url" name="url" type="url" required maxLength={2000} className="input" />
        </div>
        <div>
          <label htmlFor="webhook-description" className="label">
            Description
          </label>
          <input id="webhook-description" name="description" maxLength={200} className="input" />
        </div>
        <fieldset className="space-y-1">
          <legend className="label">Events</legend>
          {NOTIFY_EVENTS.map((ev) => (
            <label key={ev} className="flex items-center gap-2 text-sm">
              <input type="checkbox" name={`event-${ev}`} defaultChecked />
              <code>{ev}</code>
            </label>
          ))}
        </fieldset>
        <FormError message={error} />
        <button type="submit" className="btn-primary" disabled={add.isPending}>
          {add.isPending ? "Adding…" : "Add endpoint"}
        </button>
      </form>
    </section>
  );
}
