// A member's own notification settings: their e-mail address and the events they receive by e-mail. Each member
// reads and writes only their own (the id comes from the session, never from input).
import "server-only";
import { eq } from "drizzle-orm";
import type { Db } from "@/db/client";
import { NOTIFY_EVENTS, type NotifyEvent, notificationSettings } from "@/db/schema";
import { activeMember } from "@/server/operations/actors";
import { type MySettingsInput, mySettingsInput } from "./schemas";

export type MySettings = { email: string | null; events: NotifyEvent[]; saved: boolean };

export async function mySettings(db: Db, memberId: string): Promise<MySettings> {
  const [row] = await db
    .select()
    .from(notificationSettings)
    .where(eq(notificationSettings.memberId, memberId));
  // Until the member saves, every event is ticked; without an address nothing is sent anyway.
  if (!row) return { email: null, events: [...NOTIFY_EVENTS], saved: false };
  return { email: row.email, events: row.emailEvents, saved: true };
}

export async function updateMySettings(
  db: Db,
  input: { memberId: string; settings: MySettingsInput; now: Date },
): Promise<MySettings> {
  const settings = mySettingsInput.parse(input.settings);
  const events = NOTIFY_EVENTS.filter((e) => settings.events.includes(e));
  await db.transaction(async (tx) => {
    await activeMember(tx, input.memberId, "change your notification settings");
    await tx
      .insert(notificationSettings)
      .values({ memberId: input.memberId, email: settings.email, emailEvents: events, updatedAt: input.now })
      .onConflictDoUpdate({
        target: notificationSettings.memberId,
        set: { email: settings.email, emailEvents: events, updatedAt: input.now },
      });
  });
  return { email: settings.email, events, saved: true };
}
