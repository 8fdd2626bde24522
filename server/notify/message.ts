// What a notification says, made once when it is derived and stored with the delivery: the e-mail's subject and
// text, and the webhook's JSON body (Standard Webhooks' { type, timestamp, data }). Pure. It names the
// operation, what awaits, the deadline and a link to the operation page, and never carries a secret: only what
// the operation page itself shows (its title), never the payload, a vote's assertion or a webhook secret.
import { z } from "zod";
import type { NotifyEvent } from "@/db/schema/notifications";

export const messageSchema = z.object({
  subject: z.string(),
  text: z.string(),
  webhook: z.object({
    type: z.string(),
    timestamp: z.string(),
    data: z.record(z.string(), z.unknown()),
  }),
});
export type Message = z.infer<typeof messageSchema>;

/** What derive.ts knows about the operation and the event when it writes the message. */
export type MessageFacts = {
  event: NotifyEvent;
  seq: number;
  at: Date;
  origin: string;
  operation: { id: string; kind: string; title: string; initiator: string };
  /** operation.proposed: when it expires. */
  deadline?: Date;
  /** operation.waiting: when the delay ends, and who may veto until then. */
  until?: Date | null;
  vetoGroup?: string | null;
  /** operation.failed / cancelled, withdrawal.failed / dead: the reason recorded in the trail. */
  reason?: string;
  /** withdrawal.*: the chain transaction (its hash, and confirmations when confirmed). */
  transaction?: { txid: string; confirmations?: number };
};

const utc = (at: Date) => `${at.toISOString().slice(0, 16).replace("T", " ")} UTC`;

/** Keeps text on one line and bounded: a title or reason must not fake extra lines of the message. */
const oneLine = (s: string, max = 300) => {
  const flat = s.replace(/[\p{Cc}\p{Cf}]+/gu, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
};

const OUTCOME_WORDS: Record<string, string> = {
  "operation.executed": "was executed",
  "operation.failed": "failed when it was carried out",
  "operation.rejected": "was rejected",
  "operation.expired": "expired before it reached its quorum",
  "operation.cancelled": "was cancelled",
  "withdrawal.broadcast": "was sent to its chain",
  "withdrawal.confirmed": "was confirmed on its chain",
  "withdrawal.failed": "failed on its chain (the fee was spent, nothing moved)",
  "withdrawal.dead": "will never confirm (its transaction was replaced or expired)",
};

export function operationUrl(origin: string, operationId: string): string {
  return `${origin}/operations/${operationId}`;
}

export function renderMessage(f: MessageFacts): Message {
  const title = oneLine(f.operation.title, 200);
  const url = operationUrl(f.origin, f.operation.id);
  const footer = [
    "",
    `Open it: ${url}`,
    "",
    `You receive this from Keyward because of your notification settings: ${f.origin}/settings/notifications`,
  ];
  const data: Record<string, unknown> = {
    seq: f.seq,
    operationId: f.operation.id,
    kind: f.operation.kind,
    title,
    url,
  };
  let subject: string;
  let lines: string[];
  if (f.event === "operation.proposed") {
    const deadline = f.deadline ?? f.at;
    subject = `Approval needed: ${title}`;
    lines = [
      `${title} awaits your vote.`,
      `Proposed by ${oneLine(f.operation.initiator, 100)} (${f.operation.kind}).`,
      `Deadline: ${utc(deadline)} — the operation expires then if it has not reached its quorum.`,
    ];
    data.deadline = deadline.toISOString();
  } else if (f.event === "operation.waiting") {
    const until = f.until ?? null;
    subject = `Delay started: ${title}`;
    lines = [
      `${title} has its approvals and is now held by a delay.`,
      until ? `The delay ends at ${utc(until)}; it runs after that.` : "It runs when its hold is released.",
      f.vetoGroup
        ? `Until then, members of the group ${oneLine(f.vetoGroup, 40)} can veto it on the operation page.`
        : "",
    ].filter((l) => l !== "");
    data.until = until ? until.toISOString() : null;
    data.vetoGroup = f.vetoGroup ?? null;
  } else {
    const words = OUTCOME_WORDS[f.event] ?? "changed";
    const [resource = "operation", state = f.event] = f.event.split(".");
    subject = `${resource === "withdrawal" ? "Withdrawal" : "Operation"} ${state}: ${title}`;
    lines = [`${title} ${words} (${utc(f.at)}).`];
    if (f.transaction) lines.push(`Transaction: ${oneLine(f.transaction.txid, 200)}`);
    if (f.reason) lines.push(`Reason: ${oneLine(f.reason)}`);
    data.state = state;
    if (f.reason) data.reason = oneLine(f.reason);
    if (f.transaction) {
      data.txid = oneLine(f.transaction.txid, 200);
      if (f.transaction.confirmations !== undefined) data.confirmations = f.transaction.confirmations;
    }
  }
  return {
    subject: oneLine(`Keyward — ${subject}`, 250),
    text: [...lines, ...footer].join("\n"),
    webhook: { type: f.event, timestamp: f.at.toISOString(), data },
  };
}
