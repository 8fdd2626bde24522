"use client";
// What holds a waiting operation, in words, with a countdown to the moment it is judged again: the rule's delay
// (during which its veto group can stop it), a closed window ("runs Monday 7 December 00:00 Europe/Zurich, in
// 2 d 3 h"), or a full velocity cap. The server judges it again at that moment; this only shows the time.
import { useEffect, useState } from "react";

export type Release = {
  hold: "delay" | "window" | "velocity";
  at: Date | null;
  when: string | null;
  vetoGroup: string | null;
  vetoGroupLabel: string | null;
};

/** "in 2 d 3 h", "in 3 h 5 min", "in 4 min", "in less than a minute", or "now" once it has passed. */
export function countdown(at: Date, now: Date): string {
  const ms = at.getTime() - now.getTime();
  if (ms <= 0) return "now";
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 1) return "in less than a minute";
  if (minutes < 60) return `in ${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `in ${hours} h ${minutes % 60} min`;
  return `in ${Math.floor(hours / 24)} d ${hours % 24} h`;
}

/** The current time, again every `everyMs`: a countdown moves on without a reload. */
export function useNow(everyMs = 30_000): Date {
  const [now, setNow] = useState(() => new Date());
  useEffect(() => {
    const timer = setInterval(() => setNow(new Date()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  return now;
}

/** One line: what holds it and when it is judged again, with the countdown. */
export function releaseLine(release: Release, now: Date): string {
  const at = release.at === null ? null : new Date(release.at);
  const left = at === null ? "" : `, ${countdown(at, now)}`;
  if (release.hold === "delay")
    return `Delay: runs ${release.when ?? "when the delay ends"}${left}, unless ${release.vetoGroupLabel ?? "the veto group"} vetoes it first`;
  if (release.hold === "window") return `Window closed: runs ${release.when ?? "at the next opening"}${left}`;
  return at === null
    ? "Velocity limit reached: runs once earlier operations leave the limit's window (checked every minute)"
    : `Velocity limit reached: runs ${release.when}${left}`;
}

/** The operation page's panel for a waiting operation. */
export function ReleasePanel({ release }: { release: Release }) {
  const now = useNow();
  return (
    <section
      className="card space-y-2 border-sky-200 bg-sky-50"
      aria-labelledby="release"
      data-testid="op-release"
    >
      <h2 id="release" className="text-lg font-medium">
        Waiting
      </h2>
      <p className="text-sm text-slate-800" data-testid="op-release-line">
        {releaseLine(release, now)}.
      </p>
      {release.hold === "delay" && release.vetoGroupLabel && (
        <p className="text-sm text-slate-600" data-testid="op-veto-group">
          Veto group: <strong>{release.vetoGroupLabel}</strong>. One veto from a member of it during the delay
          rejects the operation.
        </p>
      )}
      <p className="text-xs text-slate-500">
        Its votes meet the rule. Keyward judges it again at that time under the same rule, and runs it only if
        the rule still approves it then.
      </p>
    </section>
  );
}
