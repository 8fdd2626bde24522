// Proposing a withdrawal (operators and admins): the form checks what it can in the browser with the kind's own
// schema; the server checks everything again (addresses, amounts, the key, the PSBT, funds when a node is
// configured) and creates nothing unless all of it holds.
import { Forbidden } from "../../_components/forbidden";
import { requirePageRole } from "../../_components/require-role";
import { ProposeWithdrawalForm } from "./propose-withdrawal-form";

export default async function NewWithdrawalPage() {
  const { allowed } = await requirePageRole("operator", "admin");
  if (!allowed) return <Forbidden what="Proposing a withdrawal needs the operator or admin role." />;
  return (
    <div className="space-y-6">
      <h1 className="text-2xl font-semibold">Propose a withdrawal</h1>
      <p className="max-w-3xl text-slate-700">
        Choose the key that pays, the asset, the amount, the destination and the most you allow the fee to
        cost. Approvers approve exactly these; when they have, Keyward builds the transaction (Ethereum: the
        key&apos;s next nonce and current fees within your cap; Solana: a recent blockhash), decodes it back
        and signs only if it does precisely this. For Bitcoin, upload the unsigned PSBT from your wallet
        backend: approvers then approve those exact bytes (inputs, outputs, change, fee). You cannot approve
        your own proposal.
      </p>
      <ProposeWithdrawalForm />
    </div>
  );
}
