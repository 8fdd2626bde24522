import { Forbidden } from "../../_components/forbidden";
import { requirePageRole } from "../../_components/require-role";
import { ProposeKeyForm } from "./propose-key-form";

export default async function NewKeyPage() {
  const { allowed } = await requirePageRole("operator", "admin");
  if (!allowed) return <Forbidden what="Proposing a key needs the operator or admin role." />;
  return (
    <div className="space-y-6">
      <h1 className="text-2xl font-semibold">Propose a new key</h1>
      <p className="max-w-2xl text-slate-700">
        The key is made on the HSM only once enough approvers have approved exactly what you enter here, each
        with a tap of their own token. You cannot approve your own proposal.
      </p>
      <ProposeKeyForm />
    </div>
  );
}
