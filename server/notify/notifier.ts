// The notifier's timer, started by boot.ts: every few seconds it derives deliveries from the sealed trail and
// sends what is due. It runs outside every operation's transaction and swallows its own errors (logged once
// while they last), so a mail server or endpoint that is down never reaches an operation.
import "server-only";
import type { Db } from "@/db/client";
import type { Clock } from "@/server/clock";
import type { SmtpEnv } from "@/server/env";
import { type DeliverReport, deliverDue } from "./deliver";
import { type DeriveReport, deriveNotifications } from "./derive";
import { fetchWebhookSender, type Mailer, smtpMailer, type WebhookSender } from "./senders";

export type NotifierDeps = {
  db: Db;
  clock: Clock;
  origin: string;
  /** null: e-mail notifications are off (no SMTP settings). */
  mailer: Mailer | null;
  webhook: WebhookSender;
};

/** Whether e-mail notifications are on, in words for the status and settings pages (no password, ever). */
export type NotifyStatus = {
  email: { on: true; server: string; from: string } | { on: false; reason: string };
};

export function notifyStatus(smtp: SmtpEnv | null): NotifyStatus {
  if (smtp === null)
    return { email: { on: false, reason: "E-mail notifications are off: KEYWARD_SMTP_URL is not set." } };
  return { email: { on: true, server: smtp.display, from: smtp.from } };
}

/** One round: derive, then deliver. */
export async function notifyTick(
  deps: NotifierDeps,
): Promise<{ derived: DeriveReport; sent: DeliverReport }> {
  const derived = await deriveNotifications(deps.db, {
    now: deps.clock(),
    origin: deps.origin,
    email: deps.mailer !== null,
  });
  const sent = await deliverDue(deps.db, { now: deps.clock(), mailer: deps.mailer, webhook: deps.webhook });
  return { derived, sent };
}

export function startNotifier(
  options: { db: Db; clock: Clock; origin: string; smtp: SmtpEnv | null },
  intervalMs = 5_000,
): () => void {
  const deps: NotifierDeps = {
    db: options.db,
    clock: options.clock,
    origin: options.origin,
    mailer: options.smtp === null ? null : smtpMailer(options.smtp),
    webhook: fetchWebhookSender(),
  };
  let running = false;
  let failing = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    notifyTick(deps)
      .then(
        () => {
          if (failing) console.log("Keyward: notifications run again.");
          failing = false;
        },
        (e: unknown) => {
          if (!failing)
            console.error("Keyward: notifications failed; retrying", e instanceof Error ? e.message : e);
          failing = true;
        },
      )
      .finally(() => {
        running = false;
      });
  }, intervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    deps.mailer?.close();
  };
}
