"use client";
// Loosening a key is never immediate: "Propose resuming" on a suspended key (key.resume) and "Propose activation"
// on a key in pre-activation (key.activate, for a key.create that asked for it) each make an operation for the
// quorum. On success the operation's page opens, where approvers vote.
import { useMutation } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { FormError } from "../../_components/form-error";
import { describeError } from "../../_components/token-ceremony";
import { useTRPC } from "../../_trpc/client";

function ProposeOnKey({
  keyId,
  kind,
  explanation,
  label,
}: {
  keyId: string;
  kind: "key.resume" | "key.activate";
  explanation: string;
  label: string;
}) {
  const trpc = useTRPC();
  const router = useRouter();
  const propose = useMutation(trpc.operations.propose.mutationOptions());
  const [error, setError] = useState<string | null>(null);
  async function onClick() {
    setError(null);
    try {
      const op = await propose.mutateAsync({ kind, payload: { keyId } });
      router.push(`/operations/${op.id}`);
    } catch (e) {
      setError(`The proposal was not made. ${describeError(e)}`);
    }
  }
  return (
    <div className="space-y-2">
      <p className="text-sm text-slate-600">{explanation}</p>
      <button type="button" className="btn-primary" disabled={propose.isPending} onClick={onClick}>
        {propose.isPending ? "Proposing…" : label}
      </button>
      <FormError message={error} />
    </div>
  );
}

export function ProposeResume({ keyId }: { keyId: string }) {
  return (
    <ProposeOnKey
      keyId={keyId}
      kind="key.resume"
      explanation="A suspended key signs again only when the quorum approves it."
      label="Propose resuming"
    />
  );
}

export function ProposeActivate({ keyId }: { keyId: string }) {
  return (
    <ProposeOnKey
      keyId={keyId}
      kind="key.activate"
      explanation="A key in pre-activation can sign only once the quorum activates it."
      label="Propose activation"
    />
  );
}

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
