// The delivery log admins read: the latest deliveries with their state, attempts, next try and last error,
// and each one's attempts. Messages and addresses of members are not shown here beyond what identifies them.
import "server-only";
import { desc, eq, inArray } from "drizzle-orm";
import type { Db } from "@/db/client";
import { members, notificationAttempts, notificationDeliveries, webhookEndpoints } from "@/db/schema";
import { messageSchema } from "./message";

/** A read for admins (the router checks the role). */
export async function deliveryLog(db: Db, input: { limit: number }) {
  const d = notificationDeliveries;
  const rows = await db
    .select({
      id: d.id,
      eventSeq: d.eventSeq,
      event: d.event,
      channel: d.channel,
      memberName: members.name,
      endpointDescription: webhookEndpoints.description,
      endpointUrl: webhookEndpoints.url,
      message: d.message,
      state: d.state,
      attempts: d.attempts,
      nextAttemptAt: d.nextAttemptAt,
      lastError: d.lastError,
      deliveredAt: d.deliveredAt,
      createdAt: d.createdAt,
    })
    .from(d)
    .leftJoin(members, eq(members.id, d.memberId))
    .leftJoin(webhookEndpoints, eq(webhookEndpoints.id, d.endpointId))
    .orderBy(desc(d.createdAt), desc(d.eventSeq))
    .limit(input.limit);
  const attempts =
    rows.length === 0
      ? []
      : await db
          .select()
          .from(notificationAttempts)
          .where(
            inArray(
              notificationAttempts.deliveryId,
              rows.map((r) => r.id),
            ),
          )
          .orderBy(notificationAttempts.attempt);
  return rows.map(({ message, memberName, endpointDescription, endpointUrl, ...r }) => ({
    ...r,
    recipient:
      r.channel === "email"
        ? (memberName ?? "a member")
        : endpointDescription || (endpointUrl ?? "an endpoint"),
    subject: messageSchema.safeParse(message).data?.subject ?? "",
    tries: attempts
      .filter((a) => a.deliveryId === r.id)
      .map((a) => ({ attempt: a.attempt, at: a.at, ok: a.ok, status: a.status, error: a.error })),
  }));
}
