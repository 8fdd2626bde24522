"use client";
// The withdrawals, newest first, 50 a page, filtered by chain; refreshed every 10 s so executions and
// confirmations appear on their own.
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useState } from "react";
import { CHAINS, type Chain } from "@/server/custody/types";
import { FormError } from "../_components/form-error";
import { describeError } from "../_components/token-ceremony";
import { useTRPC } from "../_trpc/client";
import { OperationStateBadge, utc } from "../operations/badges";

const TX_WORDS: Record<string, string> = {
  built: "built, not signed yet",
  signed: "signed",
  broadcast: "broadcast, waiting for confirmations",
  confirmed: "confirmed",
  failed: "failed on chain",
  dead: "dead (will never confirm)",
};

export function WithdrawalList() {
  const trpc = useTRPC();
  const [chain, setChain] = useState<Chain | undefined>(undefined);
  const [before, setBefore] = useState<Date | undefined>(undefined);
  const input = { ...(chain ? { chain } : {}), ...(before ? { before } : {}) };
  const list = useQuery({
    ...trpc.withdrawals.list.queryOptions(input),
    placeholderData: keepPreviousData,
    refetchInterval: 10_000,
  });
  return (
    <div className="space-y-4">
      <div className="flex items-end gap-3">
        <div className="space-y-1">
          <label htmlFor="chain" className="label">
            Chain
          </label>
          <select
            id="chain"
            className="input"
            value={chain ?? ""}
            onChange={(e) => {
              const value = CHAINS.find((c) => c === e.target.value);
              setChain(value);
              setBefore(undefined);
            }}
          >
            <option value="">all</option>
            {CHAINS.map((c) => (
              <option key={c}>{c}</option>
            ))}
          </select>
        </div>
      </div>
      <FormError message={list.error ? describeError(list.error) : null} />
      {list.data && list.data.items.length === 0 && (
        <p className="text-sm text-slate-600">No withdrawals yet.</p>
      )}
      {list.data && list.data.items.length > 0 && (
        <div className="overflow-x-auto rounded-lg border border-slate-200 bg-white px-4">
          <table className="w-full text-left text-sm">
            <thead className="text-slate-500">
              <tr>
                <th className="py-2 pr-3 font-medium">Amount</th>
                <th className="py-2 pr-3 font-medium">Chain</th>
                <th className="py-2 pr-3 font-medium">To</th>
                <th className="py-2 pr-3 font-medium">From key</th>
                <th className="py-2 pr-3 font-medium">Approval</th>
                <th className="py-2 pr-3 font-medium">Transaction</th>
                <th className="py-2 font-medium">Proposed</th>
              </tr>
            </thead>
            <tbody>
              {list.data.items.map((w) => (
                <tr key={w.operationId} className="border-t border-slate-200" data-testid="withdrawal-row">
                  <td className="py-2 pr-3">
                    <Link
                      href={`/operations/${w.operationId}`}
                      className="font-medium text-indigo-800 hover:underline"
                    >
                      {w.amountWords}
                    </Link>
                  </td>
                  <td className="py-2 pr-3">{w.chain}</td>
                  <td className="py-2 pr-3 font-mono text-xs break-all">{w.destination}</td>
                  <td className="py-2 pr-3">{w.keyLabel}</td>
                  <td className="py-2 pr-3">
                    <OperationStateBadge
                      state={w.operationState as Parameters<typeof OperationStateBadge>[0]["state"]}
                    />
                  </td>
                  <td className="py-2 pr-3" data-testid="withdrawal-tx-state">
                    {w.transaction === null
                      ? "not built yet"
                      : (TX_WORDS[w.transaction.state] ?? w.transaction.state)}
                    {w.transaction?.state === "broadcast" && ` (${w.transaction.confirmations})`}
                  </td>
                  <td className="py-2">{utc(new Date(w.createdAt))}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {list.data?.next && (
        <button
          type="button"
          className="btn-secondary"
          onClick={() => setBefore(list.data?.next ?? undefined)}
        >
          Older
        </button>
      )}
    </div>
  );
}
