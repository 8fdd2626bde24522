import { redirect } from "next/navigation";
import { api } from "@/server/api/caller";
import { currentSession } from "@/server/auth/next-auth";
import { SignInButton } from "./sign-in-button";

export default async function SignInPage() {
  if ((await (await api()).setup.status()).pending) redirect("/setup");
  if (await currentSession()) redirect("/");
  return (
    <div className="space-y-6">
      <h1 className="text-2xl font-semibold">Sign in</h1>
      <SignInButton />
    </div>
  );
}
