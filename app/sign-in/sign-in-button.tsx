"use client";
import { useMutation } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { FormError, TapHint } from "../_components/form-error";
import { describeError, signInWithToken } from "../_components/token-ceremony";
import { useTRPC } from "../_trpc/client";

export function SignInButton() {
  const trpc = useTRPC();
  const router = useRouter();
  const options = useMutation(trpc.auth.signInOptions.mutationOptions());
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function onClick() {
    setError(null);
    setBusy(true);
    try {
      await signInWithToken(() => options.mutateAsync());
      router.push("/");
      router.refresh();
    } catch (e) {
      setError(describeError(e));
      setBusy(false);
    }
  }

  return (
    <div className="card max-w-lg space-y-4">
      <p className="text-sm text-slate-600">
        Insert your hardware token, press the button, then touch the token. You will be asked for its PIN or
        fingerprint. No user name or password is needed.
      </p>
      <FormError message={error} />
      <TapHint active={busy} />
      <button type="button" className="btn-primary" onClick={onClick} disabled={busy}>
        {busy ? "Waiting for your token…" : "Sign in with my token"}
      </button>
    </div>
  );
}
