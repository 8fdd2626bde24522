"use client";
// The custody keys, a page at a time from the server, searchable by label, tag or public key and filtered
// by curve, state and tag. Live: keys.onList pushes the page again whenever a key changes, so a key made or
// moved on by the executor appears on its own.
import { keepPreviousData, useQuery, useQueryClient } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import Link from "next/link";
import { type FormEvent, useState } from "react";
import { KEY_STATES } from "@/db/schema/operations";
import { KEY_CURVES } from "@/server/operations/kinds/key-create";
import { FormError } from "../_components/form-error";
import { describeError } from "../_components/token-ceremony";
import { useTRPC } from "../_trpc/client";
import { KeyStateBadge, utc } from "../operations/badges";
import { LiveIndicator } from "../operations/live";
import { type Filters, isCurve, isState } from "./filters";

const PAGE_SIZE = 50;

export function KeyList({ initial = {} }: { initial?: Filters }) {
  const trpc = useTRPC();
  const [filters, setFilters] = useState<Filters>(initial);
  const [page, setPage] = useState(1);
  const queryClient = useQueryClient();
  const input = { ...filters, page, pageSize: PAGE_SIZE };
  const list = useQuery({ ...trpc.keys.list.queryOptions(input), placeholderData: keepPreviousData });
  const live = useSubscription(
    trpc.keys.onList.subscriptionOptions(input, {
      onData: (snapshot) => queryClient.setQueryData(trpc.keys.list.queryKey(input), snapshot.data),
    }),
  );

  function onFilter(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const text = (name: string) => String(form.get(name) ?? "").trim();
    const curve = text("curve");
    const state = text("state");
    setFilters({
      search: text("search") || undefined,
      curve: isCurve(curve) ? curve : undefined,
      state: isState(state) ? state : undefined,
      tag: text("tag") || undefined,
    });
    setPage(1);
  }

  return (
    <div className="space-y-4">
      <form className="flex flex-wrap items-end gap-3" onSubmit={onFilter} aria-label="Find keys">
        <div className="space-y-1">
          <label htmlFor="search" className="label">
            Search
          </label>
          <input
            id="search"
            name="search"
            className="input w-64"
            placeholder="label, tag or public key"
            defaultValue={initial.search ?? ""}
          />
        </div>
        <div className="space-y-1">
          <label htmlFor="curve" className="label">
            Curve
          </label>
          <select id="curve" name="curve" className="input" defaultValue={initial.curve ?? ""}>
            <option value="">any</option>
            {KEY_CURVES.map((c) => (
              <option key={c}>{c}</option>
            ))}
          </select>
        </div>
        <div className="space-y-1">
          <label htmlFor="state" className="label">
            State
          </label>
          <select id="state" name="state" className="input" defaultValue={initial.state ?? ""}>
            <option value="">any</option>
            {KEY_STATES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </div>
        <div className="space-y-1">
          <label htmlFor="tag" className="label">
            Tag
          </label>
          <input id="tag" name="tag" className="input w-32" defaultValue={initial.tag ?? ""} />
        </div>
        <button type="submit" className="btn-secondary">
          Find
        </button>
        <span className="ml-auto self-center">
          <LiveIndicator subscriptions={[live]} />
        </span>
      </form>
      <FormError message={list.error ? describeError(list.error) : null} />
      {list.data && (
        <>
          <p className="text-sm text-slate-600">
            <span data-testid="keys-total">
              {list.data.total} {list.data.total === 1 ? "key" : "keys"}
              {list.data.pages > 1 && ` · page ${list.data.page} of ${list.data.pages}`}
            </span>
            {" · "}
            <a
              className="underline"
              href={`/keys/addresses.csv?${new URLSearchParams(
                Object.entries(filters).filter((e): e is [string, string] => typeof e[1] === "string"),
              )}`}
              download
            >
              Export deposit addresses (CSV) of these keys
            </a>
          </p>
          {list.data.keys.length > 0 && (
            <div className="overflow-x-auto rounded-lg border border-slate-200 bg-white px-4">
              <table className="w-full text-left text-sm">
                <thead className="text-slate-500">
                  <tr>
                    <th className="py-2 pr-3 font-medium">Label</th>
                    <th className="py-2 pr-3 font-medium">State</th>
                    <th className="py-2 pr-3 font-medium">Curve</th>
                    <th className="py-2 pr-3 font-medium">Tags</th>
                    <th className="py-2 pr-3 font-medium">Public key</th>
                    <th className="py-2 font-medium">Created</th>
                  </tr>
                </thead>
                <tbody>
                  {list.data.keys.map((k) => (
                    <tr key={k.id} className="border-t border-slate-200" data-testid="key-row">
                      <td className="py-2 pr-3">
                        <Link href={`/keys/${k.id}`} className="font-medium text-indigo-800 hover:underline">
                          {k.label}
                        </Link>
                      </td>
                      <td className="py-2 pr-3">
                        <KeyStateBadge state={k.state} />
                      </td>
                      <td className="py-2 pr-3">{k.curve}</td>
                      <td className="py-2 pr-3">{k.tags.join(", ") || "—"}</td>
                      <td className="py-2 pr-3 font-mono text-xs">{k.publicKey.slice(0, 16)}…</td>
                      <td className="py-2">{utc(k.createdAt)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          {list.data.pages > 1 && (
            <div className="flex gap-2">
              <button
                type="button"
                className="btn-secondary"
                disabled={page <= 1}
                onClick={() => setPage(page - 1)}
              >
                Previous
              </button>
              <button
                type="button"
                className="btn-secondary"
                disabled={page >= list.data.pages}
                onClick={() => setPage(page + 1)}
              >
                Next
              </button>
            </div>
          )}
        </>
      )}
    </div>
  );
}
