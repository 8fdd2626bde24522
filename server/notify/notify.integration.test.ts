// Notifications end to end, on PGlite and PostgreSQL: operations are proposed and decided through the real domain
// functions, deliveries are derived from the sealed trail, e-mail goes to a real SMTP server in this process
// (smtp-server, read back with mailparser) and webhooks to a local HTTP receiver whose requests are verified with
// standardwebhooks. A receiver answering 500 is retried with back-off under an injected clock; two derivations
// at once on two PostgreSQL pools send each message once; without SMTP settings nothing is attempted.
import { and, asc, eq, inArray, sql } from "drizzle-orm";
import { Webhook } from "standardwebhooks";
import { TRPCError } from "@trpc/server";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type Database, type Db, openDatabase } from "@/db/client";
import { auditEvents, notificationAttempts, notificationDeliveries, operations } from "@/db/schema";
import { createCaller } from "@/server/api/root";
import { createContext } from "@/server/api/trpc";
import { integrateAudit } from "@/server/audit/integrate";
import { updatePolicy } from "@/server/operations/policy-store";
import { proposeOperation } from "@/server/operations/propose";
import { DEFAULT_POLICY } from "@/server/policy/document";
import { beginVote, completeVote } from "@/server/operations/vote";
import { approveInTurn } from "@/server/operations/testing/approve";
import {
  TEST_WEBAUTHN_CONFIG as config,
  firstAdmin,
  invitedMember,
  type Person,
} from "@/server/testing/identity-fixtures";
import { createTestDatabase, type TestDatabase, testEngines } from "@/server/testing/test-db";
import { backoffMs, deliverDue, MAX_ATTEMPTS } from "./deliver";
import { deriveNotifications } from "./derive";
import { notifyStatus } from "./notifier";
import { fetchWebhookSender, type Mailer, smtpMailer } from "./senders";
import { updateMySettings } from "./settings";
import { startTestReceiver, type TestReceiver } from "./testing/receiver";
import { startTestSmtp, type TestSmtp } from "./testing/smtp";
import { addWebhook } from "./webhooks";

const ORIGIN = "https://keyward.example";

/** Deliveries about these operations (the message names the operation). */
const ofOperations = (ids: string[]) =>
  inArray(sql<string>`${notificationDeliveries.message}->'webhook'->'data'->>'operationId'`, ids);
const MINUTE = 60_000;
const ALL = [
  "operation.proposed",
  "operation.waiting",
  "operation.executed",
  "operation.failed",
  "operation.rejected",
  "operation.expired",
  "operation.cancelled",
] as const;

describe.each(testEngines())("notifications on %s", (engine) => {
  let database: TestDatabase;
  let db: Db;
  let smtp: TestSmtp;
  let mailer: Mailer;
  let admin: Person;
  let operator: Person;
  let a1: Person;
  let a2: Person;
  let a3: Person;
  let optedOut: Person;
  let vetoer: Person;
  const address = new Map<string, string>();
  // Real time: standardwebhooks' verify refuses a timestamp more than 5 minutes from now.
  const t0 = new Date();
  let label = 0;

  const webhook = fetchWebhookSender();
  const derive = (now: Date, email = true) => deriveNotifications(db, { now, origin: ORIGIN, email });
  const deliver = (now: Date) => deliverDue(db, { now, mailer, webhook });

  async function propose(now = t0, tags: string[] = []) {
    label++;
    return proposeOperation(db, {
      actor: operator.acting,
      kind: "key.create",
      payload: { label: `notify-${engine}-${label}`, curve: "secp256k1", tags, exportable: "never" },
      now,
    });
  }

  async function settings(who: Person, name: string, events: readonly (typeof ALL)[number][] = ALL) {
    const email = `${name}@${engine}.example`;
    address.set(who.acting.id, email);
    await updateMySettings(db, {
      memberId: who.acting.id,
      settings: { email, events: [...events] },
      now: t0,
    });
  }

  const mailsFor = (operationId: string) =>
    smtp.mails.filter((m) => m.text?.includes(`/operations/${operationId}`));
  const to = (m: (typeof smtp.mails)[number]) =>
    (Array.isArray(m.to) ? m.to : m.to ? [m.to] : []).flatMap((a) => a.value.map((v) => v.address ?? ""));

  beforeAll(async () => {
    database = await createTestDatabase(engine);
    db = database.db;
    smtp = await startTestSmtp();
    mailer = smtpMailer(
      { url: smtp.url, from: "Keyward <keyward@keyward.example>", display: "" },
      { ignoreTLS: true },
    );
    admin = await firstAdmin(db, { now: t0 });
    // An approver in the veto group too: the initiator is never asked to vote on, or veto, their own operation.
    operator = await invitedMember(db, admin.acting, {
      now: t0,
      roles: ["operator", "approver"],
      groups: ["security"],
    });
    const approver = (groups: string[] = []) =>
      invitedMember(db, admin.acting, { now: t0, roles: ["approver"], groups });
    a1 = await approver(["treasury"]);
    a2 = await approver();
    a3 = await approver();
    optedOut = await approver();
    // Not an approver: only a delay's veto group brings them in.
    vetoer = await invitedMember(db, admin.acting, { now: t0, roles: ["auditor"], groups: ["security"] });
    await settings(admin, "admin");
    await settings(operator, "operator");
    await settings(a1, "a1");
    await settings(a2, "a2");
    await settings(a3, "a3");
    await settings(vetoer, "vetoer");
    // Receives outcomes, but chose not to be asked for votes.
    await settings(
      optedOut,
      "opted-out",
      ALL.filter((e) => e !== "operation.proposed"),
    );
    // Keys tagged cold need one approval from treasury: only treasury's approvers are asked.
    await updatePolicy(db, {
      actor: admin.acting,
      document: {
        ...DEFAULT_POLICY,
        rules: [
          {
            id: "cold",
            description: "Cold keys: one approval from treasury",
            match: { keyTags: ["cold"] },
            require: [{ group: "treasury", approvals: 1 }],
          },
          {
            id: "delayed",
            description: "A day for security to look",
            match: { keyTags: ["delayed"] },
            require: [{ group: "treasury", approvals: 1 }],
            delay: { hours: 24, vetoGroup: "security" },
          },
        ],
      },
      now: t0,
    });
    // Everything before the first proposal (setup, invitations) makes no notification.
    await derive(t0);
  }, 120_000);

  afterAll(async () => {
    mailer?.close();
    await smtp?.close();
    await database?.drop();
  });

  it("a proposal e-mails every approver who may vote, naming the operation and its deadline; not the initiator, not who opted out", async () => {
    const op = await propose();
    const report = await derive(t0);
    expect(report.deliveries).toBe(3);
    const sent = await deliver(t0);
    expect(sent).toEqual({ delivered: 3, retrying: 0, failed: 0 });
    await smtp.received(3);
    const mails = mailsFor(op.id);
    expect(mails.map((m) => to(m)[0]).sort()).toEqual(
      [address.get(a1.acting.id), address.get(a2.acting.id), address.get(a3.acting.id)].sort(),
    );
    const deadline = `${op.expiresAt.toISOString().slice(0, 16).replace("T", " ")} UTC`;
    for (const mail of mails) {
      expect(mail.subject).toContain(`notify-${engine}-${label}`);
      expect(mail.subject).toContain("Approval needed");
      expect(mail.text).toContain(`Deadline: ${deadline}`);
      expect(mail.text).toContain(`${ORIGIN}/operations/${op.id}`);
      expect(mail.from?.text).toContain("keyward@keyward.example");
      // Never a secret: not the SMTP password, not the operation's digest that votes bind.
      expect(mail.text).not.toContain("s3cret-pa55");
    }
    const all = smtp.mails.flatMap(to);
    expect(all).not.toContain(address.get(optedOut.acting.id));
    expect(all).not.toContain(address.get(operator.acting.id));
    // Derived once: a second run finds nothing new, a second delivery round sends nothing.
    expect((await derive(t0)).deliveries).toBe(0);
    expect(await deliver(t0)).toEqual({ delivered: 0, retrying: 0, failed: 0 });
  });

  it("under a rule that needs treasury, only treasury's approvers are asked", async () => {
    const op = await propose(t0, ["cold"]);
    expect(op.ruleId).toBe("cold");
    await derive(t0);
    const before = smtp.mails.length;
    await deliver(t0);
    await smtp.received(before + 1);
    expect(mailsFor(op.id).flatMap(to)).toEqual([address.get(a1.acting.id)]);
  });

  it("the initiator is told the outcome (a rejection), and the opted-out approver receives nothing about it either", async () => {
    const op = await propose();
    await derive(t0);
    await deliver(t0);
    const before = smtp.mails.length;
    const vote = { voter: a1.acting, operationId: op.id, decision: "reject" as const, now: t0 };
    const begun = await beginVote(db, config, vote);
    const { state } = await completeVote(db, config, {
      ...vote,
      response: a1.token.authenticate(begun.options),
    });
    expect(state).toBe("rejected");
    expect((await derive(t0)).deliveries).toBe(1);
    await deliver(t0);
    const mails = await smtp.received(before + 1);
    const outcome = mails.slice(before);
    expect(outcome.map((m) => to(m)[0])).toEqual([address.get(operator.acting.id)]);
    expect(outcome[0]?.subject).toContain("Operation rejected");
    expect(outcome[0]?.text).toContain(`${ORIGIN}/operations/${op.id}`);
    expect(mailsFor(op.id).flatMap(to)).not.toContain(address.get(optedOut.acting.id));
  });

  it("a delay that starts tells everyone who voted and the veto group, with the time it ends", async () => {
    const op = await propose(t0, ["delayed"]);
    expect(op.ruleId).toBe("delayed");
    // One approval from treasury meets the rule: the operation now waits out the delay (operation.waiting).
    expect(await approveInTurn(db, config, { operationId: op.id, voters: [a1], now: t0 })).toBe("waiting");
    const [stored] = await db.select().from(operations).where(eq(operations.id, op.id));
    const until = stored?.releaseAt;
    expect(until).toBeInstanceOf(Date);
    if (!until) return;
    expect(until.getTime()).toBe(t0.getTime() + 24 * 60 * MINUTE);
    await derive(t0);
    const before = smtp.mails.length;
    await deliver(t0);
    await smtp.received(before + 2);
    const mails = mailsFor(op.id).filter((m) => m.subject?.includes("Delay started"));
    expect(mails.flatMap(to).sort()).toEqual(
      [address.get(a1.acting.id), address.get(vetoer.acting.id)].sort(),
    );
    for (const m of mails) {
      expect(m.text).toContain(`The delay ends at ${until.toISOString().slice(0, 16).replace("T", " ")} UTC`);
      expect(m.text).toContain("security");
    }
  });

  it("a hold other than a delay (a window, a velocity cap) sends nothing", async () => {
    const op = await propose();
    await derive(t0);
    await deliver(t0);
    // As settle.ts writes it for a closed window: staged, then sealed.
    await db.insert(auditEvents).values({
      at: t0,
      actor: "system",
      action: "operation.waiting",
      subject: `operation:${op.id}`,
      data: {
        operationId: op.id,
        ruleId: "default",
        until: new Date(t0.getTime() + 60 * MINUTE).toISOString(),
        hold: "window",
        vetoGroup: null,
        reasons: ["deferred"],
      },
    });
    await integrateAudit(db);
    expect((await derive(t0)).deliveries).toBe(0);
  });

  describe("webhooks", () => {
    let receiver: TestReceiver;
    let failing: TestReceiver;
    let secret: string;
    let failingId: string;

    beforeAll(async () => {
      receiver = await startTestReceiver();
      failing = await startTestReceiver();
      failing.answer(500);
      const added = await addWebhook(db, {
        actorId: admin.acting.id,
        endpoint: { url: receiver.url, description: "test receiver", events: ["operation.proposed"] },
        now: t0,
      });
      secret = added.secret;
      expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    });
    afterAll(async () => {
      await receiver?.close();
      await failing?.close();
    });

    it("delivers a signed event that verifies with standardwebhooks; a tampered body does not", async () => {
      const op = await propose();
      await derive(t0);
      const now = new Date();
      await deliver(now);
      const request = receiver.requests.find((r) => r.body.includes(op.id));
      expect(request).toBeDefined();
      if (!request) return;
      const headers = {
        "webhook-id": String(request.headers["webhook-id"]),
        "webhook-timestamp": String(request.headers["webhook-timestamp"]),
        "webhook-signature": String(request.headers["webhook-signature"]),
      };
      const verified = new Webhook(secret).verify(request.body, headers) as {
        type: string;
        data: { operationId: string; deadline: string; url: string };
      };
      expect(verified.type).toBe("operation.proposed");
      expect(verified.data.operationId).toBe(op.id);
      expect(verified.data.deadline).toBe(op.expiresAt.toISOString());
      expect(verified.data.url).toBe(`${ORIGIN}/operations/${op.id}`);
      expect(request.body).not.toContain(secret);
      const tampered = request.body.replace(op.id, "00000000-0000-4000-8000-000000000000");
      expect(() => new Webhook(secret).verify(tampered, headers)).toThrow();
      // Another secret does not verify it either.
      expect(() =>
        new Webhook(`whsec_${Buffer.alloc(32, 7).toString("base64")}`).verify(request.body, headers),
      ).toThrow();
    });

    it("a receiver answering 500 is retried with back-off, every attempt logged, and the operation goes on", async () => {
      const added = await addWebhook(db, {
        actorId: admin.acting.id,
        endpoint: { url: failing.url, description: "always 500", events: ["operation.proposed"] },
        now: t0,
      });
      failingId = added.id;
      const op = await propose();
      await derive(t0);
      const [delivery] = await db
        .select()
        .from(notificationDeliveries)
        .where(eq(notificationDeliveries.endpointId, failingId));
      expect(delivery).toBeDefined();
      if (!delivery) return;
      let now = t0;
      const times: number[] = [];
      for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
        // Just before the back-off ends nothing is attempted.
        const early = new Date(now.getTime() - 1);
        const seen = failing.requests.length;
        if (attempt > 1) {
          await deliver(early);
          expect(failing.requests.length).toBe(seen);
        }
        await deliver(now);
        expect(failing.requests.length).toBe(seen + 1);
        times.push(now.getTime());
        const [row] = await db
          .select()
          .from(notificationDeliveries)
          .where(eq(notificationDeliveries.id, delivery.id));
        expect(row?.attempts).toBe(attempt);
        expect(row?.lastError).toBe("HTTP 500 from the endpoint");
        if (attempt < MAX_ATTEMPTS) {
          expect(row?.state).toBe("pending");
          expect(row?.nextAttemptAt.getTime()).toBe(now.getTime() + backoffMs(attempt));
          now = row?.nextAttemptAt ?? now;
        } else {
          expect(row?.state).toBe("failed");
        }
      }
      // 1 min, 2, 4, … between tries.
      expect(times.slice(1).map((t, i) => (t - (times[i] ?? 0)) / MINUTE)).toEqual([1, 2, 4, 8, 16, 32, 64]);
      const attempts = await db
        .select()
        .from(notificationAttempts)
        .where(eq(notificationAttempts.deliveryId, delivery.id))
        .orderBy(asc(notificationAttempts.attempt));
      expect(attempts.map((a) => [a.attempt, a.ok, a.status])).toEqual(
        Array.from({ length: MAX_ATTEMPTS }, (_, i) => [i + 1, false, 500]),
      );
      // Out of tries: never sent again.
      await deliver(new Date(now.getTime() + 365 * 24 * 60 * MINUTE));
      expect(failing.requests.filter((r) => r.body.includes(op.id))).toHaveLength(MAX_ATTEMPTS);
      // The operation is untouched by all of it and is approved as usual.
      const [stored] = await db.select().from(operations).where(eq(operations.id, op.id));
      expect(stored?.state).toBe("pending");
      expect(await approveInTurn(db, config, { operationId: op.id, voters: [a1, a2], now: t0 })).toBe(
        "approved",
      );
    });
  });

  it("without SMTP settings no e-mail is derived or attempted, and the state says off", async () => {
    const status = notifyStatus(null);
    expect(status.email.on).toBe(false);
    expect(status.email.on === false && status.email.reason).toMatch(/off/);
    const op = await propose();
    await derive(t0, false);
    const emails = await db
      .select()
      .from(notificationDeliveries)
      .where(and(eq(notificationDeliveries.channel, "email"), ofOperations([op.id])));
    expect(emails).toHaveLength(0);
    const before = smtp.mails.length;
    await deliverDue(db, { now: t0, mailer: null, webhook });
    expect(smtp.mails.length).toBe(before);
    // E-mail deliveries derived while SMTP was on are left alone while it is off: not claimed, not attempted.
    const later = await propose();
    await derive(t0, true);
    await deliverDue(db, { now: t0, mailer: null, webhook });
    const waiting = await db
      .select()
      .from(notificationDeliveries)
      .where(and(eq(notificationDeliveries.channel, "email"), ofOperations([later.id])));
    expect(waiting).toHaveLength(3);
    expect(waiting.every((r) => r.state === "pending" && r.attempts === 0)).toBe(true);
    expect(smtp.mails.length).toBe(before);
    // Once SMTP is back they go out.
    expect((await deliver(t0)).delivered).toBeGreaterThanOrEqual(3);
  });

  it("the procedures: each member reads and sets only their own, e-mail shown off, webhook URLs and roles checked", async () => {
    // A configuration without KEYWARD_SMTP_URL.
    vi.stubEnv("AUTH_SECRET", "x".repeat(40));
    vi.stubEnv("KEYWARD_HSM_PIN", "1234");
    vi.stubEnv("KEYWARD_DATA_DIR", "/nonexistent-keyward");
    vi.stubEnv("KEYWARD_SMTP_URL", "");
    const callerFor = (who: Person, roles: ("admin" | "operator" | "approver" | "auditor")[]) =>
      createCaller(
        createContext({
          db,
          engine,
          clock: () => t0,
          session: {
            sessionId: "00000000-0000-4000-8000-000000000001",
            tokenId: "credential",
            member: { id: who.acting.id, name: "Tester", roles, groups: [] },
          },
        }),
      );
    const asApprover = callerFor(a3, ["approver"]);
    const mine = await asApprover.notifications.mine();
    expect(mine).toMatchObject({ emailOn: false, email: address.get(a3.acting.id) });
    expect(mine.emailOffReason).toMatch(/E-mail notifications are off/);
    expect((await asApprover.notifications.status()).email.on).toBe(false);
    await asApprover.notifications.updateMine({
      email: "a3-new@example.com",
      events: ["operation.proposed"],
    });
    expect(await asApprover.notifications.mine()).toMatchObject({
      email: "a3-new@example.com",
      events: ["operation.proposed"],
    });
    // Someone else's settings are untouched.
    expect((await callerFor(a2, ["approver"]).notifications.mine()).email).toBe(address.get(a2.acting.id));
    await expect(
      asApprover.notifications.updateMine({ email: "not an address", events: [] }),
    ).rejects.toThrow(/e-mail address/);
    await settings(a3, "a3");
    const code = async (p: Promise<unknown>) => {
      try {
        await p;
        return "ok";
      } catch (e) {
        return e instanceof TRPCError ? e.code : "ERROR";
      }
    };
    expect(await code(asApprover.notifications.webhooks())).toBe("FORBIDDEN");
    expect(await code(callerFor(vetoer, ["auditor"]).notifications.deliveries({ limit: 10 }))).toBe(
      "FORBIDDEN",
    );
    const asAdmin = callerFor(admin, ["admin"]);
    for (const url of [
      "http://hooks.example.com/x",
      "https://user:pw@hooks.example.com/x",
      "ftp://127.0.0.1/x",
    ]) {
      expect(
        await code(
          asAdmin.notifications.addWebhook({ url, description: "", events: ["operation.proposed"] }),
        ),
      ).toBe("BAD_REQUEST");
    }
    const added = await asAdmin.notifications.addWebhook({
      url: "https://hooks.example.com/keyward/T0KEN",
      description: "chat",
      events: ["operation.executed"],
    });
    expect(added.secret).toMatch(/^whsec_/);
    const listed = await asAdmin.notifications.webhooks();
    expect(JSON.stringify(listed)).not.toContain(added.secret);
    await asAdmin.notifications.disableWebhook({ endpointId: added.id });
    expect(await code(asAdmin.notifications.disableWebhook({ endpointId: added.id }))).toBe("CONFLICT");
    const log = await asAdmin.notifications.deliveries({ limit: 500 });
    expect(log.some((d) => d.state === "failed" && d.lastError === "HTTP 500 from the endpoint")).toBe(true);
    expect(JSON.stringify(log)).not.toContain(added.secret);
    // The trail names the endpoint's origin, not its path (which may itself be a credential).
    const [event] = await db
      .select({ data: auditEvents.data })
      .from(auditEvents)
      .where(and(eq(auditEvents.action, "webhook.added"), eq(auditEvents.subject, `webhook:${added.id}`)));
    expect(event?.data).toMatchObject({ origin: "https://hooks.example.com" });
    expect(JSON.stringify(event?.data)).not.toContain("T0KEN");
    vi.unstubAllEnvs();
  });

  it.runIf(engine === "postgres")(
    "two derivations and deliveries at once on two pools send each message once",
    async () => {
      const second: Database = await openDatabase({ engine: "postgres", url: database.url ?? "" });
      const receiver = await startTestReceiver();
      try {
        await addWebhook(db, {
          actorId: admin.acting.id,
          endpoint: {
            url: receiver.url,
            description: "concurrency receiver",
            events: ["operation.proposed"],
          },
          now: t0,
        });
        const before = smtp.mails.length;
        const proposed = [];
        for (let i = 0; i < 8; i++) proposed.push(await propose());
        const ids = proposed.map((p) => p.id);
        // Small claims in a loop from each handle, so the four runs contend for the same rows.
        const run = async (handle: Db) => {
          await deriveNotifications(handle, { now: t0, origin: ORIGIN, email: true });
          for (;;) {
            const r = await deliverDue(handle, { now: t0, mailer, webhook, limit: 2 });
            if (r.delivered + r.retrying + r.failed === 0) return;
          }
        };
        await Promise.all([run(db), run(second.db), run(db), run(second.db)]);
        const rows = await db
          .select()
          .from(notificationDeliveries)
          .where(and(eq(notificationDeliveries.channel, "email"), ofOperations(ids)));
        expect(rows).toHaveLength(ids.length * 3);
        expect(rows.every((r) => r.state === "delivered" && r.attempts === 1)).toBe(true);
        const pairs = smtp.mails
          .slice(before)
          .flatMap((m) => ids.filter((id) => m.text?.includes(id)).map((id) => `${id} ${to(m)[0]}`));
        expect(pairs).toHaveLength(ids.length * 3);
        expect(new Set(pairs).size).toBe(ids.length * 3);
        // The receiver got each operation once.
        const hooks = ids.map((id) => receiver.requests.filter((r) => r.body.includes(id)).length);
        expect(hooks).toEqual(ids.map(() => 1));
      } finally {
        await receiver.close();
        await second.close();
      }
    },
  );
});
