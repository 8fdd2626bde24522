// The velocity ledger (db/schema/velocity.ts, triggers in migration 0022) and the sums judgements count from it
// (server/operations/judgement.ts velocityTotals) give exactly the answers of the row-by-row reading they replace
// (velocityHistory + checkVelocity over every entry): on a varied history — three keys, three chains, native coins
// and tokens (USDC with 6 decimals on Ethereum and 8 on Solana, so cross-chain caps round amount by amount; DAI
// with no decimals on Solana, so a cap across chains cannot count it), executed inside and outside every window
// and in the future, waiting, approved and executing amounts, and operations that must not count (pending,
// failed, cancelled, rejected, expired) — every cap scope (key, chain, asset), window (1, 6, 24, 72 h), a limit
// that fits, is exceeded (with and without a fit time) or is exceeded by the operation alone, at several instants,
// for new operations and ones already in the ledger (never counted twice). The rows move through their states
// by UPDATE, as the code paths do, so both triggers are exercised; the ledger holds exactly what counts.
import { randomBytes, randomUUID } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import type { PgliteDatabase } from "drizzle-orm/pglite";
import { installedMigrations, openDatabase } from "@/db/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eq, sql } from "drizzle-orm";
import { type OperationState, operations, velocityBuckets, velocityLedger } from "@/db/schema";
import { CHAINS } from "@/server/custody/types";
import { seedInitiator } from "@/server/operations/executor/testing/fixtures";
import { velocityHistory } from "@/server/operations/judgement";
import { velocityTotals } from "@/server/withdrawals/velocity-sums";
import { DEFAULT_POLICY } from "@/server/policy/document";
import type { PolicyDocument } from "@/server/policy/schema";
import { checkVelocity, type VelocityCap, type VelocityResult } from "@/server/policy/velocity";
import { createTestDatabase, type TestDatabase, testEngines } from "@/server/testing/test-db";

const T0 = new Date("2026-12-03T12:00:00.000Z");
const HOUR = 3_600_000;
const ASSETS = [
  { chain: "bitcoin", symbol: "BTC", decimals: 8 },
  { chain: "ethereum", symbol: "ETH", decimals: 18 },
  { chain: "ethereum", symbol: "USDC", decimals: 6 },
  { chain: "ethereum", symbol: "DAI", decimals: 18 },
  { chain: "solana", symbol: "SOL", decimals: 9 },
  { chain: "solana", symbol: "USDC", decimals: 8 },
];
/** What withdrawals move here: DAI on Solana too, which the asset list has no decimals for. */
const MOVED = [...ASSETS, { chain: "solana", symbol: "DAI", decimals: 18 }];
const KEYS = [randomUUID(), randomUUID(), randomUUID()];
const WINDOWS = [1, 6, 24, 72];

/** mulberry32: the same history on every run and engine. */
function random(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

type Planned = {
  id: string;
  chain: string;
  asset: string;
  keyId: string;
  amount: bigint;
  end: OperationState;
  at: Date;
};

function plan(rand: () => number, n: number): Planned[] {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const ends: OperationState[] = [
    "executed",
    "executed",
    "executed",
    "executed",
    "executed",
    "executed",
    "approved",
    "waiting",
    "executing",
    "pending",
    "failed",
    "cancelled",
    "rejected",
    "expired",
  ];
  return Array.from({ length: n }, () => {
    const a = pick(MOVED);
    // Amounts not multiples of 100, so USDC from 8 to 6 decimals rounds up amount by amount.
    const amount = BigInt(1 + Math.floor(rand() * 1_000_000));
    // Executed from 100 h ago to 2 h ahead (a clock ahead: a future time counts too).
    const at = new Date(T0.getTime() - Math.floor(rand() * 102 * HOUR) + 2 * HOUR);
    return {
      id: randomUUID(),
      chain: a.chain,
      asset: a.symbol,
      keyId: pick(KEYS),
      amount,
      end: pick(ends),
      at,
    };
  });
}

function payload(p: Planned) {
  return {
    keyId: p.keyId,
    keyLabel: "hot",
    keyTags: ["hot"],
    chain: p.chain,
    network: p.chain === "bitcoin" ? "regtest" : p.chain === "ethereum" ? "31337" : "localnet",
    from: `from-${p.keyId}`,
    asset: p.asset,
    decimals: MOVED.find((a) => a.chain === p.chain && a.symbol === p.asset)?.decimals ?? 0,
    amount: p.amount.toString(),
    destination: "dest",
    feeCap: "1000",
    ...(p.chain === "bitcoin" ? { psbt: "cHNidP8=" } : {}),
  };
}

/** The path to each end state, as the code moves operations. */
const PATHS: Record<string, OperationState[]> = {
  pending: [],
  waiting: ["waiting"],
  approved: ["approved"],
  executing: ["approved", "executing"],
  executed: ["approved", "executing", "executed"],
  failed: ["approved", "executing", "failed"],
  cancelled: ["approved", "cancelled"],
  rejected: ["rejected"],
  expired: ["expired"],
};

/** A cap every withdrawal of ETH applies to: judging with it rolls up the chains given, at `now`. */
const ROLL_CAP: VelocityCap = {
  per: "chain",
  asset: { chain: "ethereum", symbol: "ETH" },
  limit: "1",
  windowHours: 1,
  over: "deny",
};

describe.each(testEngines())("the velocity ledger on %s", (engine) => {
  let database: TestDatabase;
  let history: Planned[];
  beforeAll(async () => {
    database = await createTestDatabase(engine);
    const db = database.db;
    const seed = await seedInitiator(db, T0);
    history = plan(random(14), 400);
    await db.insert(operations).values(
      history.map((p) => ({
        id: p.id,
        kind: "withdrawal",
        payload: payload(p),
        initiatorId: seed.memberId,
        state: "pending" as const,
        digest: randomBytes(32).toString("hex"),
        policyVersion: seed.policyVersion,
        ruleId: "default",
        createdAt: new Date(p.at.getTime() - HOUR),
        expiresAt: new Date(p.at.getTime() + 48 * HOUR),
      })),
    );
    // Each state in turn, by UPDATE: a waiting one first waits and is then approved, or stays waiting.
    for (let step = 0; step < 3; step++) {
      for (const p of history) {
        const to = PATHS[p.end]?.[step];
        if (to === undefined) continue;
        await db
          .update(operations)
          .set({
            state: to,
            ...(to === "waiting" ? { hold: "velocity" as const, quorumAt: p.at } : {}),
            ...(to === "executed" ? { executedAt: p.at } : {}),
          })
          .where(sql`${operations.id} = ${p.id}`);
      }
    }
  }, 300_000);
  afterAll(async () => {
    await database?.drop();
  });

  it("holds exactly the amounts that count: waiting, approved and executing with no time, executed with theirs", async () => {
    const rows = await database.db.select().from(velocityLedger);
    const counting = history.filter((p) => ["waiting", "approved", "executing", "executed"].includes(p.end));
    expect(rows).toHaveLength(counting.length);
    const byId = new Map(rows.map((r) => [r.operationId, r]));
    for (const p of counting) {
      expect(byId.get(p.id)).toMatchObject({
        chain: p.chain,
        asset: p.asset,
        keyId: p.keyId,
        amount: p.amount.toString(),
        executedAt: p.end === "executed" ? p.at : null,
      });
    }
    // Nothing of what must not count (pending, failed, cancelled, rejected, expired) is there.
    expect(history.filter((p) => byId.has(p.id) && !counting.includes(p))).toEqual([]);
  });

  it("sums to the same answer as the row-by-row reading for every cap scope, window, limit and instant", async () => {
    const db = database.db;
    const seed = await seedInitiator(db, T0);
    const rollUpAt = (now: Date) =>
      velocityTotals(db, {
        caps: [ROLL_CAP],
        op: { chain: "ethereum", asset: "ETH", amount: 1n },
        now,
        assets: ASSETS,
        rollUp: CHAINS,
      });
    // Executed amounts up to 40 h before T0 rolled up into buckets, the rest still rows.
    await rollUpAt(new Date(T0.getTime() - 40 * HOUR));
    const rand = random(2026);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
    const seen: Record<string, number> = {};
    const instants = [T0, new Date(T0.getTime() - 30 * HOUR), new Date(T0.getTime() + 5 * HOUR + 17)];
    const capAssets = [...ASSETS, { chain: "ethereum", symbol: "DAI", decimals: 18 }];
    for (let i = 0; i < 240; i++) {
      if (i === 80) {
        // Committed late: executed long ago (before the last roll-up), counted as rows until rolled up too.
        const late = plan(rand, 30).map((p) => ({
          ...p,
          end: "executed" as const,
          at: new Date(T0.getTime() - (41 + Math.floor(rand() * 50)) * HOUR),
        }));
        await db.insert(operations).values(
          late.map((p) => ({
            id: p.id,
            kind: "withdrawal",
            payload: payload(p),
            initiatorId: seed.memberId,
            state: "executed" as const,
            digest: randomBytes(32).toString("hex"),
            policyVersion: seed.policyVersion,
            ruleId: "default",
            createdAt: p.at,
            expiresAt: new Date(p.at.getTime() + 48 * HOUR),
            executedAt: p.at,
          })),
        );
        history.push(...late);
      }
      // Rolled up further as judgements under the lock go on: to 10 h before T0, then to 1 s before T0 + 5 h.
      if (i === 120) await rollUpAt(new Date(T0.getTime() - 10 * HOUR));
      if (i === 180) await rollUpAt(new Date(T0.getTime() + 5 * HOUR));
      const capAsset = pick(capAssets);
      const cap: VelocityCap = {
        per: pick(["key", "chain", "asset"] as const),
        asset: { chain: capAsset.chain, symbol: capAsset.symbol },
        // From a limit every history exceeds to one it never reaches.
        limit: String(BigInt(Math.floor(rand() ** 3 * 40_000_000))),
        windowHours: pick(WINDOWS),
        over: pick(["deny", "defer"] as const),
      };
      const now = pick(instants);
      // A new operation, or one already in the ledger (its own amount counted once); its key, another or none.
      const existing = rand() < 0.3 ? pick(history) : undefined;
      const chain =
        cap.per === "asset" && rand() < 0.5 ? pick(["bitcoin", "ethereum", "solana"]) : cap.asset.chain;
      const op = {
        id: existing?.id ?? randomUUID(),
        keyId: rand() < 0.15 ? null : pick(KEYS),
        chain,
        asset: rand() < 0.95 ? cap.asset.symbol : "OTHER",
        amount: rand() < 0.1 ? 50_000_000n : BigInt(1 + Math.floor(rand() * 2_000_000)),
      };
      const policy: PolicyDocument = {
        ...DEFAULT_POLICY,
        rules: [
          {
            id: "capped",
            description: "capped",
            match: { kinds: ["withdrawal"] },
            require: [{ group: "approvers", approvals: 1 }],
            velocity: [{ ...cap, windowHours: 72 }],
          },
        ],
      };
      const rows = await velocityHistory(db, { policy, now, excludeId: op.id });
      const expected = checkVelocity(cap, op, rows, now, ASSETS);
      // Judged under the lock (rolling up first) or for display (no roll-up): the same answer.
      const totals = await velocityTotals(db, {
        caps: [cap],
        op,
        now,
        assets: ASSETS,
        ...(rand() < 0.2 && now < T0 ? { rollUp: CHAINS } : {}),
      });
      const got: VelocityResult | null = checkVelocity(cap, op, totals, now, ASSETS);
      expect(
        got,
        JSON.stringify({ i, cap, op, now }, (_, v) => (typeof v === "bigint" ? String(v) : v)),
      ).toEqual(expected);
      const status =
        expected === null
          ? "none"
          : expected.status === "over"
            ? expected.fitsAt === null
              ? "over, no fit time"
              : "over, fits later"
            : expected.status;
      seen[status] = (seen[status] ?? 0) + 1;
    }
    // The buckets hold exactly the rolled rows, at each width, for each key and for every key.
    const rolled = await db.select().from(velocityLedger).where(eq(velocityLedger.rolled, true));
    expect(rolled.length).toBeGreaterThan(history.length / 3);
    const expectedBuckets = new Map<string, { units: bigint; entries: number }>();
    for (const r of rolled)
      for (const key of [r.keyId ?? "", "*"])
        for (const grain of [1, 60, 3600]) {
          const start = Math.floor((r.executedAt?.getTime() ?? 0) / (grain * 1000)) * grain * 1000;
          const k = `${r.asset}|${r.chain}|${key}|${grain}|${start}`;
          const b = expectedBuckets.get(k) ?? { units: 0n, entries: 0 };
          expectedBuckets.set(k, { units: b.units + BigInt(r.amount), entries: b.entries + 1 });
        }
    const buckets = await db.select().from(velocityBuckets);
    expect(
      new Map(
        buckets.map((b) => [
          `${b.asset}|${b.chain}|${b.key}|${b.grain}|${b.start.getTime()}`,
          { units: BigInt(b.units), entries: b.entries },
        ]),
      ),
    ).toEqual(expectedBuckets);
    // Every kind of answer was compared, not only the easy ones.
    for (const s of ["none", "within", "over, fits later", "over, no fit time", "alone", "unknown-decimals"])
      expect(seen[s] ?? 0, `${s} in ${JSON.stringify(seen)}`).toBeGreaterThan(0);
  }, 300_000);

  it("caps of one rule are summed in one statement, each over its own window", async () => {
    const db = database.db;
    const caps: VelocityCap[] = WINDOWS.map((windowHours) => ({
      per: "chain",
      asset: { chain: "ethereum", symbol: "USDC" },
      limit: "25000000",
      windowHours,
      over: "defer",
    }));
    caps.push({
      per: "asset",
      asset: { chain: "solana", symbol: "USDC" },
      limit: "900000000",
      windowHours: 24,
      over: "deny",
    });
    const op = { id: randomUUID(), keyId: KEYS[0], chain: "ethereum", asset: "USDC", amount: 1_000n };
    const policy: PolicyDocument = {
      ...DEFAULT_POLICY,
      rules: [
        {
          id: "capped",
          description: "capped",
          match: { kinds: ["withdrawal"] },
          require: [{ group: "approvers", approvals: 1 }],
          velocity: caps,
        },
      ],
    };
    const rows = await velocityHistory(db, { policy, now: T0, excludeId: op.id });
    const totals = await velocityTotals(db, { caps, op, now: T0, assets: ASSETS });
    expect(totals.totals.size).toBe(caps.length);
    for (const cap of caps)
      expect(checkVelocity(cap, op, totals, T0, ASSETS)).toEqual(checkVelocity(cap, op, rows, T0, ASSETS));
  });

  it("fits again exactly when the executed amount that brings the excess to zero leaves, and counts its own row once", async () => {
    const db = database.db;
    const seed = await seedInitiator(db, T0);
    // EXACT on Ethereum, no other row has it: 4, 3 and 3 executed 3, 2 and 1 h ago, 2 approved.
    const own = randomUUID();
    const rows = [
      { id: randomUUID(), amount: 4n, at: new Date(T0.getTime() - 3 * HOUR), state: "executed" as const },
      { id: randomUUID(), amount: 3n, at: new Date(T0.getTime() - 2 * HOUR), state: "executed" as const },
      { id: randomUUID(), amount: 3n, at: new Date(T0.getTime() - HOUR), state: "executed" as const },
      { id: own, amount: 2n, at: T0, state: "approved" as const },
    ];
    await db.insert(operations).values(
      rows.map((r) => ({
        id: r.id,
        kind: "withdrawal",
        payload: payload({
          id: r.id,
          chain: "ethereum",
          asset: "EXACT",
          keyId: KEYS[0] ?? "",
          amount: r.amount,
          end: r.state,
          at: r.at,
        }),
        initiatorId: seed.memberId,
        state: r.state,
        digest: randomBytes(32).toString("hex"),
        policyVersion: seed.policyVersion,
        ruleId: "default",
        createdAt: r.at,
        expiresAt: new Date(r.at.getTime() + 48 * HOUR),
        ...(r.state === "executed" ? { executedAt: r.at } : {}),
      })),
    );
    const cap: VelocityCap = {
      per: "chain",
      asset: { chain: "ethereum", symbol: "EXACT" },
      limit: "10",
      windowHours: 24,
      over: "defer",
    };
    // The approved one re-judged (its execution's recheck): 4 + 3 + 3 + its own 2 = 12, over by 2: the 4 leaving fits it.
    const op = { id: own, keyId: KEYS[0], chain: "ethereum", asset: "EXACT", amount: 2n };
    const totals = await velocityTotals(db, { caps: [cap], op, now: T0, assets: ASSETS });
    expect(checkVelocity(cap, op, totals, T0, ASSETS)).toEqual({
      cap,
      status: "over",
      total: 12n,
      limit: 10n,
      excess: 2n,
      fitsAt: new Date(T0.getTime() + 21 * HOUR),
    });
    // New ones, each over by exactly what some executed amounts add up to (the boundary: fits when they have
    // left, not one later): 2 (over by 4: the 4 leaves at +21 h), 5 (by 7 = 4 + 3: +22 h), 8 (by 10 = 4 + 3 + 3:
    // +23 h); 9 is over by 11, more than all executed amounts, so no fit time (only the approved 2 could free it).
    for (const [amount, hours] of [
      [2n, 21],
      [5n, 22],
      [8n, 23],
      [9n, null],
    ] as const) {
      const fresh = { id: randomUUID(), keyId: KEYS[0], chain: "ethereum", asset: "EXACT", amount };
      const sums = await velocityTotals(db, { caps: [cap], op: fresh, now: T0, assets: ASSETS });
      const entries = await velocityHistory(db, {
        policy: {
          ...DEFAULT_POLICY,
          rules: [
            {
              id: "c",
              description: "c",
              match: { kinds: ["withdrawal"] },
              require: [{ group: "approvers", approvals: 1 }],
              velocity: [cap],
            },
          ],
        },
        now: T0,
      });
      const answer = checkVelocity(cap, fresh, sums, T0, ASSETS);
      expect(answer).toEqual(checkVelocity(cap, fresh, entries, T0, ASSETS));
      expect(answer?.status === "over" ? answer.fitsAt : "not over").toEqual(
        hours === null ? null : new Date(T0.getTime() + hours * HOUR),
      );
    }
  });

  it("refuses to change an executed operation once its amount is in the buckets", async () => {
    const db = database.db;
    const [row] = await db.select().from(velocityLedger).where(eq(velocityLedger.rolled, true)).limit(1);
    if (row === undefined) throw new Error("nothing rolled up");
    const moved = db
      .update(operations)
      .set({ executedAt: new Date(T0.getTime() - 200 * HOUR) })
      .where(eq(operations.id, row.operationId));
    await expect(moved).rejects.toThrow();
    const [after] = await db
      .select()
      .from(velocityLedger)
      .where(eq(velocityLedger.operationId, row.operationId));
    expect(after).toEqual(row);
  });

  it("counts the window's first second row by row, then second, minute and hour buckets, each exactly once", async () => {
    const db = database.db;
    const seed = await seedInitiator(db, T0);
    // The window (T0 - 24 h + 0.5 s, T0 + 0.5 s]: it starts half way through a second, on the hour's first minute.
    const now = new Date(T0.getTime() + 500);
    const since = now.getTime() - 24 * HOUR;
    const offsets = [
      -HOUR, // an hour before: an earlier hour bucket
      -60_000, // a minute before: the last minute of the hour before
      -400, // the same second, before the start
      -1,
      0, // exactly the start: not counted (executed strictly after it counts)
      1, // the same second, after: counted row by row
      499,
      500, // the next second: a second bucket in the same minute
      30_000,
      59_499, // the last second of that minute
      59_500, // the next minute: a minute bucket in the same hour
      600_000,
      3_599_499,
      3_599_500, // the next hour: an hour bucket
      5 * HOUR,
      24 * HOUR - 1_500, // rolled up (older than a second at `now`)
      24 * HOUR - 1, // not yet: a row
      24 * HOUR + HOUR, // in the future
    ];
    const amounts = offsets.map((_, i) => 10n ** BigInt(i));
    const rows = offsets.map((o, i) => ({
      id: randomUUID(),
      chain: "solana",
      asset: "EDGE",
      keyId: KEYS[i % 2] ?? "",
      amount: amounts[i] ?? 0n,
      end: "executed" as const,
      at: new Date(since + o),
    }));
    await db.insert(operations).values(
      rows.map((p) => ({
        id: p.id,
        kind: "withdrawal",
        payload: payload(p),
        initiatorId: seed.memberId,
        state: "executed" as const,
        digest: randomBytes(32).toString("hex"),
        policyVersion: seed.policyVersion,
        ruleId: "default",
        createdAt: p.at,
        expiresAt: new Date(p.at.getTime() + 48 * HOUR),
        executedAt: p.at,
      })),
    );
    const counted = offsets.reduce((t, o, i) => (o > 0 ? t + (amounts[i] ?? 0n) : t), 0n);
    const policy: PolicyDocument = {
      ...DEFAULT_POLICY,
      rules: [
        {
          id: "c",
          description: "c",
          match: { kinds: ["withdrawal"] },
          require: [{ group: "approvers", approvals: 1 }],
          velocity: [ROLL_CAP],
        },
      ],
    };
    for (const per of ["chain", "key"] as const) {
      const cap: VelocityCap = {
        per,
        asset: { chain: "solana", symbol: "EDGE" },
        limit: (10n ** 30n).toString(),
        windowHours: 24,
        over: "deny",
      };
      const op = { id: randomUUID(), keyId: KEYS[0], chain: "solana", asset: "EDGE", amount: 1n };
      const entries = await velocityHistory(db, {
        policy: { ...policy, rules: [{ ...policy.rules[0], velocity: [cap] } as never] },
        now,
      });
      const expected = checkVelocity(cap, op, entries, now, ASSETS);
      if (per === "chain") expect(expected).toMatchObject({ status: "within", total: counted + 1n });
      // Before any roll-up, rolled up under the lock at `now`, and read again after it: the same answer.
      for (const rollUp of [[], CHAINS, []] as const) {
        const totals = await velocityTotals(db, { caps: [cap], op, now, assets: ASSETS, rollUp });
        expect(checkVelocity(cap, op, totals, now, ASSETS)).toEqual(expected);
      }
    }
    const open = await db
      .select({ id: velocityLedger.operationId })
      .from(velocityLedger)
      .where(sql`${velocityLedger.asset} = 'EDGE' AND NOT ${velocityLedger.rolled}`);
    expect(open).toHaveLength(2);
  });

  it("roll-ups racing executions that commit meanwhile count every amount exactly once", async () => {
    const db = database.db;
    const seed = await seedInitiator(db, T0);
    const now = new Date(T0.getTime() + 3 * HOUR);
    const cap: VelocityCap = {
      per: "chain",
      asset: { chain: "bitcoin", symbol: "RACE" },
      limit: (10n ** 30n).toString(),
      windowHours: 24,
      over: "deny",
    };
    const op = { id: randomUUID(), keyId: KEYS[1], chain: "bitcoin", asset: "RACE", amount: 1n };
    const rand = random(7);
    // 60 executions committing at once (executed in the last two hours, so a roll-up may take each), and 30
    // judgements rolling up and summing at the same time, some before, some after each commit.
    const executions = Array.from({ length: 60 }, (_, i) => {
      const p: Planned = {
        id: randomUUID(),
        chain: "bitcoin",
        asset: "RACE",
        keyId: KEYS[i % 3] ?? "",
        amount: BigInt(1 + Math.floor(rand() * 1000)),
        end: "executed",
        at: new Date(now.getTime() - Math.floor(rand() * 2 * HOUR)),
      };
      return db.transaction(async (tx) => {
        await tx.insert(operations).values({
          id: p.id,
          kind: "withdrawal",
          payload: payload(p),
          initiatorId: seed.memberId,
          state: "approved",
          digest: randomBytes(32).toString("hex"),
          policyVersion: seed.policyVersion,
          ruleId: "default",
          createdAt: p.at,
          expiresAt: new Date(p.at.getTime() + 48 * HOUR),
        });
        await tx.update(operations).set({ state: "executing" }).where(eq(operations.id, p.id));
        await tx
          .update(operations)
          .set({ state: "executed", executedAt: p.at })
          .where(eq(operations.id, p.id));
        return p.amount;
      });
    });
    // Each in its own transaction but WITHOUT the chain's velocity lock, which a judgement holds (so in use two
    // roll-ups of a chain never overlap): here the roll-ups also race each other, and must neither add a row
    // twice nor deadlock (velocity-sums.ts rollUp locks its rows in operation_id order).
    const judgements = Array.from({ length: 30 }, () =>
      db.transaction((tx) =>
        velocityTotals(tx, { caps: [cap], op, now, assets: ASSETS, rollUp: ["bitcoin"] }),
      ),
    );
    const [amounts] = await Promise.all([Promise.all(executions), Promise.all(judgements)]);
    const all = amounts.reduce((t, a) => t + a, 0n);
    const after = await velocityTotals(db, { caps: [cap], op, now, assets: ASSETS, rollUp: ["bitcoin"] });
    expect(checkVelocity(cap, op, after, now, ASSETS)).toMatchObject({ status: "within", total: all + 1n });
    const buckets = await db
      .select({ grain: velocityBuckets.grain, units: sql<string>`sum(${velocityBuckets.units})::text` })
      .from(velocityBuckets)
      .where(sql`${velocityBuckets.asset} = 'RACE' AND ${velocityBuckets.key} = '*'`)
      .groupBy(velocityBuckets.grain);
    expect(
      buckets.map((b) => [b.grain, BigInt(b.units)]).sort((a, b) => Number(a[0]) - Number(b[0])),
    ).toEqual([
      [1, all],
      [60, all],
      [3600, all],
    ]);
  });
});

describe("migration 0022 on an installation that has withdrawals already", () => {
  it("fills the ledger with what counts and the buckets with what was executed, giving the row-by-row answer", async () => {
    // Migrations up to 0021 only, then operations, then 0022.
    const folder = mkdtempSync(path.join(tmpdir(), "kw-0021-"));
    const all = installedMigrations();
    cpSync(all, folder, { recursive: true });
    rmSync(path.join(folder, "0022_velocity_ledger.sql"));
    const journalPath = path.join(folder, "meta", "_journal.json");
    const journal = JSON.parse(readFileSync(journalPath, "utf8")) as { entries: { idx: number }[] };
    writeFileSync(
      journalPath,
      JSON.stringify({ ...journal, entries: journal.entries.filter((e) => e.idx <= 21) }),
    );
    const database = await openDatabase({ engine: "pglite", folder: "memory://", migrationsFolder: folder });
    try {
      const db = database.db;
      const seed = await seedInitiator(db, T0);
      const planned = plan(random(22), 200);
      await db.insert(operations).values(
        planned.map((p) => ({
          id: p.id,
          kind: "withdrawal",
          payload: payload(p),
          initiatorId: seed.memberId,
          state: p.end,
          digest: randomBytes(32).toString("hex"),
          policyVersion: seed.policyVersion,
          ruleId: "default",
          createdAt: p.at,
          expiresAt: new Date(p.at.getTime() + 48 * HOUR),
          ...(p.end === "waiting" ? { hold: "velocity" as const, quorumAt: p.at } : {}),
          ...(p.end === "executed" ? { executedAt: p.at } : {}),
        })),
      );
      await migratePglite(db as unknown as PgliteDatabase, { migrationsFolder: all });
      const rows = await db.select().from(velocityLedger);
      const counting = planned.filter((p) =>
        ["waiting", "approved", "executing", "executed"].includes(p.end),
      );
      expect(rows).toHaveLength(counting.length);
      expect(rows.filter((r) => r.rolled)).toHaveLength(planned.filter((p) => p.end === "executed").length);
      for (const per of ["key", "chain", "asset"] as const)
        for (const windowHours of WINDOWS) {
          const cap: VelocityCap = {
            per,
            asset: { chain: "ethereum", symbol: "USDC" },
            limit: "30000000",
            windowHours,
            over: "defer",
          };
          const op = { id: randomUUID(), keyId: KEYS[0], chain: "ethereum", asset: "USDC", amount: 1_000n };
          const policy: PolicyDocument = {
            ...DEFAULT_POLICY,
            rules: [
              {
                id: "c",
                description: "c",
                match: { kinds: ["withdrawal"] },
                require: [{ group: "approvers", approvals: 1 }],
                velocity: [{ ...cap, windowHours: 72 }],
              },
            ],
          };
          const entries = await velocityHistory(db, { policy, now: T0 });
          const totals = await velocityTotals(db, { caps: [cap], op, now: T0, assets: ASSETS });
          expect(checkVelocity(cap, op, totals, T0, ASSETS)).toEqual(
            checkVelocity(cap, op, entries, T0, ASSETS),
          );
        }
    } finally {
      await database.close();
      rmSync(folder, { recursive: true, force: true });
    }
  }, 120_000);
});
