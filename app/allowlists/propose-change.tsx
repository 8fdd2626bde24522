"use client";
// Proposing an allow-list change: the list's name, the chain, addresses to add (one a line, "address label"
// optional) and addresses to remove. Validated here with the kind's own input schema; the server then checks
// every address with its chain's rules (checksum, network) and against the list as it is now, and names the
// line it refuses. On success the operation's page opens, where approvers read the change and vote.
import { useMutation } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { type FormEvent, useState } from "react";
import {
  ALLOWLIST_UPDATE_KIND,
  allowlistUpdateInputSchema,
} from "@/server/operations/kinds/allowlist-schema";
import { FormError } from "../_components/form-error";
import { describeError } from "../_components/token-ceremony";
import { useTRPC } from "../_trpc/client";

const lines = (text: string) =>
  text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");

/** "address label words" → { address, label }: the address is the first word, the rest its label. */
function entryOf(line: string) {
  const [address = "", ...rest] = line.split(/\s+/);
  const label = rest.join(" ").trim();
  return label === "" ? { address } : { address, label };
}

export function ProposeAllowlistChange({ lists }: { lists: string[] }) {
  const trpc = useTRPC();
  const router = useRouter();
  const propose = useMutation(trpc.operations.propose.mutationOptions());
  const [error, setError] = useState<string | null>(null);

  async function onSubmit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    setError(null);
    const form = new FormData(e.currentTarget);
    const input = {
      list: String(form.get("list") ?? "").trim(),
      chain: String(form.get("chain") ?? ""),
      add: lines(String(form.get("add") ?? "")).map(entryOf),
      remove: lines(String(form.get("remove") ?? "")),
    };
    const parsed = allowlistUpdateInputSchema.safeParse(input);
    if (!parsed.success) {
      setError(parsed.error.issues.map((i) => `${i.path.join(".") || "change"}: ${i.message}`).join("; "));
      return;
    }
    try {
      const op = await propose.mutateAsync({ kind: ALLOWLIST_UPDATE_KIND, payload: parsed.data });
      router.push(`/operations/${op.id}`);
    } catch (err) {
      setError(`The change was not proposed. ${describeError(err)}`);
    }
  }

  return (
    <form
      className="card max-w-2xl space-y-4"
      onSubmit={onSubmit}
      noValidate
      aria-label="Propose an allow-list change"
    >
      <h2 className="text-lg font-semibold">Propose a change</h2>
      <FormError message={error} />
      <label className="block space-y-1">
        <span className="label">List</span>
        <input className="input" name="list" list="allowlist-names" placeholder="exchange-hot" required />
        <datalist id="allowlist-names">
          {lists.map((l) => (
            <option key={l} value={l} />
          ))}
        </datalist>
        <span className="block text-sm text-slate-600">
          Lower-case letters, digits and dashes; a new name starts a new list.
        </span>
      </label>
      <label className="block space-y-1">
        <span className="label">Chain</span>
        <select className="input" name="chain" defaultValue="ethereum">
          <option value="bitcoin">Bitcoin</option>
          <option value="ethereum">Ethereum</option>
          <option value="solana">Solana</option>
        </select>
      </label>
      <label className="block space-y-1">
        <span className="label">Add (one a line: the address, then an optional label)</span>
        <textarea
          className="input font-mono"
          name="add"
          rows={4}
          placeholder="0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf Kraken deposit"
        />
      </label>
      <label className="block space-y-1">
        <span className="label">Remove (one address a line)</span>
        <textarea className="input font-mono" name="remove" rows={2} />
      </label>
      <button type="submit" className="btn-primary" disabled={propose.isPending}>
        {propose.isPending ? "Proposing…" : "Propose this change"}
      </button>
    </form>
  );
}
