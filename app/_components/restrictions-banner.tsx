"use client";
// Restrictions in force, on every page of a signed-in person: a freeze of all signing (since when, by whom, why,
// and where to propose lifting it) and how many keys are suspended. Live: restrictions.onStatus pushes them again
// whenever signing is frozen or the freeze is lifted, and whenever a key is suspended or resumed (server/live/),
// so a freeze made anywhere shows up on every open page, in every tab, without a reload. The layout renders this
// banner on every page of a signed-in person, so it is the one stream per page that keeps the
// restrictions.status query live: the restrictions page and an operation's "waiting for the freeze" line read
// that same query (useRestrictionStatus) and open no stream of their own.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import Link from "next/link";
import { useTRPC } from "../_trpc/client";

const utc = (at: Date) => `${at.toISOString().replace("T", " ").slice(0, 19)} UTC`;

/** The restrictions in force, as restrictions.status answers them and the banner's stream keeps them. */
export function useRestrictionStatus(options: { enabled?: boolean } = {}) {
  const trpc = useTRPC();
  return useQuery({ ...trpc.restrictions.status.queryOptions(), enabled: options.enabled ?? true });
}

export function RestrictionsBanner() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const status = useRestrictionStatus();
  useSubscription(
    trpc.restrictions.onStatus.subscriptionOptions(undefined, {
      onData: ({ data }) => queryClient.setQueryData(trpc.restrictions.status.queryKey(), data),
    }),
  );
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
