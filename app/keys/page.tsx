import Link from "next/link";
import { Suspense } from "react";
import { requirePageRole } from "../_components/require-role";
import { KeyList } from "./key-list";

export default async function KeysPage() {
  const { session } = await requirePageRole();
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
      {/* The list reads its filters and page from the address (useSearchParams). */}
      <Suspense>
        <KeyList />
      </Suspense>
    </div>
  );
}
