"use client";
// Create a service account (its API key — and its webhook signing secret, if any — shown once, here), list the
// accounts with their state, revoke one.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { SERVICE_SCOPES } from "@/db/schema/service-accounts";
import { createServiceAccountInput, DEFAULT_RATE_PER_MINUTE } from "@/server/service-accounts/schemas";
import { FormError } from "../../_components/form-error";
import { describeError } from "../../_components/token-ceremony";
import { useTRPC } from "../../_trpc/client";

const utc = (at: Date) => `${at.toISOString().replace("T", " ").slice(0, 16)} UTC`;

const SCOPE_WORDS: Record<(typeof SERVICE_SCOPES)[number], string> = {
  "withdrawals:propose": "propose withdrawals (POST /api/v1/withdrawals)",
  "withdrawals:read": "read the status of its withdrawals (GET /api/v1/withdrawals/{id})",
};

type Created = { name: string; apiKey: string; webhookSecret: string | null };

export function ServiceAccounts() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const list = useQuery(trpc.serviceAccounts.list.queryOptions());
  const refresh = {
    onSuccess: () => queryClient.invalidateQueries({ queryKey: trpc.serviceAccounts.list.queryKey() }),
  };
  const create = useMutation(trpc.serviceAccounts.create.mutationOptions(refresh));
  const revoke = useMutation(trpc.serviceAccounts.revoke.mutationOptions(refresh));
  const [error, setError] = useState<string | null>(null);
  const [created, setCreated] = useState<Created | null>(null);

  async function onCreate(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    setError(null);
    setCreated(null);
    const formEl = e.currentTarget;
    const form = new FormData(formEl);
    const parsed = createServiceAccountInput.safeParse({
      name: String(form.get("name") ?? ""),
      scopes: SERVICE_SCOPES.filter((s) => form.get(`scope-${s}`) === "on"),
      expiresInDays: Number(form.get("expiresInDays")),
      ratePerMinute: Number(form.get("ratePerMinute")),
      webhookUrl: String(form.get("webhookUrl") ?? ""),
    });
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      setError(issue ? `${issue.path.join(".")}: ${issue.message}` : "Check the form.");
      return;
    }
    try {
      const result = await create.mutateAsync(parsed.data);
      setCreated({ name: result.name, apiKey: result.apiKey, webhookSecret: result.webhookSecret });
      formEl.reset();
    } catch (err) {
      setError(describeError(err));
    }
  }

  async function onRevoke(id: string, name: string) {
    if (
      !window.confirm(`Revoke ${name}? Its key is refused from its next request on; this cannot be undone.`)
    )
      return;
    setError(null);
    try {
      await revoke.mutateAsync({ id });
    } catch (err) {
      setError(describeError(err));
    }
  }

  return (
    <section className="card space-y-4" aria-labelledby="accounts-heading">
      <h2 id="accounts-heading" className="text-lg font-medium">
        Accounts
      </h2>
      {list.data && list.data.length === 0 && (
        <p className="text-sm text-slate-600">No service account yet.</p>
      )}
      {list.data && list.data.length > 0 && (
        <table className="w-full text-left text-sm" data-testid="service-accounts">
          <thead className="text-slate-500">
            <tr>
              <th className="py-1 pr-3">Name</th>
              <th className="pr-3">Key</th>
              <th className="pr-3">Scopes</th>
              <th className="pr-3">Requests / min</th>
              <th className="pr-3">Expires</th>
              <th className="pr-3">State</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {list.data.map((a) => (
              <tr key={a.id} className="border-t border-slate-100 align-top">
                <td className="py-1 pr-3">
                  {a.name}
                  {a.webhookUrl && (
                    <div className="break-all text-xs text-slate-500">webhook {a.webhookUrl}</div>
                  )}
                </td>
                <td className="pr-3 font-mono text-xs">{a.keyPrefix}_…</td>
                <td className="pr-3">{a.scopes.join(", ")}</td>
                <td className="pr-3">{a.ratePerMinute}</td>
                <td className="pr-3">{utc(a.expiresAt)}</td>
                <td className="pr-3">
                  {a.state === "revoked" && a.revokedAt ? `revoked ${utc(a.revokedAt)}` : a.state}
                </td>
                <td>
                  {a.state !== "revoked" && (
                    <button type="button" className="btn-secondary" onClick={() => onRevoke(a.id, a.name)}>
                      Revoke
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
          className="space-y-2 rounded-md border border-amber-200 bg-amber-50 px-3 py-2 text-sm"
          data-testid="service-account-key"
        >
          <p>
            {created.name} created. Its API key is shown <strong>only now</strong>: Keyward keeps only a hash
            of it. Copy it into the backend&apos;s secret store; it goes in every request as{" "}
            <code>Authorization: Bearer …</code>.
          </p>
          <code className="block break-all font-mono">{created.apiKey}</code>
          {created.webhookSecret && (
            <>
              <p>
                The status webhook&apos;s signing secret, also shown only now (the receiver verifies every
                request with it, the Standard Webhooks way):
              </p>
              <code className="block break-all font-mono">{created.webhookSecret}</code>
            </>
          )}
        </div>
      )}
      <form onSubmit={onCreate} className="space-y-3">
        <h3 className="font-medium">Create a service account</h3>
        <div>
          <label htmlFor="sa-name" className="label">
            Name (lower-case, e.g. exchange-backend)
          </label>
          <input id="sa-name" name="name" required maxLength={64} className="input" />
        </div>
        <fieldset className="space-y-1">
          <legend className="label">What its key may do</legend>
          {SERVICE_SCOPES.map((s) => (
            <label key={s} className="flex items-center gap-2 text-sm">
              <input type="checkbox" name={`scope-${s}`} defaultChecked />
              <code>{s}</code> — {SCOPE_WORDS[s]}
            </label>
          ))}
        </fieldset>
        <div className="flex gap-4">
          <div>
            <label htmlFor="sa-expires" className="label">
              Expires in (days, 1–365)
            </label>
            <input
              id="sa-expires"
              name="expiresInDays"
              type="number"
              min={1}
              max={365}
              defaultValue={90}
              required
              className="input"
            />
          </div>
          <div>
            <label htmlFor="sa-rate" className="label">
              Requests per minute
            </label>
            <input
              id="sa-rate"
              name="ratePerMinute"
              type="number"
              min={1}
              max={100000}
              defaultValue={DEFAULT_RATE_PER_MINUTE}
              required
              className="input"
            />
          </div>
        </div>
        <div>
          <label htmlFor="sa-webhook" className="label">
            Status webhook URL (optional: https://, or http:// to localhost)
          </label>
          <input id="sa-webhook" name="webhookUrl" type="url" maxLength={2000} className="input" />
          <p className="mt-1 text-xs text-slate-500">
            Receives how each withdrawal this account proposed ends (executed, failed, rejected, expired,
            cancelled), when one starts a delay, and what becomes of its transaction (broadcast, confirmed,
            failed, dead), signed like every Keyward webhook.
          </p>
        </div>
        <FormError message={error} />
        <button type="submit" className="btn-primary" disabled={create.isPending}>
          {create.isPending ? "Creating…" : "Create service account"}
        </button>
      </form>
    </section>
  );
}
