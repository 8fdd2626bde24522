// Home: who I am, what waits for me and keys by state (live, home-live.tsx), and the ways on.
import Link from "next/link";
import { redirect } from "next/navigation";
import { api } from "@/server/api/caller";
import { currentSession } from "@/server/auth/next-auth";
import { SetupModeCard } from "./go-live/setup-mode-card";
import { HomeLive } from "./home-live";

export default async function Home() {
  const caller = await api();
  if ((await caller.setup.status()).pending) redirect("/setup");
  const session = await currentSession();
  if (!session) redirect("/sign-in");
  const { member } = session;
  const canAudit = member.roles.includes("admin") || member.roles.includes("auditor");
  return (
    <div className="space-y-8">
      <div className="space-y-2">
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
      </div>

      {(await caller.governance.mode()).mode === "setup" && <SetupModeCard />}

      <HomeLive memberId={member.id} />

      <div className="grid gap-4 sm:grid-cols-2">
        {canAudit && (
          <Link href="/status" className="card hover:border-indigo-300">
            <h2 className="font-medium">HSM and audit health</h2>
            <p className="text-sm text-slate-600">
              The HSM tokens, the database, and a check of the audit trail.
            </p>
          </Link>
        )}
        {canAudit && (
          <Link href="/members" className="card hover:border-indigo-300">
            <h2 className="font-medium">Members</h2>
            <p className="text-sm text-slate-600">
              Who can sign in, their roles and approver groups; invitations.
            </p>
          </Link>
        )}
        <Link href="/tokens" className="card hover:border-indigo-300">
          <h2 className="font-medium">My tokens</h2>
          <p className="text-sm text-slate-600">The hardware tokens you sign in and vote with.</p>
        </Link>
      </div>
    </div>
  );
}
