"use client";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { type FormEvent, useState } from "react";
import { FormError, TapHint } from "../_components/form-error";
import { createCredential, describeError } from "../_components/token-ceremony";
import { useTRPC } from "../_trpc/client";

export function TokenManager() {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const tokens = useQuery(trpc.tokens.mine.queryOptions());
  const refresh = { onSuccess: () => queryClient.invalidateQueries({ queryKey: trpc.tokens.mine.queryKey() }) };
  const beginAdd = useMutation(trpc.tokens.beginAdd.mutationOptions());
  const completeAdd = useMutation(trpc.tokens.completeAdd.mutationOptions(refresh));
  const revoke = useMutation(trpc.tokens.revoke.mutationOptions(refresh));
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function onAdd(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const formEl = e.currentTarget;
    const nickname = String(new FormData(formEl).get("nickname") ?? "");
    setError(null);
    setNotice(null);
    setBusy(true);
    try {
      const options = await beginAdd.mutateAsync();
      const response = await createCredential(options);
      await completeAdd.mutateAsync({ nickname, response });
      setNotice(`Token “${nickname}” added.`);
      formEl.reset();
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  }

  async function onRevoke(id: string, nickname: string, current: boolean) {
    const warning = current ? " You are signed in with it: you will be signed out." : "";
    if (!window.confirm(`Revoke “${nickname}”? It can never be used again.${warning}`)) return;
    setError(null);
    setNotice(null);
    try {
      await revoke.mutateAsync({ credentialId: id });
      if (current) router.refresh();
      else setNotice(`Token “${nickname}” revoked.`);
    } catch (err) {
      setError(describeError(err));
    }
  }

  return (
    <div className="space-y-6">
      <FormError message={error ?? (tokens.error ? describeError(tokens.error) : null)} />
      {notice && (
        <p role="status" className="text-sm text-green-800">
          {notice}
        </p>
      )}
      <ul className="divide-y divide-slate-200 rounded-lg border border-slate-200 bg-white" aria-label="Tokens">
        {tokens.data?.map((t) => (
          <li key={t.id} className="flex flex-wrap items-center gap-3 px-4 py-3 text-sm" data-testid="token-row">
            <span className="font-medium">{t.nickname}</span>
            {t.current && <span className="rounded bg-indigo-100 px-2 text-indigo-800">signed in with this</span>}
            <span className="text-slate-500">
              model {t.aaguid} · {t.attestationFormat} · {t.transports.join(", ") || "transport unknown"}
            </span>
            <span className="text-slate-500">
              {t.revokedAt ? `revoked ${t.revokedAt.toUTCString()}` : `last used ${t.lastUsedAt?.toUTCString() ?? "never"}`}
            </span>
            {!t.revokedAt && (
              <button type="button" className="btn-danger ml-auto" onClick={() => onRevoke(t.id, t.nickname, t.current)}>
                Revoke
              </button>
            )}
          </li>
        ))}
      </ul>
      <form onSubmit={onAdd} className="card max-w-lg space-y-4" aria-labelledby="add-token">
        <h2 id="add-token" className="text-lg font-medium">
          Add a token
        </h2>
        <div>
          <label htmlFor="nickname" className="label">
            Name for the new token
          </label>
          <input id="nickname" name="nickname" className="input" required maxLength={60} placeholder="Backup YubiKey" />
        </div>
        <TapHint active={busy} />
        <button type="submit" className="btn-primary" disabled={busy}>
          {busy ? "Waiting for your token…" : "Register another token"}
        </button>
      </form>
    </div>
  );
}
