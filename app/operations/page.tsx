import Link from "next/link";
import { requirePageRole } from "../_components/require-role";
import { Inbox } from "./inbox";

export default async function OperationsPage() {
  const { session } = await requirePageRole();
  const canPropose = session.member.roles.some((r) => r === "operator" || r === "admin");
  return (
    <div className="space-y-6">
      <div className="flex flex-wrap items-center gap-4">
        <h1 className="text-2xl font-semibold">Approvals</h1>
        {canPropose && (
          <Link href="/keys/new" className="btn-primary ml-auto">
            Propose a new key
          </Link>
        )}
      </div>
      <p className="max-w-2xl text-slate-700">
        Every operation on custody keys waits here until enough people approve it with a tap of their own
        hardware token. The list updates by itself as proposals arrive and votes are cast.
      </p>
      <Inbox />
    </div>
  );
}
