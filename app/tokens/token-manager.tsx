"use client";
// A member's own tokens. Adding one takes two taps: first one of the current tokens confirms that it is really
// them (a stolen session alone cannot add a token), then the new token registers. Each step names what to tap.
import type { PublicKeyCredentialCreationOptionsJSON } from "@simplewebauthn/browser";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { type FormEvent, useState } from "react";
import { FormError, TapHint } from "../_components/form-error";
import { createCredential, describeError, getAssertion } from "../_components/token-ceremony";
import { useTRPC } from "../_trpc/client";

/** Where the addition stands: nothing yet, waiting for the confirming tap, or confirmed and waiting for the new token. */
type Addition =
  | { step: "idle" }
  | { step: "confirming"; nickname: string }
  | {
      step: "approved";
      nickname: string;
      additionId: string;
      registration: PublicKeyCredentialCreationOptionsJSON;
      busy: boolean;
    };

export function TokenManager() {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const tokens = useQuery(trpc.tokens.mine.queryOptions());
  const refresh = {
    onSuccess: () => queryClient.invalidateQueries({ queryKey: trpc.tokens.mine.queryKey() }),
  };
  const beginAdd = useMutation(trpc.tokens.beginAdd.mutationOptions());
  const approveAdd = useMutation(trpc.tokens.approveAdd.mutationOptions());
  const completeAdd = useMutation(trpc.tokens.completeAdd.mutationOptions(refresh));
  const revoke = useMutation(trpc.tokens.revoke.mutationOptions(refresh));
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [addition, setAddition] = useState<Addition>({ step: "idle" });

  async function onAdd(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const nickname = String(new FormData(e.currentTarget).get("nickname") ?? "");
    setError(null);
    setNotice(null);
    setAddition({ step: "confirming", nickname });
    try {
      const { additionId, options } = await beginAdd.mutateAsync();
      const response = await getAssertion(options);
      const registration = await approveAdd.mutateAsync({ additionId, response });
      setAddition({ step: "approved", nickname, additionId, registration, busy: false });
    } catch (err) {
      setAddition({ step: "idle" });
      setError(`Your current token did not confirm the addition. ${describeError(err)}`);
    }
  }

  async function onTapNew() {
    if (addition.step !== "approved") return;
    const { nickname, additionId, registration } = addition;
    setError(null);
    setAddition({ ...addition, busy: true });
    try {
      const response = await createCredential(registration);
      await completeAdd.mutateAsync({ additionId, nickname, response });
      setNotice(`Token “${nickname}” added.`);
    } catch (err) {
      setError(`The new token was not added. ${describeError(err)} Start again with “Add a token”.`);
    }
    // Either way this addition is spent: its registration challenge is used once.
    setAddition({ step: "idle" });
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
      <ul
        className="divide-y divide-slate-200 rounded-lg border border-slate-200 bg-white"
        aria-label="Tokens"
      >
        {tokens.data?.map((t) => (
          <li
            key={t.id}
            className="flex flex-wrap items-center gap-x-3 gap-y-1 px-4 py-3 text-sm"
            data-testid="token-row"
          >
            <span className="font-medium" data-testid="token-nickname">
              {t.nickname}
            </span>
            {t.current && (
              <span className="rounded bg-indigo-100 px-2 text-indigo-800">signed in with this</span>
            )}
            {t.revokedAt && <span className="rounded bg-red-100 px-2 text-red-800">revoked</span>}
            {!t.revokedAt && (
              <button
                type="button"
                className="btn-danger ml-auto"
                onClick={() => onRevoke(t.id, t.nickname, t.current)}
              >
                Revoke
              </button>
            )}
            <span className="basis-full text-slate-600" data-testid="token-added">
              added {t.createdAt.toUTCString()}
              {t.approvedBy ? `, approved by a tap of ${t.approvedBy}` : ""}
            </span>
            <span className="basis-full text-slate-500">
              {t.revokedAt
                ? `revoked ${t.revokedAt.toUTCString()}`
                : `last used ${t.lastUsedAt?.toUTCString() ?? "never"}`}{" "}
              · model {t.aaguid} · {t.attestationFormat} · {t.transports.join(", ") || "transport unknown"}
            </span>
          </li>
        ))}
      </ul>
      <section className="card max-w-lg space-y-4" aria-labelledby="add-token">
        <h2 id="add-token" className="text-lg font-medium">
          Add a token
        </h2>
        {addition.step === "approved" ? (
          <div className="space-y-3">
            <p
              role="status"
              className="rounded-md border border-green-200 bg-green-50 px-3 py-2 text-sm text-green-900"
            >
              Confirmed. Now tap the new token “{addition.nickname}”: plug it in (unplug the other one if you
              have one port), then press the button and touch it.
            </p>
            <TapHint active={addition.busy} />
            <div className="flex gap-2">
              <button type="button" className="btn-primary" disabled={addition.busy} onClick={onTapNew}>
                {addition.busy ? "Waiting for the new token…" : "Tap the new token"}
              </button>
              <button
                type="button"
                className="btn-secondary"
                disabled={addition.busy}
                onClick={() => setAddition({ step: "idle" })}
              >
                Cancel
              </button>
            </div>
          </div>
        ) : (
          <form onSubmit={onAdd} className="space-y-4">
            <p className="text-sm text-slate-600">
              You will tap twice: first one of your current tokens, to confirm it is you, then the new token.
            </p>
            <div>
              <label htmlFor="nickname" className="label">
                Name for the new token
              </label>
              <input
                id="nickname"
                name="nickname"
                className="input"
                required
                maxLength={60}
                placeholder="Backup YubiKey"
              />
            </div>
            {addition.step === "confirming" && (
              <p
                role="status"
                className="rounded-md border border-indigo-200 bg-indigo-50 px-3 py-2 text-sm text-indigo-900"
              >
                Tap one of your current tokens to confirm (and enter its PIN if asked)…
              </p>
            )}
            <button type="submit" className="btn-primary" disabled={addition.step === "confirming"}>
              {addition.step === "confirming" ? "Waiting for your current token…" : "Add a token"}
            </button>
          </form>
        )}
      </section>
    </div>
  );
}
