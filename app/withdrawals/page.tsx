// Withdrawals: every withdrawal operation with its approval state and its transaction's state (built, signed,
// broadcast, confirmed, failed, dead). Every member reads it; operators and admins propose from here.
import Link from "next/link";
import { requirePageRole } from "../_components/require-role";
import { WithdrawalList } from "./withdrawal-list";

export default async function WithdrawalsPage() {
  const { session } = await requirePageRole();
  const canPropose = session.member.roles.some((r) => r === "operator" || r === "admin");
  return (
    <div className="space-y-6">
      <div className="flex flex-wrap items-center gap-4">
        <h1 className="text-2xl font-semibold">Withdrawals</h1>
        {canPropose && (
          <Link href="/withdrawals/new" className="btn-primary ml-auto">
            Propose a withdrawal
          </Link>
        )}
      </div>
      <p className="max-w-3xl text-slate-700">
        A withdrawal moves funds from a custody key only after the approvers approved exactly its asset,
        amount, destination and fee cap. Keyward then builds the transaction, decodes it back and signs only
        if it does precisely that. Open one to see what was approved and the transaction that was signed.
      </p>
      <WithdrawalList />
    </div>
  );
}
