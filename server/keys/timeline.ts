// One subject's story from the audit trail (a key's life, an operation's proposal, votes and execution), in
// order, with each member actor named. Only the event's action, time, actor and a few plain fields are shown.
import "server-only";
import { asc, inArray } from "drizzle-orm";
import type { Db } from "@/db/client";
import { auditEvents, members } from "@/db/schema";

/** The fields of an event's data worth showing in a timeline; the rest (hashes, ids) stays in the trail. */
const SHOWN = ["decision", "reason", "attempt", "attempts", "ruleId", "votesCounted"] as const;

export type TimelineEntry = {
  /** The event's staging id: unique, present before the integrator gives it a seq. */
  id: number;
  /** Its place in the chain; null for the moment between the change's commit and its sealing. */
  seq: number | null;
  at: Date;
  action: string;
  actor: string;
  details: { label: string; value: string }[];
};

/** At most this many events per timeline: an operation's story is tens of events, a key's a handful. */
const TIMELINE_MAX = 500;

export async function auditTimeline(db: Db, subjects: readonly string[]): Promise<TimelineEntry[]> {
  const events = await db
    .select({
      id: auditEvents.id,
      seq: auditEvents.seq,
      at: auditEvents.at,
      action: auditEvents.action,
      actor: auditEvents.actor,
      data: auditEvents.data,
    })
    .from(auditEvents)
    .where(inArray(auditEvents.subject, [...subjects]))
    // Sealed events in chain order, then any not sealed yet (ascending puts nulls last) in staging order.
    .orderBy(asc(auditEvents.seq), asc(auditEvents.id))
    .limit(TIMELINE_MAX);
  const memberIds = [
    ...new Set(events.flatMap((e) => (e.actor.startsWith("member:") ? [e.actor.slice(7)] : []))),
  ];
  const names = new Map(
    memberIds.length === 0
      ? []
      : (
          await db
            .select({ id: members.id, name: members.name })
            .from(members)
            .where(inArray(members.id, memberIds))
        ).map((m) => [m.id, m.name]),
  );
  return events.map((e) => ({
    id: e.id,
    seq: e.seq,
    at: e.at,
    action: e.action,
    actor: e.actor.startsWith("member:") ? (names.get(e.actor.slice(7)) ?? "a former member") : e.actor,
    details: detailsOf(e.data),
  }));
}

function detailsOf(data: unknown): { label: string; value: string }[] {
  if (data === null || typeof data !== "object") return [];
  const out: { label: string; value: string }[] = [];
  for (const field of SHOWN) {
    const value: unknown = Reflect.get(data, field);
    if (typeof value === "string" || typeof value === "number")
      out.push({ label: field, value: String(value) });
  }
  return out;
}
