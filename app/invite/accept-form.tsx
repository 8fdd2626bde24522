"use client";
// Accepting an invitation: name the token, tap to register it, tap again to sign in.
import { useMutation } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { type FormEvent, useState } from "react";
import { FormError, TapHint } from "../_components/form-error";
import { createCredential, describeError, signInWithToken } from "../_components/token-ceremony";
import { useTRPC } from "../_trpc/client";

export function AcceptInvitationForm({ secret }: { secret: string }) {
  const trpc = useTRPC();
  const router = useRouter();
  const begin = useMutation(trpc.invitations.beginAccept.mutationOptions());
  const complete = useMutation(trpc.invitations.completeAccept.mutationOptions());
  const signInOptions = useMutation(trpc.auth.signInOptions.mutationOptions());
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function onSubmit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    setError(null);
    const tokenName = String(new FormData(e.currentTarget).get("tokenName") ?? "");
    setBusy(true);
    try {
      const options = await begin.mutateAsync({ secret });
      const response = await createCredential(options);
      await complete.mutateAsync({ secret, tokenName, response });
      await signInWithToken(() => signInOptions.mutateAsync());
      router.push("/");
      router.refresh();
    } catch (err) {
      setError(describeError(err));
      setBusy(false);
    }
  }

  return (
    <form onSubmit={onSubmit} className="card max-w-lg space-y-4">
      <div>
        <label htmlFor="tokenName" className="label">
          Name for this token
        </label>
        <input id="tokenName" name="tokenName" className="input" required maxLength={60} defaultValue="My security key" />
      </div>
      <FormError message={error} />
      <TapHint active={busy} />
      <button type="submit" className="btn-primary" disabled={busy}>
        {busy ? "Waiting for your token…" : "Register my token and join"}
      </button>
    </form>
  );
}
