"use client";
// The custody keys, a page at a time from the server, searchable by label, tag or public key and filtered
// by curve, state and tag. The filters and the page are in the address (/keys?state=suspended&cursor=…), so a
// page can be linked and reloaded; pages follow one another by cursor (server/keys/key-cursor.ts): First,
// Previous, Next and Last, newest first. The matches are counted up to 10,000, a search's up to 2,000 ("more than
// 2,000 keys": server/keys/list-keys.ts, COUNT_AT_MOST).
// Live: keys.onList pushes the page again whenever a key changes, so a key made or moved on by the executor
// appears on its own.
import { keepPreviousData, useQuery, useQueryClient } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import Link from "next/link";
import { useSearchParams } from "next/navigation";
import type { FormEvent, MouseEvent, ReactNode } from "react";
import { KEY_STATES } from "@/db/schema/operations";
import { LAST_PAGE } from "@/server/keys/key-cursor";
import { KEY_CURVES } from "@/server/operations/kinds/key-create";
import { FormError } from "../_components/form-error";
import { describeError } from "../_components/token-ceremony";
import { useTRPC } from "../_trpc/client";
import { KeyStateBadge, utc } from "../operations/badges";
import { LiveIndicator } from "../operations/live";
import { type Filters, filtersFrom, isCurve, isState, keysHref } from "./filters";

const PAGE_SIZE = 50;

/**
 * Changes the address without asking the server for the page again (Next.js keeps useSearchParams in step with
 * history.pushState); the list then asks keys.list for the new page. A click with a modifier key, or a middle
 * click, opens the link as usual.
 */
function go(href: string) {
  window.history.pushState(null, "", href);
}

function PageLink({ href, children }: { href: string | null; children: ReactNode }) {
  if (!href)
    return (
      <span className="btn-secondary cursor-not-allowed opacity-50" aria-disabled="true">
        {children}
      </span>
    );
  const onClick = (e: MouseEvent<HTMLAnchorElement>) => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    go(href);
  };
  return (
    <a className="btn-secondary" href={href} onClick={onClick}>
      {children}
    </a>
  );
}

export function KeyList() {
  const trpc = useTRPC();
  const params = useSearchParams();
  const param = (name: string) => params.get(name) ?? undefined;
  const filters: Filters = filtersFrom({
    state: param("state"),
    tag: param("tag"),
    curve: param("curve"),
    search: param("search"),
  });
  const cursor = param("cursor");
  const queryClient = useQueryClient();
  const input = { ...filters, cursor, pageSize: PAGE_SIZE };
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
    // New filters start again at the first page.
    go(
      keysHref({
        search: text("search") || undefined,
        curve: isCurve(curve) ? curve : undefined,
        state: isState(state) ? state : undefined,
        tag: text("tag") || undefined,
      }),
    );
  }
  const data = list.data;

  return (
    <div className="space-y-4">
      {/* Keyed by the filters, so going back (or a link to /keys?state=…) shows the address's own. */}
      <form
        key={keysHref(filters)}
        className="flex flex-wrap items-end gap-3"
        onSubmit={onFilter}
        aria-label="Find keys"
      >
        <div className="space-y-1">
          <label htmlFor="search" className="label">
            Search
          </label>
          <input
            id="search"
            name="search"
            className="input w-64"
            placeholder="label, tag or public key"
            defaultValue={filters.search ?? ""}
          />
        </div>
        <div className="space-y-1">
          <label htmlFor="curve" className="label">
            Curve
          </label>
          <select id="curve" name="curve" className="input" defaultValue={filters.curve ?? ""}>
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
          <select id="state" name="state" className="input" defaultValue={filters.state ?? ""}>
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
          <input id="tag" name="tag" className="input w-32" defaultValue={filters.tag ?? ""} />
        </div>
        <button type="submit" className="btn-secondary">
          Find
        </button>
        <span className="ml-auto self-center">
          <LiveIndicator subscriptions={[live]} />
        </span>
      </form>
      <FormError message={list.error ? describeError(list.error) : null} />
      {list.error && cursor && (
        <p className="text-sm">
          <PageLink href={keysHref(filters)}>First page</PageLink>
        </p>
      )}
      {data && (
        <>
          <p className="text-sm text-slate-600">
            <span data-testid="keys-total">
              {data.totalCapped ? "more than " : ""}
              {data.total.toLocaleString("en-US")} {data.total === 1 && !data.totalCapped ? "key" : "keys"}
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
          {data.keys.length === 0 && data.total > 0 && (
            <p className="text-sm text-slate-600">
              No keys on this page: the list has changed since its link was made.
            </p>
          )}
          {data.keys.length > 0 && (
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
                  {data.keys.map((k) => (
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
          {(data.previousCursor !== null ||
            data.nextCursor !== null ||
            (cursor && data.keys.length === 0)) && (
            <nav className="flex gap-2" aria-label="Pages of keys">
              <PageLink href={cursor ? keysHref(filters) : null}>First</PageLink>
              <PageLink href={data.previousCursor && keysHref(filters, data.previousCursor)}>
                Previous
              </PageLink>
              <PageLink href={data.nextCursor && keysHref(filters, data.nextCursor)}>Next</PageLink>
              <PageLink href={data.nextCursor && keysHref(filters, LAST_PAGE)}>Last</PageLink>
            </nav>
          )}
        </>
      )}
    </div>
  );
}
