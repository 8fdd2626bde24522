"use client";
// The operation page's withdrawal section: once the executor built the transaction, what it signs (or signed),
// decoded from the stored bytes — destination, amount, fee at most, nonce or blockhash — with its state, hash and
// confirmations; and, when no node is configured to broadcast it, the signed transaction as a download.
// The approved intent itself is the operation's "What you approve" section above.
import { useMutation, useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { FormError } from "../../_components/form-error";
import { describeError } from "../../_components/token-ceremony";
import { useTRPC } from "../../_trpc/client";
import { SpeedUpPanel, SpeedUpTransactionSection } from "./speed-up";

const STATE_WORDS: Record<string, string> = {
  built: "Built and stored with its nonce; not signed yet",
  signed: "Signed",
  broadcast: "Broadcast; waiting for confirmations",
  confirmed: "Confirmed",
  failed: "Failed on chain (the fee was spent, nothing moved)",
  dead: "Dead: it can never confirm",
};

export function WithdrawalSection({ operationId, kind }: { operationId: string; kind: string }) {
  const trpc = useTRPC();
  // A mutation: each download is audited (withdrawal.downloaded).
  const fetchFile = useMutation(trpc.withdrawals.download.mutationOptions());
  const [error, setError] = useState<string | null>(null);
  const section = useQuery({
    ...trpc.withdrawals.section.queryOptions({ operationId }),
    enabled: kind === "withdrawal",
    refetchInterval: (q) => {
      const state = q.state.data?.transaction?.state;
      return state === "confirmed" || state === "failed" || state === "dead" ? false : 5_000;
    },
  });
  if (kind === "withdrawal.speedup") return <SpeedUpTransactionSection operationId={operationId} />;
  if (kind !== "withdrawal") return null;
  const tx = section.data?.transaction;

  async function download() {
    setError(null);
    try {
      const file = await fetchFile.mutateAsync({ operationId });
      const url = URL.createObjectURL(new Blob([file.contents], { type: "text/plain" }));
      const a = document.createElement("a");
      a.href = url;
      a.download = file.filename;
      a.click();
      URL.revokeObjectURL(url);
    } catch (e) {
      setError(describeError(e));
    }
  }

  return (
    <section className="card space-y-3" aria-labelledby="transaction">
      <h2 id="transaction" className="text-lg font-medium">
        The transaction
      </h2>
      <FormError message={section.error ? describeError(section.error) : error} />
      {section.data && tx == null && (
        <p className="text-sm text-slate-600">
          Not built yet. Once approved, Keyward builds it from exactly what is shown above, decodes it back
          and signs only if it matches.
        </p>
      )}
      {tx && (
        <>
          <p className="text-sm font-medium" data-testid="withdrawal-state">
            {STATE_WORDS[tx.state] ?? tx.state}
            {tx.state === "broadcast" && ` (${tx.confirmations} so far)`}
            {tx.state === "confirmed" && ` (${tx.confirmations} confirmations)`}
          </p>
          {tx.reason && <p className="text-sm text-red-800">{tx.reason}</p>}
          {tx.txid && (
            <p className="text-sm">
              Transaction hash:{" "}
              <code className="font-mono break-all" data-testid="withdrawal-txid">
                {tx.txid}
              </code>
            </p>
          )}
          <dl
            className="grid grid-cols-[max-content_1fr] gap-x-6 gap-y-2 text-sm"
            data-testid="withdrawal-decoded"
          >
            {tx.lines.map((line) => (
              <div key={`${line.label}${line.value}`} className="contents">
                <dt className="text-slate-500">{line.label}</dt>
                <dd className="font-medium break-all">{line.value}</dd>
              </div>
            ))}
          </dl>
          <p className="text-xs text-slate-500">Decoded from the very bytes the HSM signs.</p>
          {tx.downloadable && (
            <div className="space-y-1">
              <button type="button" className="btn-secondary" onClick={download}>
                Download the signed transaction
              </button>
              <p className="text-xs text-slate-600">
                No node is configured for this chain, so Keyward does not broadcast it: send the file&apos;s
                contents to the network yourself (eth_sendRawTransaction, sendrawtransaction,
                sendTransaction).
              </p>
            </div>
          )}
        </>
      )}
      {tx && <SpeedUpPanel operationId={operationId} />}
    </section>
  );
}
