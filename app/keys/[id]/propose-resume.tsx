"use client";
// "Propose resuming" on a suspended key: a key.resume operation for the quorum (loosening is never immediate).
// On success the operation's page opens, where approvers vote.
import { useMutation } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { FormError } from "../../_components/form-error";
import { describeError } from "../../_components/token-ceremony";
import { useTRPC } from "../../_trpc/client";

export function ProposeResume({ keyId }: { keyId: string }) {
  const trpc = useTRPC();
  const router = useRouter();
  const propose = useMutation(trpc.operations.propose.mutationOptions());
  const [error, setError] = useState<string | null>(null);
  async function onClick() {
    setError(null);
    try {
      const op = await propose.mutateAsync({ kind: "key.resume", payload: { keyId } });
      router.push(`/operations/${op.id}`);
    } catch (e) {
      setError(`The proposal was not made. ${describeError(e)}`);
    }
  }
  return (
    <div className="space-y-2">
      <p className="text-sm text-slate-600">A suspended key signs again only when the quorum approves it.</p>
      <button type="button" className="btn-primary" disabled={propose.isPending} onClick={onClick}>
        {propose.isPending ? "Proposing…" : "Propose resuming"}
      </button>
      <FormError message={error} />
    </div>
  );
}
