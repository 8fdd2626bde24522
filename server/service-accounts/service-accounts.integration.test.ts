// Service accounts against real PGlite and PostgreSQL, through the domain functions and the HTTP handlers (no
// fakes): a key is shown once and only its hash is stored; it authenticates until revoked or expired; scopes
// are enforced and refusals audited as "service:<id>"; the per-account rate limit answers 429 with Retry-After;
// an operation a service account proposes is stored with it as the one initiator and audited as it; the
// Idempotency-Key store answers once per key (two truly concurrent requests on PostgreSQL create one operation)
// and refuses the key with another body; the OpenAPI document carries the handlers' own schemas.
import { and, count, eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { Db } from "@/db/client";
import { auditEvents, idempotencyKeys, operations, serviceAccounts, webhookEndpoints } from "@/db/schema";
import { AppError } from "@/server/errors";
import { proposeAsService } from "@/server/operations/propose";
import { firstAdmin, type Person } from "@/server/testing/identity-fixtures";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";
import { secretHash, splitApiKey } from "./api-key";
import { authenticateServiceKey } from "./authenticate";
import { getWithdrawal, postWithdrawal } from "./http";
import { answerOnce, bodyDigest } from "./idempotency";
import { createServiceAccount, listServiceAccounts, revokeServiceAccount } from "./manage";
import { openApiDocument } from "./openapi";
import { memoryServiceRateLimits } from "./rate-limit";

const T0 = new Date("2026-06-01T09:00:00.000Z");
const DAY = 86_400_000;
const keyPayload = (label: string) => ({ label, curve: "p256", tags: ["api"], exportable: "wrapped" });

async function refusal(call: Promise<unknown>): Promise<AppError> {
  const e = await call.then(
    () => {
      throw new Error("expected a refusal");
    },
    (err: unknown) => err,
  );
  if (!(e instanceof AppError)) throw e;
  return e;
}

describe.each(testEngines())("service accounts on %s", (engine) => {
  const database = useTestDatabase(engine);
  let db: Db;
  let admin: Person;
  let n = 0;

  beforeAll(async () => {
    db = database();
    admin = await firstAdmin(db, { now: T0 });
  });

  afterAll(() => {
    vi.restoreAllMocks();
  });

  const create = (options: { scopes?: ("withdrawals:propose" | "withdrawals:read")[]; rate?: number } = {}) =>
    createServiceAccount(db, {
      actorId: admin.acting.id,
      account: {
        name: `backend-${engine}-${++n}`,
        scopes: options.scopes ?? ["withdrawals:propose", "withdrawals:read"],
        expiresInDays: 30,
        ratePerMinute: options.rate ?? 600,
      },
      now: T0,
    });

  const deps = (rate = memoryServiceRateLimits(), at = T0) => ({ db, clock: () => at, limits: rate });

  const request = (key: string | null, init: RequestInit & { path?: string } = {}) =>
    new Request(`http://localhost:3000${init.path ?? "/api/v1/withdrawals"}`, {
      ...init,
      headers: { ...(key ? { Authorization: `Bearer ${key}` } : {}), ...(init.headers ?? {}) },
    });

  it("shows the key once, stores only the SHA-256 of its secret, and never logs it", async () => {
    const logs = [vi.spyOn(console, "log"), vi.spyOn(console, "error"), vi.spyOn(console, "warn")];
    const made = await create();
    const parts = splitApiKey(made.apiKey);
    expect(parts).not.toBeNull();
    const secret = parts?.secret ?? "";
    expect(made.keyPrefix).toBe(parts?.prefix);
    const [row] = await db.select().from(serviceAccounts).where(eq(serviceAccounts.id, made.id));
    expect(row?.keyHash).toBe(secretHash(secret));
    // Authenticated and refused once each, then every table read back as text: the secret is nowhere.
    await authenticateServiceKey(db, { authorization: `Bearer ${made.apiKey}`, now: T0 });
    await refusal(
      authenticateServiceKey(db, { authorization: `Bearer ${made.keyPrefix}_${"A".repeat(43)}`, now: T0 }),
    );
    const text = JSON.stringify([
      await db.select().from(serviceAccounts),
      await db.select().from(auditEvents),
      await db.select().from(webhookEndpoints),
      await db.select().from(idempotencyKeys),
    ]);
    expect(text).toContain(made.keyPrefix);
    expect(text).not.toContain(secret);
    for (const spy of logs) for (const call of spy.mock.calls) expect(call.join(" ")).not.toContain(secret);
    // Listed without the key.
    const listed = (await listServiceAccounts(db, T0)).find((a) => a.id === made.id);
    expect(listed).toMatchObject({ state: "active", keyPrefix: made.keyPrefix });
    expect(JSON.stringify(listed)).not.toContain(secret);
  });

  it("authenticates a key until it expires or is revoked, and never a wrong, malformed or missing one", async () => {
    const made = await create();
    const auth = (authorization: string | null, now = T0) =>
      authenticateServiceKey(db, { authorization, now });
    expect((await auth(`Bearer ${made.apiKey}`)).id).toBe(made.id);
    const parts = splitApiKey(made.apiKey);
    const wrong = `${parts?.prefix}_${(parts?.secret ?? "").replace(/^./, (c) => (c === "A" ? "B" : "A"))}`;
    for (const bad of [
      null,
      "",
      "Basic abc",
      `Bearer ${wrong}`,
      "Bearer kw_nothing",
      `Bearer ${made.apiKey}x`,
    ])
      expect((await refusal(auth(bad))).code).toBe("UNAUTHENTICATED");
    const justBefore = new Date(made.expiresAt.getTime() - 1);
    expect((await auth(`Bearer ${made.apiKey}`, justBefore)).id).toBe(made.id);
    const expired = await refusal(auth(`Bearer ${made.apiKey}`, made.expiresAt));
    expect(expired).toMatchObject({ code: "UNAUTHENTICATED" });
    expect(expired.message).toContain("expired");
    await revokeServiceAccount(db, {
      actorId: admin.acting.id,
      id: made.id,
      now: new Date(T0.getTime() + 1000),
    });
    const revoked = await refusal(auth(`Bearer ${made.apiKey}`, new Date(T0.getTime() + 2000)));
    expect(revoked.message).toContain("revoked");
    expect(
      (await refusal(revokeServiceAccount(db, { actorId: admin.acting.id, id: made.id, now: T0 }))).code,
    ).toBe("CONFLICT");
    const refused = await db
      .select({ actor: auditEvents.actor, data: auditEvents.data })
      .from(auditEvents)
      .where(
        and(eq(auditEvents.action, "service_account.refused"), eq(auditEvents.subject, `service:${made.id}`)),
      );
    expect(refused.map((r) => r.data)).toEqual([
      { serviceAccountId: made.id, reason: "expired" },
      { serviceAccountId: made.id, reason: "revoked" },
    ]);
    expect(refused.every((r) => r.actor === `service:${made.id}`)).toBe(true);
    // Through HTTP: 401 problem+json with WWW-Authenticate.
    const answer = await getWithdrawal(request(made.apiKey, { path: "/x" }), crypto.randomUUID(), deps());
    expect(answer.status).toBe(401);
    expect(answer.headers.get("content-type")).toBe("application/problem+json");
    expect(answer.headers.get("www-authenticate")).toContain("Bearer");
    expect(await answer.json()).toMatchObject({
      status: 401,
      code: "UNAUTHENTICATED",
      field: "Authorization",
    });
  });

  it("only admins create and revoke", async () => {
    const e = await refusal(
      createServiceAccount(db, {
        actorId: crypto.randomUUID(),
        account: { name: "intruder", scopes: ["withdrawals:read"], expiresInDays: 1 },
        now: T0,
      }),
    );
    expect(e.code).toBe("FORBIDDEN");
    const bad = await refusal(
      createServiceAccount(db, {
        actorId: admin.acting.id,
        account: { name: `dup-${engine}`, scopes: ["withdrawals:read"], expiresInDays: 400 },
        now: T0,
      }).catch((err: unknown) => {
        // zod refuses before the transaction: turned into the field it names.
        if (err instanceof Error && "issues" in err)
          throw new AppError("BAD_INPUT", "expiresInDays", { field: "expiresInDays" });
        throw err;
      }),
    );
    expect(bad.field).toBe("expiresInDays");
  });

  it("enforces scopes and audits the refusal", async () => {
    const reader = await create({ scopes: ["withdrawals:read"] });
    const proposer = await create({ scopes: ["withdrawals:propose"] });
    const post = await postWithdrawal(
      request(reader.apiKey, { method: "POST", headers: { "Idempotency-Key": "k1" }, body: "{}" }),
      deps(),
    );
    expect(post.status).toBe(403);
    expect(await post.json()).toMatchObject({
      code: "FORBIDDEN",
      detail: expect.stringContaining("withdrawals:propose"),
    });
    const get = await getWithdrawal(request(proposer.apiKey), crypto.randomUUID(), deps());
    expect(get.status).toBe(403);
    // The scope it has lets it through to the next check: input (400 naming the field) or the lookup (404).
    const invalid = await postWithdrawal(
      request(proposer.apiKey, {
        method: "POST",
        headers: { "Idempotency-Key": "k1", "Content-Type": "application/json" },
        body: JSON.stringify({ keyId: "nope" }),
      }),
      deps(),
    );
    expect(invalid.status).toBe(400);
    expect(await invalid.json()).toMatchObject({ code: "BAD_INPUT", field: "keyId" });
    const noKey = await postWithdrawal(request(proposer.apiKey, { method: "POST", body: "{}" }), deps());
    expect(await noKey.json()).toMatchObject({ status: 400, field: "Idempotency-Key" });
    expect((await getWithdrawal(request(reader.apiKey), crypto.randomUUID(), deps())).status).toBe(404);
    expect((await getWithdrawal(request(reader.apiKey), "not-a-uuid", deps())).status).toBe(400);
    const [scoped] = await db
      .select({ n: count() })
      .from(auditEvents)
      .where(
        and(eq(auditEvents.action, "service_account.refused"), eq(auditEvents.actor, `service:${reader.id}`)),
      );
    expect(scoped?.n).toBe(1);
  });

  it("answers 429 with Retry-After once the account's requests per minute are spent", async () => {
    const made = await create({ rate: 3 });
    const other = await create({ rate: 3 });
    const limits = memoryServiceRateLimits();
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++)
      statuses.push((await getWithdrawal(request(made.apiKey), crypto.randomUUID(), deps(limits))).status);
    expect(statuses).toEqual([404, 404, 404, 429]);
    const limited = await getWithdrawal(request(made.apiKey), crypto.randomUUID(), deps(limits));
    expect(limited.status).toBe(429);
    const retry = Number(limited.headers.get("retry-after"));
    expect(retry).toBeGreaterThanOrEqual(1);
    expect(retry).toBeLessThanOrEqual(60);
    expect(await limited.json()).toMatchObject({ code: "RATE_LIMITED", status: 429 });
    // Another account's budget is its own.
    expect((await getWithdrawal(request(other.apiKey), crypto.randomUUID(), deps(limits))).status).toBe(404);
  });

  it("stores an operation a service account proposes with it as the one initiator, audited as service:<id>", async () => {
    const made = await create();
    const op = await db.transaction((tx) =>
      proposeAsService(tx, {
        serviceAccountId: made.id,
        kind: "key.create",
        payload: keyPayload("svc key"),
        now: T0,
      }),
    );
    expect(op).toMatchObject({
      initiatorId: null,
      systemInitiator: null,
      serviceAccountId: made.id,
      state: "pending",
    });
    const [event] = await db
      .select({ actor: auditEvents.actor, data: auditEvents.data })
      .from(auditEvents)
      .where(
        and(eq(auditEvents.action, "operation.proposed"), eq(auditEvents.subject, `operation:${op.id}`)),
      );
    expect(event?.actor).toBe(`service:${made.id}`);
    expect(event?.data).toMatchObject({ operationId: op.id, serviceAccountId: made.id });
    // Exactly one initiator: a member and a service account together are refused by the database.
    const both = await db
      .update(operations)
      .set({ initiatorId: admin.acting.id })
      .where(eq(operations.id, op.id))
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(String((both as { cause?: { message?: string } })?.cause?.message ?? both)).toContain(
      "operations_one_initiator",
    );
  });

  it("answers an Idempotency-Key once: the same body gets the first answer, another body a 409", async () => {
    const made = await create();
    const body = { label: "idem", n: 1 };
    const run = (b: unknown) =>
      answerOnce(
        db,
        { serviceAccountId: made.id, key: "same-key", digest: bodyDigest(b), now: T0 },
        async (tx) => {
          const op = await proposeAsService(tx, {
            serviceAccountId: made.id,
            kind: "key.create",
            payload: keyPayload("idem"),
            now: T0,
          });
          return { operationId: op.id, status: 201, body: { id: op.id, state: op.state } };
        },
      );
    const first = await run(body);
    const again = await run({ n: 1, label: "idem" });
    expect(again).toEqual({ ...first, replayed: true });
    expect(first.replayed).toBe(false);
    const other = await refusal(run({ label: "idem", n: 2 }));
    expect(other).toMatchObject({ code: "CONFLICT", field: "Idempotency-Key" });
    const made2 = await create();
    // The same key of another account is another key.
    const theirs = await answerOnce(
      db,
      { serviceAccountId: made2.id, key: "same-key", digest: bodyDigest(body), now: T0 },
      async (tx) => {
        const op = await proposeAsService(tx, {
          serviceAccountId: made2.id,
          kind: "key.create",
          payload: keyPayload("idem2"),
          now: T0,
        });
        return { operationId: op.id, status: 201, body: { id: op.id } };
      },
    );
    expect(theirs.replayed).toBe(false);
    // A create that fails leaves no key behind: the same key works afterwards.
    await refusal(
      answerOnce(
        db,
        { serviceAccountId: made.id, key: "fails", digest: bodyDigest(body), now: T0 },
        async () => {
          throw new AppError("CONFLICT", "refused by the policy");
        },
      ),
    );
    const [left] = await db
      .select({ n: count() })
      .from(idempotencyKeys)
      .where(and(eq(idempotencyKeys.serviceAccountId, made.id), eq(idempotencyKeys.key, "fails")));
    expect(left?.n).toBe(0);
  });

  it.runIf(engine === "postgres")(
    "two truly concurrent requests with one Idempotency-Key create one operation",
    async () => {
      const made = await create();
      for (let round = 0; round < 5; round++) {
        const key = `race-${round}`;
        let creates = 0;
        const run = () =>
          answerOnce(
            db,
            { serviceAccountId: made.id, key, digest: bodyDigest({ round }), now: T0 },
            async (tx) => {
              creates++;
              const op = await proposeAsService(tx, {
                serviceAccountId: made.id,
                kind: "key.create",
                payload: keyPayload(`race ${round}`),
                now: T0,
              });
              // Hold the claim open so the other request is sure to arrive while it is.
              await tx.execute(sql`SELECT pg_sleep(0.2)`);
              return { operationId: op.id, status: 201, body: { id: op.id } };
            },
          );
        const [a, b] = await Promise.all([run(), run()]);
        expect(a?.body).toEqual(b?.body);
        expect([a?.replayed, b?.replayed].sort()).toEqual([false, true]);
        expect(creates).toBe(1);
        const [ops] = await db
          .select({ n: count() })
          .from(operations)
          .where(
            and(
              eq(operations.serviceAccountId, made.id),
              sql`${operations.payload}->>'label' = ${`race ${round}`}`,
            ),
          );
        expect(ops?.n).toBe(1);
      }
    },
  );

  it("expires keys after at most a year and lists states", async () => {
    const made = await create();
    expect(made.expiresAt.getTime() - T0.getTime()).toBe(30 * DAY);
    const later = (await listServiceAccounts(db, new Date(T0.getTime() + 31 * DAY))).find(
      (a) => a.id === made.id,
    );
    expect(later?.state).toBe("expired");
  });
});

describe("the OpenAPI document", () => {
  it("is OpenAPI 3.1 with both paths, the handlers' own body schema and the Idempotency-Key header", () => {
    const doc = openApiDocument();
    expect(doc.openapi).toBe("3.1.0");
    const post = doc.paths?.["/api/v1/withdrawals"]?.post;
    expect(post?.parameters).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ in: "header", name: "Idempotency-Key", required: true }),
      ]),
    );
    const input = doc.components?.schemas?.WithdrawalInput as {
      properties?: Record<string, unknown>;
      required?: string[];
    };
    expect(Object.keys(input.properties ?? {})).toEqual(
      expect.arrayContaining(["keyId", "chain", "asset", "amount", "destination", "feeCap", "psbt", "note"]),
    );
    expect(input.required).toEqual(
      expect.arrayContaining(["keyId", "chain", "asset", "amount", "destination", "feeCap"]),
    );
    expect(Object.keys(post?.responses ?? {})).toEqual(
      expect.arrayContaining(["201", "400", "401", "403", "409", "429"]),
    );
    expect(doc.paths?.["/api/v1/withdrawals/{id}"]?.get?.responses?.["404"]).toBeDefined();
    expect(doc.components?.schemas?.Problem).toBeDefined();
  });
});
