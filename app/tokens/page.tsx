import { requirePageRole } from "../_components/require-role";
import { TokenManager } from "./token-manager";

export default async function TokensPage() {
  await requirePageRole();
  return (
    <div className="space-y-6">
      <h1 className="text-2xl font-semibold">My tokens</h1>
      <p className="max-w-2xl text-slate-700">
        These hardware tokens let you sign in and vote. Keep at least two, stored apart: if you lose your only token,
        an admin has to revoke it and invite you again.
      </p>
      <TokenManager />
    </div>
  );
}
