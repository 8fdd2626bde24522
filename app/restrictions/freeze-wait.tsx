"use client";
// On an operation's page, once it is approved: that the HSM carries it out now, or why it waits (signing is
// frozen) — never both, so the page cannot say "within seconds" while nothing will run. The freeze in force is
// the one the banner's stream keeps live (useRestrictionStatus): a freeze lifted elsewhere ends the wait at once.
import Link from "next/link";
import { useRestrictionStatus } from "../_components/restrictions-banner";

import { RUNS_WHILE_FROZEN } from "@/server/operations/kinds/signing-unfreeze";

export function FreezeWait({ state, kind }: { state: string; kind: string }) {
  const waiting = state === "approved" && !RUNS_WHILE_FROZEN.includes(kind);
  const status = useRestrictionStatus({ enabled: waiting });
  const freeze = status.data?.freeze;
  if (!waiting || !freeze) {
    if (state !== "approved" && state !== "executing") return null;
    // While the freeze status is still being read, say nothing rather than a promise that may be false.
    if (waiting && status.isPending) return null;
    return <p className="text-sm text-slate-700">Approved: the HSM carries it out within seconds.</p>;
  }
  return (
    <p
      className="rounded-md border border-red-300 bg-red-50 px-3 py-2 text-sm text-red-900"
      data-testid="freeze-wait"
    >
      <strong>Waiting: signing is frozen.</strong> This operation is approved and will be carried out as soon
      as the quorum lifts the freeze ({freeze.frozenBy.name} froze signing). Nothing is signed meanwhile.{" "}
      <Link href="/restrictions#lift" className="font-medium underline">
        Lifting the freeze
      </Link>
    </p>
  );
}
