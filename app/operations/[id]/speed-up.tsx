"use client";
// Speed-ups on the operation page (withdrawals.speedUps). On an Ethereum withdrawal's page, inside "The
// transaction": which transaction of its nonce confirmed (the original or a speed-up's), every transaction Keyward
// signed for it, and — while its transaction is broadcast and in no block, to members who may propose — "Speed up",
// which opens a form with the chain's fee estimate now, the least fees a replacement must offer and a fee cap, and
// proposes a withdrawal.speedup (its own operation, approved like any other). On a speed-up's own page: "The
// transaction" of the replacement, decoded from the stored bytes, with its state and hash.
import { useMutation, useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { type FormEvent, useState } from "react";
import { SPEEDUP_KIND, speedUpInputSchema } from "@/server/operations/kinds/withdrawal-speedup-schema";
import { FormError } from "../../_components/form-error";
import { describeError } from "../../_components/token-ceremony";
import { useTRPC } from "../../_trpc/client";

const STATE_WORDS: Record<string, string> = {
  built: "Built and stored; not signed yet",
  signed: "Signed; waiting to be broadcast",
  broadcast: "Broadcast; waiting for confirmations",
  confirmed: "Confirmed",
  failed: "Failed on chain (the fee was spent, nothing moved)",
  dead: "Dead: it can never confirm",
};

const FIELDS = ["maxFeePerGas", "maxPriorityFeePerGas", "feeCap"] as const;
type Field = (typeof FIELDS)[number];
const isField = (f: unknown): f is Field => FIELDS.some((x) => x === f);

export function useSpeedUps(operationId: string, kind: string) {
  const trpc = useTRPC();
  return useQuery({
    ...trpc.withdrawals.speedUps.queryOptions({ operationId }),
    enabled: kind === "withdrawal" || kind === SPEEDUP_KIND,
    refetchInterval: (q) => (q.state.data?.confirmed ? false : 5_000),
  });
}

/** Inside a withdrawal's "The transaction": the speed-ups, the one that confirmed, and the Speed up action. */
export function SpeedUpPanel({ operationId }: { operationId: string }) {
  const view = useSpeedUps(operationId, "withdrawal");
  const [open, setOpen] = useState(false);
  const data = view.data;
  if (!data) return null;
  const { proposal, confirmed, transactions } = data;
  return (
    <div className="space-y-3 border-t border-slate-200 pt-3" data-testid="speed-ups">
      {confirmed?.speedUp && (
        <p className="text-sm font-medium" data-testid="speedup-confirmed">
          Confirmed through its{" "}
          <Link className="underline" href={`/operations/${confirmed.operationId}`}>
            speed-up
          </Link>
          : transaction <code className="font-mono break-all">{confirmed.txid}</code>. The original
          transaction can never be mined (the same nonce is used).
        </p>
      )}
      {transactions.length > 1 && <Transactions transactions={transactions} current={operationId} />}
      {proposal.possible && proposal.mayPropose && !open && (
        <div className="space-y-1">
          <button
            type="button"
            className="btn-secondary"
            onClick={() => setOpen(true)}
            data-testid="speed-up"
          >
            Speed up
          </button>
          <p className="text-xs text-slate-600">
            Stuck? Propose the same transaction (same nonce, destination and amount) with higher fees. It is
            an operation of its own that the approvers approve; only one of the two can ever be mined.
          </p>
        </div>
      )}
      {proposal.possible && proposal.mayPropose && open && (
        <SpeedUpForm
          withdrawalOperationId={data.withdrawalOperationId}
          proposal={proposal}
          onClose={() => setOpen(false)}
        />
      )}
    </div>
  );
}

type Proposal = Extract<NonNullable<ReturnType<typeof useSpeedUps>["data"]>["proposal"], { possible: true }>;

function SpeedUpForm({
  withdrawalOperationId,
  proposal,
  onClose,
}: {
  withdrawalOperationId: string;
  proposal: Proposal;
  onClose: () => void;
}) {
  const trpc = useTRPC();
  const router = useRouter();
  const propose = useMutation(trpc.operations.propose.mutationOptions());
  const [errors, setErrors] = useState<Partial<Record<Field, string>>>({});
  const [error, setError] = useState<string | null>(null);

  async function onSubmit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const text = (name: string) => String(form.get(name) ?? "").trim();
    const parsed = speedUpInputSchema.safeParse({
      withdrawalOperationId,
      maxFeePerGas: text("maxFeePerGas"),
      maxPriorityFeePerGas: text("maxPriorityFeePerGas"),
      feeCap: text("feeCap"),
      ...(text("note") !== "" ? { note: text("note") } : {}),
    });
    setError(null);
    if (!parsed.success) {
      const next: Partial<Record<Field, string>> = {};
      for (const issue of parsed.error.issues) {
        const field = issue.path[0];
        if (isField(field) && !next[field]) next[field] = issue.message;
      }
      setErrors(next);
      return;
    }
    setErrors({});
    try {
      const op = await propose.mutateAsync({ kind: SPEEDUP_KIND, payload: parsed.data });
      router.push(`/operations/${op.id}`);
    } catch (err) {
      setError(`The speed-up was not proposed. ${describeError(err)}`);
    }
  }

  const input = (field: Field, label: string, unit: string, value: string, hint: string) => (
    <div className="space-y-1">
      <label htmlFor={field} className="label">
        {label} ({unit})
      </label>
      <input
        id={field}
        name={field}
        className="input w-full"
        inputMode="decimal"
        defaultValue={value}
        aria-invalid={errors[field] ? true : undefined}
        aria-describedby={`${field}-hint`}
      />
      <p id={`${field}-hint`} className="text-xs text-slate-600">
        {hint}
      </p>
      {errors[field] && <p className="text-sm text-red-800">{errors[field]}</p>}
    </div>
  );

  return (
    <form className="space-y-3" onSubmit={onSubmit} noValidate data-testid="speed-up-form">
      <h3 className="font-medium">Speed up this withdrawal</h3>
      <dl className="grid grid-cols-[max-content_1fr] gap-x-6 gap-y-1 text-sm">
        <dt className="text-slate-500">Replaces</dt>
        <dd className="font-mono break-all">{proposal.replaces.txid}</dd>
        <dt className="text-slate-500">Its fees</dt>
        <dd>{proposal.replaces.fees}</dd>
        <dt className="text-slate-500">Fee estimate now</dt>
        <dd data-testid="speed-up-estimate">{proposal.estimate}</dd>
        <dt className="text-slate-500">Gas limit</dt>
        <dd>{proposal.gasLimit} (unchanged)</dd>
      </dl>
      {input(
        "maxFeePerGas",
        "Max fee per gas",
        "gwei",
        proposal.suggested.maxFeePerGas,
        `At least ${proposal.least.maxFeePerGas} gwei (10% above the transaction it replaces), and above the base fee.`,
      )}
      {input(
        "maxPriorityFeePerGas",
        "Priority fee per gas",
        "gwei",
        proposal.suggested.maxPriorityFeePerGas,
        `At least ${proposal.least.maxPriorityFeePerGas} gwei.`,
      )}
      {input(
        "feeCap",
        "Fee at most",
        "ETH",
        proposal.suggested.feeCap,
        "The approved cap: at least the gas limit × the max fee. The executor refuses to sign above it.",
      )}
      <div className="space-y-1">
        <label htmlFor="note" className="label">
          Note (optional)
        </label>
        <input id="note" name="note" className="input w-full" maxLength={500} />
      </div>
      <FormError message={error} />
      <div className="flex gap-3">
        <button type="submit" className="btn-primary" disabled={propose.isPending}>
          Propose the speed-up
        </button>
        <button type="button" className="btn-secondary" onClick={onClose}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function Transactions({
  transactions,
  current,
}: {
  transactions: NonNullable<ReturnType<typeof useSpeedUps>["data"]>["transactions"];
  current: string;
}) {
  return (
    <div className="space-y-1">
      <p className="text-sm font-medium">Transactions with nonce {transactions[0]?.nonce ?? "?"}</p>
      <ul className="space-y-1 text-sm" data-testid="speed-up-transactions">
        {transactions.map((t) => (
          <li key={t.operationId}>
            {t.operationId === current ? (
              <strong>{t.speedUp ? "This speed-up" : "The original"}</strong>
            ) : (
              <Link className="underline" href={`/operations/${t.operationId}`}>
                {t.speedUp ? "Speed-up" : "The original"}
              </Link>
            )}
            {": "}
            {t.state === null
              ? `operation ${t.operationState}, no transaction yet`
              : (STATE_WORDS[t.state] ?? t.state)}
            {t.fees && ` · ${t.fees}`}
            {t.txid && (
              <>
                {" · "}
                <code className="font-mono break-all">{t.txid}</code>
              </>
            )}
          </li>
        ))}
      </ul>
    </div>
  );
}

/** A speed-up's own page: "The transaction" of its replacement. */
export function SpeedUpTransactionSection({ operationId }: { operationId: string }) {
  const view = useSpeedUps(operationId, SPEEDUP_KIND);
  const own = view.data?.transactions.find((t) => t.operationId === operationId);
  return (
    <section className="card space-y-3" aria-labelledby="transaction">
      <h2 id="transaction" className="text-lg font-medium">
        The transaction
      </h2>
      <FormError message={view.error ? describeError(view.error) : null} />
      {view.data && (
        <p className="text-sm">
          Replaces the transaction of{" "}
          <Link className="underline" href={`/operations/${view.data.withdrawalOperationId}`}>
            the withdrawal
          </Link>{" "}
          with the same nonce; only one of them can ever be mined.
        </p>
      )}
      {view.data && (own?.state ?? null) === null && (
        <p className="text-sm text-slate-600">
          Not built yet. Once approved, Keyward rebuilds the withdrawal&apos;s own transaction with these
          fees, decodes it back and signs only if nothing else changed.
        </p>
      )}
      {own?.state && (
        <>
          <p className="text-sm font-medium" data-testid="withdrawal-state">
            {STATE_WORDS[own.state] ?? own.state}
            {own.state === "broadcast" && ` (${own.confirmations} so far)`}
            {own.state === "confirmed" && ` (${own.confirmations} confirmations)`}
          </p>
          {own.reason && <p className="text-sm text-red-800">{own.reason}</p>}
          {own.txid && (
            <p className="text-sm">
              Transaction hash:{" "}
              <code className="font-mono break-all" data-testid="withdrawal-txid">
                {own.txid}
              </code>
            </p>
          )}
          <dl
            className="grid grid-cols-[max-content_1fr] gap-x-6 gap-y-2 text-sm"
            data-testid="withdrawal-decoded"
          >
            {view.data?.lines.map((line) => (
              <div key={`${line.label}${line.value}`} className="contents">
                <dt className="text-slate-500">{line.label}</dt>
                <dd className="font-medium break-all">{line.value}</dd>
              </div>
            ))}
          </dl>
          <p className="text-xs text-slate-500">Decoded from the very bytes the HSM signs.</p>
        </>
      )}
      {view.data && view.data.transactions.length > 1 && (
        <Transactions transactions={view.data.transactions} current={operationId} />
      )}
    </section>
  );
}
