"use client";
// Restrictions in force, on every page of a signed-in person: a freeze of all signing (since when, by whom, why,
// and where to propose lifting it) and how many keys are suspended. Refreshed every few seconds, so a freeze
// made elsewhere shows up on an open page without a reload.
import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useTRPC } from "../_trpc/client";

const REFRESH_MS = 3_000;
const utc = (at: Date) => `${at.toISOString().replace("T", " ").slice(0, 19)} UTC`;

export function RestrictionsBanner() {
  const trpc = useTRPC();
  const status = useQuery({ ...trpc.restrictions.status.queryOptions(), refetchInterval: REFRESH_MS });
  const data = status.data;
  if (!data || (data.freeze === null && data.suspendedKeys === 0)) return null;
  const { freeze, suspendedKeys } = data;
  return (
    <div className="mb-6 space-y-2" data-testid="restrictions-banner">
      {freeze && (
        <div
          role="note"
          aria-label="Signing is frozen"
          className="rounded-md border border-red-300 bg-red-50 px-4 py-3 text-sm text-red-900"
          data-testid="freeze-banner"
        >
          <strong>
            Signing is frozen since {utc(freeze.frozenAt)} by {freeze.frozenBy.name}: no operation is carried
            out until the quorum lifts it.
          </strong>
          {freeze.reason && <span> Reason: “{freeze.reason}”.</span>}{" "}
          <Link href="/restrictions#lift" className="font-medium underline">
            Propose lifting
          </Link>
        </div>
      )}
      {suspendedKeys > 0 && (
        <p
          className="rounded-md border border-amber-300 bg-amber-50 px-4 py-2 text-sm text-amber-900"
          data-testid="suspended-keys-banner"
        >
          <Link href="/keys?state=suspended" className="font-medium underline">
            {suspendedKeys === 1 ? "1 key suspended" : `${suspendedKeys} keys suspended`}
          </Link>
          : they sign nothing until the quorum resumes them.
        </p>
      )}
    </div>
  );
}
