"use client";
// A key in pre-activation (made by a key.create that asked for it): what the state means, and "Propose
// activation", a key.activate operation for the quorum (activating is loosening: never immediate). On success the
// operation's page opens, where approvers vote.
import { useMutation } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { FormError } from "../../_components/form-error";
import { describeError } from "../../_components/token-ceremony";
import { useTRPC } from "../../_trpc/client";

/** What pre-activation means, for everyone who opens the key (not only those who may propose). */
export function PreActivationNote() {
  return (
    <p className="text-sm text-slate-700" data-testid="key-pre-activation">
      This key is in pre-activation (NIST SP 800-57): it was made in the HSM and its public key and addresses
      are known, but it is not yet authorised for use, so it cannot sign anything. Funds sent to its addresses
      arrive but cannot be moved until a key.activate operation is approved by the quorum.
    </p>
  );
}

export function ProposeActivate({ keyId }: { keyId: string }) {
  const trpc = useTRPC();
  const router = useRouter();
  const propose = useMutation(trpc.operations.propose.mutationOptions());
  const [error, setError] = useState<string | null>(null);
  async function onClick() {
    setError(null);
    try {
      const op = await propose.mutateAsync({ kind: "key.activate", payload: { keyId } });
      router.push(`/operations/${op.id}`);
    } catch (e) {
      setError(`The proposal was not made. ${describeError(e)}`);
    }
  }
  return (
    <div className="space-y-2">
      <p className="text-sm text-slate-600">
        A key in pre-activation can sign only once the quorum activates it.
      </p>
      <button type="button" className="btn-primary" disabled={propose.isPending} onClick={onClick}>
        {propose.isPending ? "Proposing…" : "Propose activation"}
      </button>
      <FormError message={error} />
    </div>
  );
}
