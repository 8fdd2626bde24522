// The HTTP API end to end on PGlite and PostgreSQL with a real SoftHSM key and the EDR chain: a service account
// POSTs an ETH withdrawal with an Idempotency-Key (the same key and body return the same withdrawal; another body
// is a 409 problem naming Idempotency-Key; several truly concurrent POSTs on PostgreSQL make one withdrawal);
// approvers approve it, the executor signs it, the tracker broadcasts it and EDR mines it, and GET shows the txid
// and confirmations. Bad input is a 400 naming the field and creates nothing.
import { and, count, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Webhook } from "standardwebhooks";
import { idempotencyKeys, keys, operations, votes } from "@/db/schema";
import { integrateAudit } from "@/server/audit/integrate";
import { installChainConfig } from "@/server/chains/current";
import { installChainClients } from "@/server/chains/registry";
import { addressOn } from "@/server/custody/addresses";
import { NATIVE_ASSETS } from "@/server/custody/assets";
import { startTestEvm, type TestEvm } from "@/server/custody/testing/evm";
import { createTestToken, type TestToken } from "@/server/hsm/testing/test-token";
import { deliverDue } from "@/server/notify/deliver";
import { deriveNotifications } from "@/server/notify/derive";
import { fetchWebhookSender } from "@/server/notify/senders";
import { startTestReceiver, type TestReceiver } from "@/server/notify/testing/receiver";
import { runExecutorRound } from "@/server/operations/executor/run";
import { useTokenForServer } from "@/server/operations/executor/testing/fixtures";
import { updatePolicy } from "@/server/operations/policy-store";
import { proposeOperation } from "@/server/operations/propose";
import { approveInTurn } from "@/server/operations/testing/approve";
import {
  TEST_WEBAUTHN_CONFIG as config,
  firstAdmin,
  invitedMember,
  type Person,
} from "@/server/testing/identity-fixtures";
import { createTestDatabase, type TestDatabase, testEngines } from "@/server/testing/test-db";
import { trackWithdrawals } from "@/server/withdrawals/broadcast";
import { getWithdrawal, postWithdrawal } from "./http";
import { createServiceAccount } from "./manage";
import { memoryServiceRateLimits } from "./rate-limit";

let token: TestToken;
let server: ReturnType<typeof useTokenForServer>;
let evm: TestEvm;

beforeAll(async () => {
  token = createTestToken("kw-api");
  server = useTokenForServer(token);
  evm = await startTestEvm();
  installChainClients({ ethereum: evm.client, solana: null });
}, 60_000);

afterAll(async () => {
  installChainClients(null);
  installChainConfig(null);
  await server.close();
  token.cleanup();
});

const ETH = 10n ** 18n;
const receiver = "0x000000000000000000000000000000000000dEaD";

describe.each(testEngines())("the HTTP API on %s", (engine) => {
  let database: TestDatabase;
  let admin: Person;
  let approvers: Person[];
  let apiKey: string;
  let webhookSecret: string;
  let receiverHook: TestReceiver;
  let accountId: string;
  let keyId: string;
  const now = new Date("2027-03-02T10:00:00.000Z");
  const clock = () => now;
  const noWait = { attempts: 3, backoffMs: 0, maxBackoffMs: 0 };
  const limits = memoryServiceRateLimits();
  const deps = () => ({ db: database.db, clock, limits });

  beforeAll(async () => {
    database = await createTestDatabase(engine);
    admin = await firstAdmin(database.db, { now });
    const operator = await invitedMember(database.db, admin.acting, { now, roles: ["operator"] });
    approvers = [
      await invitedMember(database.db, admin.acting, { now, roles: ["approver"] }),
      await invitedMember(database.db, admin.acting, { now, roles: ["approver"] }),
    ];
    const networks = { bitcoin: "regtest", ethereum: { chainId: evm.chainId }, solana: "localnet" } as const;
    installChainConfig({
      networks,
      rpc: { ethereum: null, solana: null },
      confirmations: { ethereum: 1, solana: 1 },
      assets: [NATIVE_ASSETS.bitcoin, NATIVE_ASSETS.ethereum, NATIVE_ASSETS.solana],
      assetsSource: "test",
    });
    const created = await proposeOperation(database.db, {
      actor: operator.acting,
      kind: "key.create",
      payload: { label: `api hot ${engine}`, curve: "secp256k1", tags: ["hot"], exportable: "never" },
      now,
    });
    await approveInTurn(database.db, config, { operationId: created.id, voters: approvers, now });
    await runExecutorRound({ db: database.db, clock, retry: noWait }, { concurrency: 1 });
    const [key] = await database.db.select().from(keys).where(eq(keys.operationId, created.id));
    if (key?.state !== "active") throw new Error("the key is not active");
    keyId = key.id;
    await evm.setBalance(addressOn(key, "ethereum", networks) ?? "", 10n * ETH);
    receiverHook = await startTestReceiver();
    const account = await createServiceAccount(database.db, {
      actorId: admin.acting.id,
      account: {
        name: `exchange-${engine}`,
        scopes: ["withdrawals:propose", "withdrawals:read"],
        expiresInDays: 30,
        webhookUrl: receiverHook.url,
      },
      now,
    });
    apiKey = account.apiKey;
    webhookSecret = account.webhookSecret ?? "";
    accountId = account.id;
  }, 120_000);

  afterAll(async () => {
    await receiverHook.close();
    await database.drop();
  });

  const body = (over: Record<string, unknown> = {}) => ({
    keyId,
    chain: "ethereum",
    asset: "ETH",
    amount: "0.1",
    destination: receiver,
    feeCap: "0.001",
    ...over,
  });

  const post = (idempotencyKey: string, payload: unknown, raw?: string) =>
    postWithdrawal(
      new Request("http://localhost:3000/api/v1/withdrawals", {
        method: "POST",
        headers: {
          Authorization: `Bearer ${apiKey}`,
          "Content-Type": "application/json",
          "Idempotency-Key": idempotencyKey,
        },
        body: raw ?? JSON.stringify(payload),
      }),
      deps(),
    );

  const get = (id: string) =>
    getWithdrawal(
      new Request(`http://localhost:3000/api/v1/withdrawals/${id}`, {
        headers: { Authorization: `Bearer ${apiKey}` },
      }),
      id,
      deps(),
    );

  const withdrawalsOf = async () =>
    (
      await database.db
        .select({ n: count() })
        .from(operations)
        .where(and(eq(operations.serviceAccountId, accountId), eq(operations.kind, "withdrawal")))
    )[0]?.n ?? 0;

  it("proposes once per Idempotency-Key, refuses the key with another body, and follows it to confirmed", async () => {
    const first = await post(`pay-1-${engine}`, body());
    expect(first.status).toBe(201);
    const created = await first.json();
    expect(created).toMatchObject({
      state: "pending",
      chain: "ethereum",
      asset: "ETH",
      amount: (ETH / 10n).toString(),
      decimals: 18,
      destination: receiver,
      transaction: null,
    });
    expect(first.headers.get("location")).toBe(`/api/v1/withdrawals/${created.id}`);
    // The same body, its keys in another order and spaced otherwise: the same answer, nothing new.
    const { amount, ...rest } = body();
    const again = await post(`pay-1-${engine}`, null, JSON.stringify({ amount, ...rest }, null, 2));
    expect(again.status).toBe(201);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(await again.json()).toEqual(created);
    const other = await post(`pay-1-${engine}`, body({ amount: "0.2" }));
    expect(other.status).toBe(409);
    expect(other.headers.get("content-type")).toBe("application/problem+json");
    expect(await other.json()).toMatchObject({ status: 409, code: "CONFLICT", field: "Idempotency-Key" });
    expect(await withdrawalsOf()).toBe(1);

    // Approved by two approvers (the default rule), signed by the executor, broadcast and mined.
    expect(
      await approveInTurn(database.db, config, { operationId: created.id, voters: approvers, now }),
    ).toBe("approved");
    await runExecutorRound({ db: database.db, clock, retry: noWait }, { concurrency: 1 });
    const signed = await (await get(created.id)).json();
    expect(signed).toMatchObject({ state: "executed", transaction: { state: "signed", confirmations: 0 } });
    const tracker = {
      db: database.db,
      clock,
      clients: { ethereum: evm.client },
      confirmations: { ethereum: 1, solana: 1 },
    };
    await trackWithdrawals(tracker);
    await evm.mine(1);
    await trackWithdrawals(tracker);
    const confirmed = await get(created.id);
    expect(confirmed.status).toBe(200);
    const status = await confirmed.json();
    expect(status.transaction).toMatchObject({
      state: "confirmed",
      txid: expect.stringMatching(/^0x[0-9a-f]{64}$/),
    });
    expect(status.transaction.confirmations).toBeGreaterThanOrEqual(1);
    expect((await evm.receipt(status.transaction.txid))?.status).toBe("success");

    // The account's status webhook heard each step, signed with the secret shown at creation.
    await integrateAudit(database.db);
    await deriveNotifications(database.db, { now, origin: "http://localhost:3000", email: false });
    await deliverDue(database.db, { now, mailer: null, webhook: fetchWebhookSender() });
    const hooks = receiverHook.requests.map((r) => {
      const header = (name: string) => String(r.headers[name] ?? "");
      const expected = new Webhook(webhookSecret).sign(
        header("webhook-id"),
        new Date(Number(header("webhook-timestamp")) * 1000),
        r.body,
      );
      expect(header("webhook-signature")).toBe(expected);
      return JSON.parse(r.body) as { type: string; data: Record<string, unknown> };
    });
    expect(hooks.map((h) => h.type).sort()).toEqual([
      "operation.executed",
      "withdrawal.broadcast",
      "withdrawal.confirmed",
    ]);
    expect(hooks.find((h) => h.type === "withdrawal.confirmed")?.data).toMatchObject({
      operationId: created.id,
      state: "confirmed",
      txid: status.transaction.txid,
      confirmations: status.transaction.confirmations,
    });
  });

  it("refuses bad input with a 400 naming the field, and creates nothing", async () => {
    const before = await withdrawalsOf();
    const cases: [Record<string, unknown>, string][] = [
      [body({ amount: "-1" }), "amount"],
      [body({ amount: "abc" }), "amount"],
      [body({ chain: "dogecoin" }), "chain"],
      [body({ destination: "0x000000000000000000000000000000000000DeAd" }), "destination"],
      [body({ asset: "NOPE" }), "asset"],
      [body({ amount: "0.0000000000000000001" }), "amount"],
      [{ ...body(), extra: 1 }, "body"],
    ];
    for (const [i, [payload, field]] of cases.entries()) {
      const answer = await post(`bad-${i}-${engine}`, payload);
      const problem = await answer.json();
      expect({ i, status: answer.status, field: problem.field }).toEqual({ i, status: 400, field });
      expect(problem.detail).toEqual(expect.any(String));
    }
    const notJson = await post(`bad-json-${engine}`, null, "{not json");
    expect(await notJson.json()).toMatchObject({ status: 400, field: "body" });
    expect(await withdrawalsOf()).toBe(before);
    const [keysLeft] = await database.db
      .select({ n: count() })
      .from(idempotencyKeys)
      .where(eq(idempotencyKeys.serviceAccountId, accountId));
    // Only the first test's key: a refused request leaves its key unused.
    expect(keysLeft?.n).toBe(1);
  });

  it.runIf(engine === "postgres")(
    "several truly concurrent POSTs with one Idempotency-Key make one withdrawal",
    async () => {
      for (let round = 0; round < 3; round++) {
        const before = await withdrawalsOf();
        const answers = await Promise.all(
          Array.from({ length: 6 }, () => post(`race-${round}`, body({ amount: `0.00${round + 1}` }))),
        );
        const bodies = await Promise.all(answers.map((a) => a.json()));
        expect(answers.map((a) => a.status)).toEqual(Array(6).fill(201));
        expect(new Set(bodies.map((b) => b.id)).size).toBe(1);
        expect(answers.filter((a) => a.headers.get("idempotent-replayed") === "true")).toHaveLength(5);
        expect(await withdrawalsOf()).toBe(before + 1);
      }
    },
  );

  it("shows an account only its own withdrawals", async () => {
    const other = await createServiceAccount(database.db, {
      actorId: admin.acting.id,
      account: { name: `other-${engine}`, scopes: ["withdrawals:read"], expiresInDays: 1 },
      now,
    });
    const mine = await (await post(`mine-${engine}`, body({ amount: "0.01" }))).json();
    const theirs = await getWithdrawal(
      new Request("http://localhost:3000/x", { headers: { Authorization: `Bearer ${other.apiKey}` } }),
      mine.id,
      deps(),
    );
    expect(theirs.status).toBe(404);
    expect((await get(mine.id)).status).toBe(200);
  });

  // Last in the file: it puts an automatic rule in force for the rest of this engine's run.
  it("executes a small API withdrawal under an automatic rule with no vote, and leaves a larger one to the quorum", async () => {
    await updatePolicy(database.db, {
      actor: admin.acting,
      now,
      document: {
        version: 1,
        rules: [
          {
            id: "api-small-eth",
            description: "The backend's small ether withdrawals, no vote",
            match: {
              kinds: ["withdrawal"],
              initiators: ["service"],
              assets: [{ chain: "ethereum", symbol: "ETH" }],
              amount: { below: (ETH / 2n).toString() },
            },
            automatic: true,
            velocity: [
              {
                per: "chain",
                asset: { chain: "ethereum", symbol: "ETH" },
                limit: (5n * ETH).toString(),
                windowHours: 24,
                over: "deny",
              },
            ],
          },
        ],
        default: { require: [{ group: "approvers", approvals: 2 }] },
      },
    });
    const small = await post(`auto-small-${engine}`, body({ amount: "0.2" }));
    expect(small.status).toBe(201);
    const approved = await small.json();
    // Approved in its proposing transaction: nobody voted.
    expect(approved.state).toBe("approved");
    const [votesCast] = await database.db
      .select({ n: count() })
      .from(votes)
      .where(eq(votes.operationId, approved.id));
    expect(votesCast?.n).toBe(0);
    await runExecutorRound({ db: database.db, clock, retry: noWait }, { concurrency: 1 });
    expect(await (await get(approved.id)).json()).toMatchObject({
      state: "executed",
      transaction: { state: "signed" },
    });
    // Over the automatic tier: the default rule, two approvals, still to come.
    const large = await (await post(`auto-large-${engine}`, body({ amount: "0.7" }))).json();
    expect(large.state).toBe("pending");
  });
});
