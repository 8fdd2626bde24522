"use client";
// On an operation's page: why an approved operation is not carried out yet while signing is frozen.
import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useTRPC } from "../_trpc/client";

/** The one kind the executor still carries out while frozen (server/operations/kinds/signing-unfreeze.ts). */
const LIFTS_THE_FREEZE = "signing.unfreeze";

export function FreezeWait({ state, kind }: { state: string; kind: string }) {
  const trpc = useTRPC();
  const waiting = state === "approved" && kind !== LIFTS_THE_FREEZE;
  const status = useQuery({
    ...trpc.restrictions.status.queryOptions(),
    enabled: waiting,
    refetchInterval: 3_000,
  });
  const freeze = status.data?.freeze;
  if (!waiting || !freeze) return null;
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
