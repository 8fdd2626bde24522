// The events a service account's status webhook receives: how each withdrawal it proposed ends (executed —
// signed —, failed, rejected, expired, cancelled), when one starts waiting out a delay, and what becomes of its
// transaction on the chain (broadcast, confirmed, failed, dead). Delivered by
// server/notify (Standard Webhooks signatures, retries, the delivery log), for that account's operations only.
import type { NotifyEvent } from "@/db/schema/notifications";

export const STATUS_EVENTS = [
  "operation.waiting",
  "operation.executed",
  "operation.failed",
  "operation.rejected",
  "operation.expired",
  "operation.cancelled",
  "withdrawal.broadcast",
  "withdrawal.confirmed",
  "withdrawal.failed",
  "withdrawal.dead",
] as const satisfies readonly NotifyEvent[];
