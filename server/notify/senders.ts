// The two ways a message leaves Keyward: e-mail through the configured SMTP server (nodemailer) and webhooks
// over HTTP(S) signed the Standard Webhooks way (HMAC-SHA256 over `id.timestamp.body`, headers webhook-id,
// webhook-timestamp, webhook-signature). Each send either resolves or throws an error whose message is safe to
// store in the delivery log: it never contains the SMTP password or a webhook secret.
import "server-only";
import nodemailer from "nodemailer";
import { Webhook } from "standardwebhooks";
import type { SmtpEnv } from "@/server/env";

export type Mail = { to: string; subject: string; text: string };
export type Mailer = { send: (mail: Mail) => Promise<void>; close: () => void };

/** A send that failed with a reason for the log (an HTTP status when the receiver answered). */
export class SendError extends Error {
  constructor(
    message: string,
    readonly status: number | null = null,
    /** Waiting will not help (the endpoint was disabled): no retry. */
    readonly permanent = false,
  ) {
    super(message);
  }
}

const TIMEOUT_MS = 10_000;

/** Strips anything that looks like the URL's credentials from a library's message before it is stored. */
function safeText(e: unknown, secrets: readonly string[]): string {
  let text = e instanceof Error ? e.message : String(e);
  for (const s of secrets) if (s.length > 0) text = text.split(s).join("***");
  return text.slice(0, 500);
}

/**
 * E-mail through the SMTP server in `smtp.url`. `transport` adds nodemailer options (tests: `ignoreTLS`, since
 * smtp-server's built-in certificate has expired); options in the URL's query win over them.
 */
export function smtpMailer(smtp: SmtpEnv, transport: { ignoreTLS?: boolean } = {}): Mailer {
  const url = new URL(smtp.url);
  const secrets = [decodeURIComponent(url.password), url.password];
  const transporter = nodemailer.createTransport({
    url: smtp.url,
    connectionTimeout: TIMEOUT_MS,
    greetingTimeout: TIMEOUT_MS,
    socketTimeout: TIMEOUT_MS,
    ...transport,
  });
  return {
    async send(mail) {
      try {
        await transporter.sendMail({ from: smtp.from, to: mail.to, subject: mail.subject, text: mail.text });
      } catch (e) {
        throw new SendError(`SMTP: ${safeText(e, secrets)}`);
      }
    },
    close: () => transporter.close(),
  };
}

export type WebhookPost = { url: string; secret: string; id: string; at: Date; body: string };
export type WebhookSender = (post: WebhookPost) => Promise<{ status: number }>;

/** The Standard Webhooks headers for one delivery attempt. */
export function webhookHeaders(post: Omit<WebhookPost, "url">): Record<string, string> {
  const signature = new Webhook(post.secret).sign(post.id, post.at, post.body);
  return {
    "content-type": "application/json",
    "user-agent": "Keyward-Webhooks/1",
    "webhook-id": post.id,
    "webhook-timestamp": String(Math.floor(post.at.getTime() / 1000)),
    "webhook-signature": signature,
  };
}

/** POSTs the body with its signature; a 2xx answer is delivered, anything else (a redirect too) throws. */
export function fetchWebhookSender(fetchImpl: typeof fetch = fetch): WebhookSender {
  return async (post) => {
    let response: Response;
    try {
      response = await fetchImpl(post.url, {
        method: "POST",
        headers: webhookHeaders(post),
        body: post.body,
        redirect: "manual",
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (e) {
      // fetch says only "fetch failed": the reason (refused, timed out, DNS) is its cause.
      const cause =
        e instanceof Error && e.cause !== undefined ? ` (${safeText(e.cause, [post.secret])})` : "";
      throw new SendError(`HTTP: ${safeText(e, [post.secret])}${cause}`);
    }
    // The receiver's answer is not kept: only its status.
    await response.body?.cancel().catch(() => undefined);
    if (response.status < 200 || response.status > 299)
      throw new SendError(`HTTP ${response.status} from the endpoint`, response.status);
    return { status: response.status };
  };
}
