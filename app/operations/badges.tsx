// Small pieces the operation and key pages share: a state badge, times in UTC, and a deadline in words.
import type { KeyState, OperationState } from "@/db/schema/operations";

const OPERATION_COLOURS: Record<OperationState, string> = {
  pending: "bg-amber-100 text-amber-900",
  waiting: "bg-sky-100 text-sky-900",
  approved: "bg-indigo-100 text-indigo-900",
  executing: "bg-indigo-100 text-indigo-900",
  executed: "bg-green-100 text-green-900",
  failed: "bg-red-100 text-red-900",
  rejected: "bg-red-100 text-red-900",
  expired: "bg-slate-200 text-slate-800",
  cancelled: "bg-slate-200 text-slate-800",
};

const KEY_COLOURS: Record<KeyState, string> = {
  "pre-activation": "bg-slate-200 text-slate-800",
  active: "bg-green-100 text-green-900",
  suspended: "bg-amber-100 text-amber-900",
  deactivated: "bg-slate-200 text-slate-800",
  compromised: "bg-red-100 text-red-900",
  destroyed: "bg-slate-300 text-slate-900",
};

export function OperationStateBadge({ state }: { state: OperationState }) {
  return (
    <span className={`rounded px-2 py-0.5 text-xs font-semibold ${OPERATION_COLOURS[state]}`} data-testid="op-state">
      {state}
    </span>
  );
}

export function KeyStateBadge({ state }: { state: KeyState }) {
  return (
    <span className={`rounded px-2 py-0.5 text-xs font-semibold ${KEY_COLOURS[state]}`} data-testid="key-state">
      {state}
    </span>
  );
}

export const utc = (at: Date) => `${at.toISOString().replace("T", " ").slice(0, 19)} UTC`;

/** "in 47 h 59 min" or "passed": the deadline as a person plans around it. */
export function timeLeft(deadline: Date, now: Date): string {
  const minutes = Math.floor((deadline.getTime() - now.getTime()) / 60_000);
  if (minutes < 0) return "passed";
  if (minutes < 60) return `in ${minutes} min`;
  return `in ${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}
