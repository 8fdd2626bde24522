"use client";
// Restrictions in force, on every page of a signed-in person: a freeze of all signing (since when, by whom, why,
// and where to propose lifting it) and how many keys are suspended. Live: restrictions.onStatus pushes them again
// whenever signing is frozen or the freeze is lifted, and whenever a key is suspended or resumed (server/live/),
// so a freeze made anywhere shows up on every open page, in every tab, without a reload.
// One stream per browser, not per tab: a browser holds at most six connections to one host over HTTP/1.1, and
// each open stream keeps one, so a stream in every tab would soon leave none for the pages' own requests. The tab
// holding the Web Lock below keeps the stream and hands each snapshot to the other tabs over a BroadcastChannel;
// when it closes, another tab takes the lock and opens the stream. The layout renders this banner on every page
// of a signed-in person, so it is also what keeps the restrictions.status query live for the restrictions page
// and an operation's "waiting for the freeze" line (useRestrictionStatus), which open no stream of their own.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import Link from "next/link";
import { useEffect, useRef, useState } from "react";
import { useTRPC } from "../_trpc/client";

const utc = (at: Date) => `${at.toISOString().replace("T", " ").slice(0, 19)} UTC`;

/** The name of both the lock that elects the tab holding the stream and the channel it speaks on. */
const STREAM = "keyward-restrictions-stream";

/** The restrictions in force, as restrictions.status answers them and the banner's stream keeps them. */
export function useRestrictionStatus(options: { enabled?: boolean } = {}) {
  const trpc = useTRPC();
  return useQuery({ ...trpc.restrictions.status.queryOptions(), enabled: options.enabled ?? true });
}

/** Whether this tab holds the browser's one restrictions stream: it waits for the lock until it gets it. */
function useHoldsStream(): boolean {
  const [holds, setHolds] = useState(false);
  useEffect(() => {
    // A browser without Web Locks: every tab keeps a stream of its own.
    if (typeof navigator === "undefined" || !("locks" in navigator)) {
      setHolds(true);
      return;
    }
    const waiting = new AbortController();
    let release: (() => void) | undefined;
    navigator.locks
      .request(STREAM, { signal: waiting.signal }, () => {
        setHolds(true);
        return new Promise<void>((resolve) => {
          release = resolve;
        });
      })
      .catch(() => {
        // Left the page while still waiting for the lock: nothing to hold.
      });
    return () => {
      waiting.abort();
      release?.();
      setHolds(false);
    };
  }, []);
  return holds;
}

export function RestrictionsBanner() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const status = useRestrictionStatus();
  const holdsStream = useHoldsStream();
  const channel = useRef<BroadcastChannel | null>(null);
  useEffect(() => {
    if (typeof BroadcastChannel === "undefined") return;
    const open = new BroadcastChannel(STREAM);
    // Only this origin's own tabs can post here: what the tab holding the stream was sent.
    open.onmessage = (message) => queryClient.setQueryData(trpc.restrictions.status.queryKey(), message.data);
    channel.current = open;
    return () => {
      channel.current = null;
      open.close();
    };
  }, [queryClient, trpc]);
  useSubscription(
    trpc.restrictions.onStatus.subscriptionOptions(undefined, {
      enabled: holdsStream,
      onData: ({ data }) => {
        queryClient.setQueryData(trpc.restrictions.status.queryKey(), data);
        channel.current?.postMessage(data);
      },
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
