import Link from "next/link";
import { requirePageRole } from "../_components/require-role";
import { filtersFrom } from "./filters";
import { KeyList } from "./key-list";

type Params = { state?: string; tag?: string; curve?: string; search?: string };

export default async function KeysPage({
  searchParams,
}: {
  searchParams: Promise<Record<string, string | string[]>>;
}) {
  const { session } = await requirePageRole();
  const raw = await searchParams;
  const one = (name: keyof Params) => (typeof raw[name] === "string" ? raw[name] : undefined);
  const initial = filtersFrom({
    state: one("state"),
    tag: one("tag"),
    curve: one("curve"),
    search: one("search"),
  });
  const canPropose = session.member.roles.some((r) => r === "operator" || r === "admin");
  return (
    <div className="space-y-6">
      <div className="flex flex-wrap items-center gap-4">
        <h1 className="text-2xl font-semibold">Keys</h1>
        {canPropose && (
          <Link href="/keys/new" className="btn-primary ml-auto">
            Propose a new key
          </Link>
        )}
      </div>
      <KeyList initial={initial} />
    </div>
  );
}
