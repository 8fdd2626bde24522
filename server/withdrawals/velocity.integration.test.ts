// Velocity that holds under concurrency (issue 14 item 6), on PostgreSQL with truly concurrent transactions (and
// on PGlite, where they run one after another): 100 withdrawals of 1 ETH each, each with one approval of two,
// under a rule capping ETH at 10 ETH a day; the 100 final approvals are completed at the same time. Exactly 10
// become approved — together never more than the cap — and the other 90 are cancelled with the reason saying by
// how much ("over the 24 h limit of 10 ETH by 1 ETH"). Without the velocity lock (velocity-lock.ts) the final
// votes read the history concurrently and approve far more than 10 (checked by removing the lock: see the
// commit message). Also: the execution's recheck (velocity-recheck.ts) refuses, with the excess, an approved
// withdrawal whose cap was lowered since, and takes the lock (seen in pg_locks from another connection).
import { secp256k1 } from "@noble/curves/secp256k1";
import { eq, inArray } from "drizzle-orm";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "@/db/client";
import { keys, operations } from "@/db/schema";
import { parseChainConfig } from "@/server/chains/config";
import { installChainConfig } from "@/server/chains/current";
import { installChainClients } from "@/server/chains/registry";
import { ethereumAddress } from "@/server/custody/ethereum";
import { proposeOperation } from "@/server/operations/propose";
import { approveInTurn } from "@/server/operations/testing/approve";
import { beginVote, completeVote } from "@/server/operations/vote";
import { updatePolicy } from "@/server/operations/policy-store";
import { DEFAULT_POLICY } from "@/server/policy/document";
import type { PolicyDocument } from "@/server/policy/schema";
import {
  TEST_WEBAUTHN_CONFIG as config,
  firstAdmin,
  invitedMember,
} from "@/server/testing/identity-fixtures";
import { createTestDatabase, type TestDatabase, testEngines } from "@/server/testing/test-db";
import { VELOCITY_LOCK_CLASS } from "./velocity-lock";
import { recheckVelocity } from "./velocity-recheck";

const T0 = new Date("2026-12-02T10:00:00.000Z");
const ETH = 10n ** 18n;
const N = 100;
const FINAL_VOTERS = 20;
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const publicKey = hex(secp256k1.getPublicKey(Uint8Array.from([...new Uint8Array(31), 7]), false));
const DESTINATION = ethereumAddress(
  hex(secp256k1.getPublicKey(Uint8Array.from([...new Uint8Array(31), 9]), false)),
);

const capped = (limitEth: bigint): PolicyDocument => ({
  ...DEFAULT_POLICY,
  rules: [
    {
      id: "eth-daily-cap",
      description: "ETH withdrawals: two approvals, at most the limit a day across every key",
      match: { kinds: ["withdrawal"], assets: [{ chain: "ethereum", symbol: "ETH" }] },
      require: [{ group: "approvers", approvals: 2 }],
      velocity: [
        {
          per: "chain",
          asset: { chain: "ethereum", symbol: "ETH" },
          limit: (limitEth * ETH).toString(),
          windowHours: 24,
          over: "deny",
        },
      ],
    },
  ],
});

beforeAll(() => {
  installChainConfig(parseChainConfig({ KEYWARD_ETHEREUM_CHAIN_ID: "31337" }));
  installChainClients({ ethereum: null, solana: null });
});
afterAll(() => {
  installChainConfig(null);
  installChainClients(null);
});

describe.each(testEngines())("velocity under concurrency on %s", (engine) => {
  let database: TestDatabase | undefined;
  afterEach(async () => {
    await database?.drop();
    database = undefined;
  });

  async function setup(limitEth: bigint) {
    database = await createTestDatabase(engine);
    const db = database.db;
    const ada = await firstAdmin(db, { now: T0 });
    const otto = await invitedMember(db, ada.acting, { now: T0, roles: ["operator"], name: "Otto Operator" });
    const v1 = await invitedMember(db, ada.acting, { now: T0, roles: ["approver"], name: "Vera One" });
    const v2 = await invitedMember(db, ada.acting, { now: T0, roles: ["approver"], name: "Vic Two" });
    // Final approvers: one voter's votes also queue on their token's row (its counter), so several voters make
    // the final votes truly concurrent.
    const finals = [v2];
    for (let i = 0; i < FINAL_VOTERS - 1; i++)
      finals.push(await invitedMember(db, ada.acting, { now: T0, roles: ["approver"], name: `Final ${i}` }));
    await updatePolicy(db, { actor: ada.acting, document: capped(limitEth), now: T0 });
    const [key] = await db
      .insert(keys)
      .values({
        label: "hot-1",
        curve: "secp256k1",
        tags: ["hot"],
        state: "active",
        hsmRef: "velocity-test-key",
        publicKey,
        exportable: "never",
      })
      .returning({ id: keys.id });
    if (!key) throw new Error("no key");
    const propose = (amount: string) =>
      proposeOperation(db, {
        actor: otto.acting,
        kind: "withdrawal",
        payload: {
          keyId: key.id,
          chain: "ethereum",
          asset: "ETH",
          amount,
          destination: DESTINATION,
          feeCap: "0.01",
        },
        now: T0,
      });
    return { db, ada, otto, v1, v2, finals, propose };
  }

  it(`${N} concurrent final approvals against a 10 ETH cap: exactly 10 approved, 90 cancelled saying by how much`, async () => {
    const { db, v1, finals, propose } = await setup(10n);
    const ids: string[] = [];
    for (let i = 0; i < N; i++) ids.push((await propose("1")).id);
    // One approval of two each (one at a time: pending amounts do not count).
    for (const id of ids) await approveInTurn(db, config, { operationId: id, voters: [v1], now: T0 });
    // The final approvals: challenges first, then every completion at once.
    const taps = [];
    for (const [i, operationId] of ids.entries()) {
      const voter = finals[i % finals.length];
      if (!voter) throw new Error("no voter");
      const vote = { voter: voter.acting, operationId, decision: "approve" as const, now: T0 };
      const begun = await beginVote(db, config, vote);
      // Counter 0 (a token without a counter): the taps complete in any order without a counter regression.
      taps.push({ ...vote, response: voter.token.authenticate(begun.options, { counter: 0 }) });
    }
    const outcomes = await Promise.all(taps.map((t) => completeVote(db, config, t)));
    const approved = outcomes.filter((o) => o.state === "approved");
    const cancelled = outcomes.filter((o) => o.state === "cancelled");
    expect(approved).toHaveLength(10);
    expect(cancelled).toHaveLength(N - 10);
    for (const o of cancelled)
      expect(o.evaluation.reasons).toEqual(["denied: over the 24 h limit of 10 ETH by 1 ETH"]);
    // What the database holds agrees: 10 ETH approved in all, never more.
    const rows = await db.select().from(operations).where(inArray(operations.id, ids));
    const total = rows
      .filter((r) => r.state === "approved")
      .reduce((s, r) => s + BigInt((r.payload as { amount: string }).amount), 0n);
    expect(total).toBe(10n * ETH);
    const [one] = rows.filter((r) => r.state === "cancelled");
    expect(JSON.stringify(one?.result)).toContain("over the 24 h limit of 10 ETH by 1 ETH");
  }, 600_000);

  it("the execution's recheck takes the lock, and refuses an approved withdrawal whose cap was lowered since", async () => {
    const { db, ada, v1, v2, propose } = await setup(10n);
    const a = await propose("4");
    const b = await propose("5");
    for (const op of [a, b])
      await approveInTurn(db, config, { operationId: op.id, voters: [v1, v2], now: T0 });
    const row = async (id: string) => {
      const [r] = await db.select().from(operations).where(eq(operations.id, id));
      if (!r) throw new Error("no row");
      return r;
    };
    const bRow = await row(b.id);
    expect(await db.transaction(async (tx) => recheckVelocity(tx, bRow, T0))).toMatchObject({
      refusal: null,
    });
    // A proposal over the cap with what is approved already: refused at once, by how much.
    await expect(propose("2")).rejects.toThrow(/over the 24 h limit of 10 ETH by 1 ETH/);
    // In setup mode the policy changes directly (open operations keep the version they were judged under).
    await updatePolicy(db, { actor: ada.acting, document: capped(6n), now: T0 });
    await db
      .update(operations)
      .set({ judgedVersion: 3 })
      .where(inArray(operations.id, [a.id, b.id]));
    const lowered = await row(b.id);
    const recheck = await db.transaction(async (tx) => recheckVelocity(tx, lowered, T0));
    expect(recheck.refusal).toBe("over the 24 h limit of 6 ETH by 3 ETH");
    if (engine !== "postgres" || !database?.url) return;
    // The lock, seen from another connection while a recheck's transaction is open.
    let release = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    const aRow = await row(a.id);
    const open = db.transaction(async (tx) => {
      await recheckVelocity(tx, aRow, T0);
      await held;
    });
    const other = new pg.Client({ connectionString: database.url });
    await other.connect();
    try {
      let seen = 0;
      for (let i = 0; i < 100 && seen === 0; i++) {
        const r = await other.query(
          "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND objid = 1 AND granted",
          [VELOCITY_LOCK_CLASS],
        );
        seen = r.rows[0].n;
        if (seen === 0) await new Promise((r) => setTimeout(r, 20));
      }
      expect(seen).toBe(1);
    } finally {
      release();
      await open;
      await other.end();
    }
  });
});
