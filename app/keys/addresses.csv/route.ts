// GET /keys/addresses.csv?search=&curve=&state=&tag=: the deposit addresses of the keys the keys list's filters
// select, as CSV (server/custody/address-export.ts), streamed. Every member may read keys, so every signed-in
// member may export; without a live session it answers 401 and writes nothing.
import { filtersFrom } from "@/app/keys/filters";
import { currentSession } from "@/server/auth/next-auth";
import { chainConfig } from "@/server/chains/current";
import { addressCsvStream } from "@/server/custody/address-export";
import { database } from "@/server/db";

export const dynamic = "force-dynamic";

export async function GET(request: Request): Promise<Response> {
  const session = await currentSession();
  if (session === null) return new Response("Sign in to export addresses.\n", { status: 401 });
  const params = new URL(request.url).searchParams;
  const filters = filtersFrom({
    search: params.get("search") ?? undefined,
    curve: params.get("curve") ?? undefined,
    state: params.get("state") ?? undefined,
    tag: params.get("tag") ?? undefined,
  });
  const { db } = await database();
  const day = new Date().toISOString().slice(0, 10);
  return new Response(addressCsvStream(db, { filters, networks: chainConfig().networks }), {
    headers: {
      "content-type": "text/csv; charset=utf-8",
      "content-disposition": `attachment; filename="keyward-addresses-${day}.csv"`,
      "cache-control": "no-store",
    },
  });
}
