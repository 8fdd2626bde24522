"use client";
// The withdrawal proposal: chain, the key that pays (its address shown), asset, amount in the asset's units, the
// destination, the fee cap in the chain's coin with the chain's current estimate beside it, and for Bitcoin the
// wallet backend's unsigned PSBT (uploaded as a file or pasted), decoded here before proposing; for Ethereum and
// Solana optionally the backend's unsigned transaction (imported: its exact bytes are approved, shown decoded on the
// operation page). Checked with the kind's own schema, then by the server (which checks everything again, decodes
// an imported transaction against the other fields, and creates nothing on a refusal).
import { useMutation, useQuery } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { type ChangeEvent, type FormEvent, useState } from "react";
import { CHAINS, type Chain } from "@/server/custody/types";
import { withdrawalInputSchema } from "@/server/operations/kinds/withdrawal-schema";
import { FormError } from "../../_components/form-error";
import { describeError } from "../../_components/token-ceremony";
import { useTRPC } from "../../_trpc/client";

const CHAIN_LABELS: Record<Chain, string> = { bitcoin: "Bitcoin", ethereum: "Ethereum", solana: "Solana" };
const NATIVE: Record<Chain, string> = { bitcoin: "BTC", ethereum: "ETH", solana: "SOL" };
const CURVE_OF: Record<Chain, string> = { bitcoin: "secp256k1", ethereum: "secp256k1", solana: "ed25519" };

type Field =
  | "keyId"
  | "asset"
  | "amount"
  | "destination"
  | "feeCap"
  | "psbt"
  | "unsignedTransaction"
  | "note";
type FieldErrors = Partial<Record<Field, string>>;
const FIELDS: readonly Field[] = [
  "keyId",
  "asset",
  "amount",
  "destination",
  "feeCap",
  "psbt",
  "unsignedTransaction",
  "note",
];
const isField = (f: unknown): f is Field => FIELDS.some((x) => x === f);

/** A PSBT file as base64: wallets write it as base64 text or as raw bytes (magic "psbt\xff"). */
async function psbtOfFile(file: File): Promise<string> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  const magic = [0x70, 0x73, 0x62, 0x74, 0xff];
  if (magic.every((b, i) => bytes[i] === b)) {
    let binary = "";
    for (const b of bytes) binary += String.fromCharCode(b);
    return btoa(binary);
  }
  return new TextDecoder().decode(bytes).trim();
}

export function ProposeWithdrawalForm() {
  const trpc = useTRPC();
  const router = useRouter();
  const options = useQuery(trpc.withdrawals.formOptions.queryOptions());
  const propose = useMutation(trpc.withdrawals.propose.mutationOptions());
  const preview = useMutation(trpc.withdrawals.previewPsbt.mutationOptions());
  const importPreview = useMutation(trpc.withdrawals.previewImported.mutationOptions());
  const [chain, setChain] = useState<Chain>("ethereum");
  const [asset, setAsset] = useState<string>("ETH");
  const [keyId, setKeyId] = useState<string>("");
  const [psbt, setPsbt] = useState<string>("");
  const [unsignedTransaction, setUnsignedTransaction] = useState<string>("");
  const [errors, setErrors] = useState<FieldErrors>({});
  const [error, setError] = useState<string | null>(null);
  const estimate = useQuery({
    ...trpc.withdrawals.estimate.queryOptions({ chain, asset }),
    enabled: asset !== "",
    refetchInterval: 15_000,
  });

  const assets = options.data?.assets.filter((a) => a.chain === chain) ?? [];
  const keys = options.data?.keys.filter((k) => k.curve === CURVE_OF[chain]) ?? [];
  const chosenKey = keys.find((k) => k.id === keyId);
  const from = chosenKey?.addresses.find((a) => a.chain === chain)?.address;

  function onChain(e: ChangeEvent<HTMLSelectElement>) {
    const next = CHAINS.find((c) => c === e.target.value) ?? "ethereum";
    setChain(next);
    setAsset(NATIVE[next]);
    setKeyId("");
    setUnsignedTransaction("");
    setErrors({});
    preview.reset();
    importPreview.reset();
  }

  async function onPsbtFile(e: ChangeEvent<HTMLInputElement>) {
    const file = e.target.files?.[0];
    if (!file) return;
    const text = await psbtOfFile(file);
    setPsbt(text);
    if (keyId) preview.mutate({ keyId, psbt: text });
  }

  async function onSubmit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const text = (name: string) => String(form.get(name) ?? "").trim();
    const input = {
      keyId,
      chain,
      asset,
      amount: text("amount"),
      destination: text("destination"),
      feeCap: text("feeCap"),
      ...(chain === "bitcoin" && psbt !== "" ? { psbt } : {}),
      ...(chain !== "bitcoin" && unsignedTransaction !== "" ? { unsignedTransaction } : {}),
      ...(text("note") !== "" ? { note: text("note") } : {}),
    };
    setError(null);
    const parsed = withdrawalInputSchema.safeParse(input);
    if (!parsed.success) {
      const next: FieldErrors = {};
      for (const issue of parsed.error.issues) {
        const field = issue.path[0];
        if (isField(field) && !next[field]) next[field] = issue.message;
      }
      setErrors(next);
      return;
    }
    setErrors({});
    try {
      const op = await propose.mutateAsync(parsed.data);
      router.push(`/operations/${op.operationId}`);
    } catch (err) {
      setError(`The withdrawal was not proposed. ${describeError(err)}`);
    }
  }

  const fieldError = (field: Field) =>
    errors[field] ? (
      <p id={`${field}-error`} className="text-sm text-red-800">
        {errors[field]}
      </p>
    ) : null;

  if (options.error) return <FormError message={describeError(options.error)} />;
  if (!options.data) return <p className="text-sm text-slate-600">Loading keys and assets…</p>;
  const hasNode = options.data.nodes[chain];

  return (
    <form
      className="card max-w-2xl space-y-4"
      onSubmit={onSubmit}
      noValidate
      aria-label="Propose a withdrawal"
    >
      <FormError message={error} />
      <div className="space-y-1">
        <label htmlFor="chain" className="label">
          Chain
        </label>
        <select id="chain" className="input" value={chain} onChange={onChain}>
          {CHAINS.map((c) => (
            <option key={c} value={c}>
              {CHAIN_LABELS[c]} (
              {c === "ethereum" ? `chain id ${options.data.networks[c]}` : options.data.networks[c]})
            </option>
          ))}
        </select>
        {!hasNode && chain !== "bitcoin" && (
          <p className="text-xs text-amber-800">
            No {CHAIN_LABELS[chain]} node is configured: balances are not checked and the signed transaction
            will be offered as a download for you to broadcast.
          </p>
        )}
      </div>

      <div className="space-y-1">
        <label htmlFor="keyId" className="label">
          From key
        </label>
        <select
          id="keyId"
          className="input w-full"
          value={keyId}
          onChange={(e) => {
            setKeyId(e.target.value);
            if (psbt !== "" && e.target.value) preview.mutate({ keyId: e.target.value, psbt });
          }}
          aria-describedby={errors.keyId ? "keyId-error" : undefined}
        >
          <option value="">choose an active {CURVE_OF[chain]} key</option>
          {keys.map((k) => (
            <option key={k.id} value={k.id}>
              {k.label}
            </option>
          ))}
        </select>
        {from && (
          <p className="text-xs text-slate-600">
            Pays from <code className="font-mono break-all">{from}</code>
          </p>
        )}
        {fieldError("keyId")}
      </div>

      <div className="grid grid-cols-2 gap-4">
        <div className="space-y-1">
          <label htmlFor="asset" className="label">
            Asset
          </label>
          <select
            id="asset"
            className="input w-full"
            value={asset}
            onChange={(e) => setAsset(e.target.value)}
          >
            {assets.map((a) => (
              <option key={a.symbol} value={a.symbol}>
                {a.symbol} — {a.name} ({a.decimals} decimals)
              </option>
            ))}
          </select>
          {fieldError("asset")}
        </div>
        <div className="space-y-1">
          <label htmlFor="amount" className="label">
            Amount ({asset})
          </label>
          <input id="amount" name="amount" className="input w-full" inputMode="decimal" placeholder="1.25" />
          {fieldError("amount")}
        </div>
      </div>

      <div className="space-y-1">
        <label htmlFor="destination" className="label">
          Destination address
        </label>
        <input id="destination" name="destination" className="input w-full font-mono" autoComplete="off" />
        <p className="text-xs text-slate-500">
          Checked for its checksum and network (
          {chain === "ethereum" ? "EIP-55" : chain === "bitcoin" ? "bech32" : "base58, a wallet"}).
        </p>
        {fieldError("destination")}
      </div>

      <div className="space-y-1">
        <label htmlFor="feeCap" className="label">
          Fee at most ({NATIVE[chain]})
        </label>
        <input id="feeCap" name="feeCap" className="input w-48" inputMode="decimal" placeholder="0.001" />
        <p className="text-xs text-slate-600" data-testid="fee-estimate">
          Current estimate:{" "}
          {estimate.data ? estimate.data.words : estimate.error ? describeError(estimate.error) : "…"}
        </p>
        {fieldError("feeCap")}
      </div>

      {chain === "bitcoin" && (
        <div className="space-y-1">
          <label htmlFor="psbt" className="label">
            Unsigned PSBT from the wallet backend
          </label>
          <input
            id="psbt"
            type="file"
            accept=".psbt,.txt,application/octet-stream,text/plain"
            onChange={onPsbtFile}
          />
          <textarea
            aria-label="PSBT (base64)"
            className="input h-24 w-full font-mono text-xs"
            placeholder="or paste it as base64"
            value={psbt}
            onChange={(e) => setPsbt(e.target.value.trim())}
            onBlur={() => keyId && psbt && preview.mutate({ keyId, psbt })}
          />
          {preview.data?.ok === false && <p className="text-sm text-red-800">{preview.data.reason}</p>}
          {preview.data?.ok === true && (
            <dl
              className="grid grid-cols-[max-content_1fr] gap-x-4 gap-y-1 text-xs"
              data-testid="psbt-preview"
            >
              {preview.data.lines.map((l) => (
                <div key={`${l.label}${l.value}`} className="contents">
                  <dt className="text-slate-500">{l.label}</dt>
                  <dd className="break-all">{l.value}</dd>
                </div>
              ))}
            </dl>
          )}
          {fieldError("psbt")}
        </div>
      )}

      {chain !== "bitcoin" && (
        <div className="space-y-1">
          <label htmlFor="unsignedTransaction" className="label">
            Import unsigned transaction (optional)
          </label>
          <textarea
            id="unsignedTransaction"
            name="unsignedTransaction"
            className="input h-24 w-full font-mono text-xs"
            placeholder={
              chain === "ethereum"
                ? "0x02… an EIP-1559 transaction from the wallet backend, as hex"
                : "the unsigned transaction or its message from the wallet backend, as base64"
            }
            value={unsignedTransaction}
            onChange={(e) => {
              setUnsignedTransaction(e.target.value.trim());
              importPreview.reset();
            }}
            onBlur={() => {
              if (keyId && unsignedTransaction) importPreview.mutate({ keyId, chain, unsignedTransaction });
            }}
            aria-describedby={
              errors.unsignedTransaction ? "unsignedTransaction-error" : "unsignedTransaction-help"
            }
          />
          <p id="unsignedTransaction-help" className="text-xs text-slate-500">
            Leave empty for Keyward to build the transaction at execution. An imported one must do exactly
            what the fields above say, from this key
            {chain === "ethereum"
              ? ", on this chain id, with gas limit × max fee within the fee cap, and its nonce must be the key's next one when it executes"
              : " as fee payer, within the fee cap, and its blockhash must still be valid when it executes"}
            ; approvers approve its exact bytes, shown decoded — as below once you leave the box.
          </p>
          {importPreview.data?.ok === false && (
            <p className="text-sm text-red-800" data-testid="import-preview-error">
              {importPreview.data.reason}
            </p>
          )}
          {importPreview.error && (
            <p className="text-sm text-red-800" data-testid="import-preview-error">
              {describeError(importPreview.error)}
            </p>
          )}
          {importPreview.data?.ok === true && (
            <dl
              className="grid grid-cols-[max-content_1fr] gap-x-4 gap-y-1 text-xs"
              data-testid="import-preview"
            >
              {importPreview.data.lines.map((l) => (
                <div key={`${l.label}${l.value}`} className="contents">
                  <dt className="text-slate-500">{l.label}</dt>
                  <dd className="break-all">{l.value}</dd>
                </div>
              ))}
            </dl>
          )}
          {fieldError("unsignedTransaction")}
        </div>
      )}

      <div className="space-y-1">
        <label htmlFor="note" className="label">
          Note for the approvers (optional)
        </label>
        <input id="note" name="note" className="input w-full" maxLength={500} />
        {fieldError("note")}
      </div>

      <button type="submit" className="btn-primary" disabled={propose.isPending}>
        {propose.isPending ? "Proposing…" : "Propose the withdrawal"}
      </button>
    </form>
  );
}
