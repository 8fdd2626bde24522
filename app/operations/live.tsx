"use client";
// The small sign that says whether a page is following live updates: "live" while its subscriptions are open,
// "reconnecting…" while the browser re-opens one by itself, and why not when the server ended it (signed out,
// a role taken away): then the person knows the page will not change on its own any more.
import type { TRPCSubscriptionStatus } from "@trpc/tanstack-react-query";
import { useEffect, useState } from "react";

export type LiveSubscription = {
  status: TRPCSubscriptionStatus;
  error: { data?: { code?: string } | null } | null;
};

export function LiveIndicator({ subscriptions }: { subscriptions: readonly LiveSubscription[] }) {
  const failed = subscriptions.find((s) => s.status === "error");
  const allLive = subscriptions.every((s) => s.status === "pending");
  const [wasLive, setWasLive] = useState(false);
  useEffect(() => {
    if (allLive) setWasLive(true);
  }, [allLive]);
  let text = "live";
  let colour = "bg-green-600";
  if (failed) {
    const code = failed.error?.data?.code;
    text =
      code === "UNAUTHORIZED"
        ? "not live: your session has ended, sign in again"
        : code === "FORBIDDEN"
          ? "not live: your roles no longer allow this page"
          : "not live: reload the page";
    colour = "bg-red-600";
  } else if (!allLive) {
    text = wasLive ? "reconnecting…" : "connecting…";
    colour = "bg-amber-500";
  }
  return (
    <span
      className="inline-flex items-center gap-1.5 text-xs text-slate-600"
      aria-live="polite"
      data-testid="live-status"
    >
      <span className={`h-2 w-2 rounded-full ${colour}`} aria-hidden="true" />
      {text}
    </span>
  );
}
