import Link from "next/link";
import { redirect } from "next/navigation";
import { api } from "@/server/api/caller";
import { currentSession } from "@/server/auth/next-auth";

export default async function Home() {
  const caller = await api();
  if ((await caller.setup.status()).pending) redirect("/setup");
  const session = await currentSession();
  if (!session) redirect("/sign-in");
  const { member } = session;
  return (
    <div className="space-y-6">
      <h1 className="text-2xl font-semibold">Welcome, {member.name}</h1>
      <p className="text-slate-700">
        Your roles: <strong>{member.roles.join(", ")}</strong>
        {member.groups.length > 0 && (
          <>
            {" "}
            · approver groups: <strong>{member.groups.join(", ")}</strong>
          </>
        )}
      </p>
      <div className="grid gap-4 sm:grid-cols-2">
        {(member.roles.includes("admin") || member.roles.includes("auditor")) && (
          <Link href="/members" className="card hover:border-indigo-300">
            <h2 className="font-medium">Members</h2>
            <p className="text-sm text-slate-600">Who can sign in, their roles and approver groups; invitations.</p>
          </Link>
        )}
        <Link href="/tokens" className="card hover:border-indigo-300">
          <h2 className="font-medium">My tokens</h2>
          <p className="text-sm text-slate-600">The hardware tokens you sign in and vote with.</p>
        </Link>
        {(member.roles.includes("admin") || member.roles.includes("auditor")) && (
          <Link href="/status" className="card hover:border-indigo-300">
            <h2 className="font-medium">Status</h2>
            <p className="text-sm text-slate-600">HSM and database health, and the audit trail.</p>
          </Link>
        )}
      </div>
    </div>
  );
}
