// The keys list's filters, read from the form or from the address (/keys?state=suspended, as the
// restrictions banner links). Not a client module, so the page (a server component) can call it too.
import { KEY_STATES, type KeyState } from "@/db/schema/operations";
import { KEY_CURVES, type KeyCurve } from "@/server/operations/kinds/key-create";

export type Filters = { search?: string; curve?: KeyCurve; state?: KeyState; tag?: string };

export const isCurve = (v: string): v is KeyCurve => KEY_CURVES.some((c) => c === v);
export const isState = (v: string): v is KeyState => KEY_STATES.some((s) => s === v);

/** Filters from the address (/keys?state=suspended, as the restrictions banner links), checked like the form's. */
export function filtersFrom(params: {
  state?: string;
  tag?: string;
  curve?: string;
  search?: string;
}): Filters {
  return {
    search: params.search?.trim() || undefined,
    curve: params.curve && isCurve(params.curve) ? params.curve : undefined,
    state: params.state && isState(params.state) ? params.state : undefined,
    tag: params.tag?.trim() || undefined,
  };
}

/**
 * The keys list's address for these filters and a page (a cursor from the list, server/keys/key-cursor.ts), so a
 * page can be linked, reloaded and gone back to with its filters.
 */
export function keysHref(filters: Filters, cursor?: string): string {
  const params = new URLSearchParams(
    Object.entries(filters).filter((e): e is [string, string] => typeof e[1] === "string"),
  );
  if (cursor) params.set("cursor", cursor);
  const query = params.toString();
  return query ? `/keys?${query}` : "/keys";
}
