import Link from "next/link";
import { redirect } from "next/navigation";
import { KEY_STATES } from "@/db/schema";
import { api } from "@/server/api/caller";
import { currentSession } from "@/server/auth/next-auth";
import { KeyStateBadge, timeLeft, utc } from "./operations/badges";

export default async function Home() {
  const caller = await api();
  if ((await caller.setup.status()).pending) redirect("/setup");
  const session = await currentSession();
  if (!session) redirect("/sign-in");
  const { member } = session;
  const now = new Date();
  const pending = await caller.operations.list({ state: "pending", limit: 50 });
  // What waits for me: operations I may still vote on, and my own proposals still waiting for others.
  const details = await Promise.all(pending.map((op) => caller.operations.get({ operationId: op.id })));
  const toVote = details.filter((op) => op.canVote);
  const mine = details.filter((op) => op.initiator.id === member.id);
  const counts = await caller.keys.counts();
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

      <section className="card space-y-3" aria-labelledby="waiting">
        <div className="flex items-center gap-3">
          <h2 id="waiting" className="text-lg font-medium">
            Waiting for you
          </h2>
          <Link href="/operations" className="ml-auto text-sm text-indigo-800 hover:underline">
            All approvals ({pending.length} pending)
          </Link>
        </div>
        {toVote.length === 0 && mine.length === 0 ? (
          <p className="text-sm text-slate-600" data-testid="nothing-waiting">
            Nothing waits for your vote.
          </p>
        ) : (
          <ul className="divide-y divide-slate-100 text-sm" data-testid="waiting-list">
            {[...toVote, ...mine].map((op) => (
              <li key={op.id} className="flex flex-wrap items-center gap-x-3 gap-y-1 py-2">
                <Link href={`/operations/${op.id}`} className="font-medium text-indigo-800 hover:underline">
                  {op.display.title}
                </Link>
                <span className="text-slate-600">
                  {op.canVote ? `proposed by ${op.initiator.name}` : "your proposal"} ·{" "}
                  {op.tally.map((t) => `${t.approvals} of ${t.needed} from ${t.group}`).join(" and ")}
                </span>
                <span className="ml-auto text-slate-600">
                  deadline {utc(op.expiresAt)} ({timeLeft(op.expiresAt, now)})
                </span>
              </li>
            ))}
          </ul>
        )}
      </section>

      <section className="card space-y-3" aria-labelledby="keys-by-state">
        <div className="flex items-center gap-3">
          <h2 id="keys-by-state" className="text-lg font-medium">
            Keys by state
          </h2>
          <Link href="/keys" className="ml-auto text-sm text-indigo-800 hover:underline">
            All keys
          </Link>
        </div>
        <ul className="flex flex-wrap gap-4 text-sm" data-testid="key-counts">
          {KEY_STATES.map((state) => (
            <li key={state} className="flex items-center gap-2">
              <KeyStateBadge state={state} />
              <span className="font-semibold">{counts[state]}</span>
            </li>
          ))}
        </ul>
      </section>

      <div className="grid gap-4 sm:grid-cols-2">
        {canAudit && (
          <Link href="/status" className="card hover:border-indigo-300">
            <h2 className="font-medium">HSM and audit health</h2>
            <p className="text-sm text-slate-600">The HSM tokens, the database, and a check of the audit trail.</p>
          </Link>
        )}
        {canAudit && (
          <Link href="/members" className="card hover:border-indigo-300">
            <h2 className="font-medium">Members</h2>
            <p className="text-sm text-slate-600">Who can sign in, their roles and approver groups; invitations.</p>
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
