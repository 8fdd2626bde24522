// How far a report download has got, for the page that asked for it (issue 15 item 5: a report over 100,000
// events shows progress). The page picks a random id, passes it with the download (`?progress=<uuid>`) and asks
// audit.reportProgress for it while it waits; only the member who started the download can read it.
//
// Kept in this process's memory: bounded (at most MAX_TRACKED downloads, the oldest forgotten first) and
// short-lived (forgotten FORGET_MS after its last step). With several instances behind a load balancer the
// question must reach the instance building the file (sticky sessions); elsewhere it answers "unknown" and the
// page falls back to saying the download is being prepared. Nothing here is a secret: counts and section names.
import { z } from "zod";

export type ReportPhase = "reading" | "writing" | "done" | "failed";

export type ReportProgress = {
  phase: ReportPhase;
  /** Events read (reading) or table rows written (writing) so far. */
  done: number;
  /** The period's event count (reading; 0 while it is not known yet); 0 while writing. */
  total: number;
  /** The PDF section being written. */
  section: string | null;
};

export type ProgressSink = (progress: ReportProgress) => void;

export const progressId = z.string().uuid("the progress id is a UUID");

export const MAX_TRACKED = 1_000;
export const FORGET_MS = 10 * 60_000;

type Tracked = { memberId: string; progress: ReportProgress; at: number };

const tracked = new Map<string, Tracked>();

function forgetOld(now: number) {
  for (const [id, t] of tracked) {
    if (now - t.at <= FORGET_MS && tracked.size <= MAX_TRACKED) break; // insertion order: oldest first
    tracked.delete(id);
  }
}

/** Starts tracking download `id` for `memberId`; the returned sink records each step. */
export function trackReport(id: string, memberId: string, now: () => number = Date.now): ProgressSink {
  const key = `${memberId}:${id}`;
  return (progress) => {
    const at = now();
    tracked.delete(key); // re-inserted last: the map stays ordered by last step
    tracked.set(key, { memberId, progress, at });
    forgetOld(at);
  };
}

/** The latest step of download `id`, if `memberId` started it and it is still remembered. */
export function reportProgress(
  id: string,
  memberId: string,
  now: number = Date.now(),
): ReportProgress | null {
  const t = tracked.get(`${memberId}:${id}`);
  if (t === undefined || now - t.at > FORGET_MS) return null;
  return t.progress;
}
