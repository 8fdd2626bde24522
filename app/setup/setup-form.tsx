"use client";
// First-admin setup: the code from the terminal, your name, then a tap to register your token.
import { useMutation } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { type FormEvent, useState } from "react";
import { FormError, TapHint } from "../_components/form-error";
import { createCredential, describeError, signInWithToken } from "../_components/token-ceremony";
import { useTRPC } from "../_trpc/client";

export function SetupForm() {
  const trpc = useTRPC();
  const router = useRouter();
  const begin = useMutation(trpc.setup.begin.mutationOptions());
  const complete = useMutation(trpc.setup.complete.mutationOptions());
  const signInOptions = useMutation(trpc.auth.signInOptions.mutationOptions());
  const [error, setError] = useState<string | null>(null);
  const [step, setStep] = useState<"form" | "tap-register" | "tap-sign-in">("form");

  async function onSubmit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    setError(null);
    const form = new FormData(e.currentTarget);
    const input = {
      code: String(form.get("code") ?? ""),
      name: String(form.get("name") ?? ""),
      tokenName: String(form.get("tokenName") ?? ""),
    };
    try {
      const options = await begin.mutateAsync({ code: input.code, name: input.name });
      setStep("tap-register");
      const response = await createCredential(options);
      await complete.mutateAsync({ ...input, response });
      setStep("tap-sign-in");
      await signInWithToken(() => signInOptions.mutateAsync());
      router.push("/members");
      router.refresh();
    } catch (err) {
      setError(describeError(err));
      setStep("form");
    }
  }

  const busy = step !== "form";
  return (
    <form onSubmit={onSubmit} className="card max-w-lg space-y-4" aria-describedby="setup-help">
      <p id="setup-help" className="text-sm text-slate-600">
        <code>npm start</code> printed a one-time setup code in its terminal. It works once and expires 15 minutes
        after the server started; restart Keyward for a new one.
      </p>
      <div>
        <label htmlFor="code" className="label">
          Setup code
        </label>
        <input id="code" name="code" className="input font-mono uppercase" placeholder="XXXX-XXXX-XXXX-XXXX" required autoComplete="off" />
      </div>
      <div>
        <label htmlFor="name" className="label">
          Your name
        </label>
        <input id="name" name="name" className="input" required minLength={2} maxLength={80} autoComplete="name" />
      </div>
      <div>
        <label htmlFor="tokenName" className="label">
          Name for this token
        </label>
        <input id="tokenName" name="tokenName" className="input" required maxLength={60} defaultValue="My security key" />
      </div>
      <FormError message={error} />
      <TapHint active={busy} />
      <button type="submit" className="btn-primary" disabled={busy}>
        {step === "tap-sign-in" ? "Signing you in…" : busy ? "Waiting for your token…" : "Register my token and become admin"}
      </button>
    </form>
  );
}
