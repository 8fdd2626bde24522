import Link from "next/link";
import { api } from "@/server/api/caller";
import { SetupForm } from "./setup-form";

export default async function SetupPage() {
  const { pending } = await (await api()).setup.status();
  return (
    <div className="space-y-6">
      <h1 className="text-2xl font-semibold">Set up Keyward</h1>
      {pending ? (
        <>
          <p className="max-w-2xl text-slate-700">
            The first person to set up Keyward becomes its admin. You will register a hardware token (for example a
            YubiKey) that verifies you with a PIN or fingerprint; it is the only way to sign in. Keep a second token
            ready: you can add it afterwards under “My tokens”.
          </p>
          <SetupForm />
        </>
      ) : (
        <p className="text-slate-700">
          Keyward is already set up.{" "}
          <Link className="text-indigo-700 underline" href="/sign-in">
            Sign in with your token
          </Link>
          .
        </p>
      )}
    </div>
  );
}
