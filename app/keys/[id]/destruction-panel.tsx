"use client";
// A key's scheduled destruction (when it runs, and which operation scheduled it) with Cancel destruction: one
// fresh tap by an admin or approver, immediate because it only ever keeps a key (it comes back suspended, so
// signing again still needs key.resume's quorum). Also the key this one succeeds and the one succeeding it.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useEffect, useState } from "react";
import { FormError, TapHint } from "../../_components/form-error";
import { describeError, getAssertion } from "../../_components/token-ceremony";
import { useTRPC } from "../../_trpc/client";
import { utc } from "../../operations/badges";

/** `roles`: the viewer's; admins and approvers may cancel (re-checked by the server). */
export function DestructionPanel({ keyId, roles }: { keyId: string; roles: readonly string[] }) {
  const canCancel = roles.includes("admin") || roles.includes("approver");
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const page = useQuery(trpc.keys.get.queryOptions({ keyId }));
  const status = useQuery(trpc.keyLifecycle.status.queryOptions({ keyId }));
  const begin = useMutation(trpc.keyLifecycle.beginCancelDestruction.mutationOptions());
  const complete = useMutation(trpc.keyLifecycle.cancelDestruction.mutationOptions());
  const [tapping, setTapping] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const statusKey = trpc.keyLifecycle.status.queryKey({ keyId });
  // The key page's live snapshot changes whenever the key or an operation does: read the schedule again then.
  const updated = page.dataUpdatedAt;
  useEffect(() => {
    if (updated)
      void queryClient.invalidateQueries({ queryKey: trpc.keyLifecycle.status.queryKey({ keyId }) });
  }, [updated, queryClient, trpc, keyId]);

  if (!status.data) return null;
  const { destruction, predecessor, successor } = status.data;
  if (!destruction && !predecessor && !successor && !notice) return null;

  async function onCancel() {
    setError(null);
    setNotice(null);
    setTapping(true);
    try {
      const { options } = await begin.mutateAsync({ keyId });
      const response = await getAssertion(options);
      const done = await complete.mutateAsync({ keyId, response });
      setNotice(`The destruction is cancelled. The key is ${done.state}.`);
    } catch (e) {
      setError(`The destruction was not cancelled. ${describeError(e)}`);
    }
    setTapping(false);
    await queryClient.invalidateQueries({ queryKey: statusKey });
    await queryClient.invalidateQueries({ queryKey: trpc.keys.get.queryKey({ keyId }) });
  }

  return (
    <section className="card space-y-3" aria-labelledby="destruction" data-testid="key-destruction">
      <h2 id="destruction" className="text-lg font-medium">
        {destruction ? "Destruction scheduled" : predecessor || successor ? "Rotation" : "Destruction"}
      </h2>
      {predecessor && (
        <p className="text-sm">
          Successor of{" "}
          <Link href={`/keys/${predecessor.id}`} className="text-indigo-800 hover:underline">
            {predecessor.label}
          </Link>
          .
        </p>
      )}
      {successor && (
        <p className="text-sm">
          Rotated: succeeded by{" "}
          <Link href={`/keys/${successor.id}`} className="text-indigo-800 hover:underline">
            {successor.label}
          </Link>
          . This key no longer receives; it remains for sweeping its funds to the successor.
        </p>
      )}
      {destruction && (
        <>
          <p className="text-sm" data-testid="destroy-after">
            This key cannot sign. It will be destroyed on every HSM token at{" "}
            <strong>{utc(destruction.destroyAfter)}</strong>
            {destruction.operationId && (
              <>
                {" "}
                (
                <Link
                  href={`/operations/${destruction.operationId}`}
                  className="text-indigo-800 hover:underline"
                >
                  the approved operation
                </Link>
                )
              </>
            )}
            .
          </p>
          {destruction.started ? (
            <p className="text-sm text-slate-600">
              The destruction has started: it can no longer be cancelled.
            </p>
          ) : canCancel ? (
            <div className="space-y-2">
              <p className="text-sm text-slate-600">
                Cancelling keeps the key (it comes back suspended, or in pre-activation if it was never
                activated: signing again needs the quorum). It takes one tap of your token.
              </p>
              <button type="button" className="btn-secondary" disabled={tapping} onClick={onCancel}>
                {tapping ? "Waiting for your token…" : "Cancel destruction"}
              </button>
              <TapHint active={tapping} />
            </div>
          ) : (
            <p className="text-sm text-slate-600">An admin or approver can cancel it until it runs.</p>
          )}
        </>
      )}
      {notice && (
        <p role="status" className="text-sm text-emerald-800">
          {notice}
        </p>
      )}
      <FormError message={error} />
    </section>
  );
}
