// What velocity caps count, summed by the database (issue 14 item 10) instead of read row by row: every
// judgement of a capped operation runs this under its chain's velocity lock (velocity-lock.ts), so its cost is
// what limits a chain's throughput. It must not grow with the day's volume, and must give exactly the answer of
// the row-by-row reading (server/operations/judgement.ts velocityHistory + server/policy checkVelocity), which
// velocity-ledger.integration.test.ts checks on a varied history.
//
// The velocity ledger (db/schema/velocity.ts) holds one row per counted withdrawal, written by triggers with
// every change of state. Executed rows are ROLLED UP into velocity_buckets — sums per (asset, chain, key or "*")
// per second, minute and hour — by the judgements themselves, under the chain's lock, in the statement that
// sums: each executed amount is counted exactly once, either as its row (not rolled yet: the last second's, and
// any committed late) or through its buckets (rolled; the rows are kept). A window (since, now] is then:
//   the rows not rolled up (unexecuted ones, and executed after `since`)
// + the rolled rows in the second `since` falls in, after it (at most a second of rows)
// + the second buckets after that second in its minute (≤ 59), the minute buckets after that minute in its
//   hour (≤ 59), the hour buckets after that hour (one per hour of the window, and any in the future)
// — bounded by the window's hours, not its operations. One statement: the roll-up (data-modifying CTEs) and the
// sums read the same snapshot, so the rows it rolls are counted as rows, and the buckets as they were.
//
// Two cases still read rows: a cap across chains where another chain's asset has MORE decimals than the cap's
// (each amount is rounded up on its own, which sums cannot do; amounts of that chain only), and the fit time of
// an operation over a cap that defers (executed amounts in executed-at order until enough have left).
import "server-only";
import { and, eq, gt, ne, or, type SQL, sql } from "drizzle-orm";
import type { DbOrTx } from "@/db/client";
import { VELOCITY_GRAINS, velocityLedger } from "@/db/schema";
import { chainConfig } from "@/server/chains/current";
import { CHAINS, type Chain } from "@/server/custody/types";
import type { AssetInfo } from "@/server/policy/amounts";
import type { PolicyDocument } from "@/server/policy/document";
import { matchRule, type PolicyOperation } from "@/server/policy/evaluate";
import type { AllowLists } from "@/server/policy/schema";
import {
  type CapTotals,
  type ChainTotal,
  chainScale,
  leavesWindowAt,
  type VelocityCap,
  type VelocityFacts,
  type VelocityScope,
  type VelocityTotals,
  velocityExcess,
  velocityScope,
} from "@/server/policy/velocity";

/** Executed rows are rolled up once they are at least this old (the last second stays rows). */
const ROLL_UP_AFTER_MS = 1_000;
/**
 * At most this many rows a roll-up (a judgement holds the chain's lock meanwhile); what is left stays rows,
 * counted as such, for the next judgements. Only a backlog ever reaches it (rows put in without a judgement).
 */
const ROLL_UP_BATCH = 2_000;
const EVERY_KEY = "*";

/** The chains a scope counts: its cap's chain, or every chain (a per-asset cap; the ledger holds only CHAINS). */
const scopeChains = (scope: VelocityScope): readonly string[] =>
  scope.chain !== null ? [scope.chain] : CHAINS;

const floorTo = (ms: number, grainMs: number) => Math.floor(ms / grainMs) * grainMs;
const at = (ms: number) => sql`${new Date(ms).toISOString()}::timestamptz`;

/** The rows of one scope on one chain, never the operation judged. */
function rowsOf(scope: VelocityScope, chain: string): SQL {
  return sql.join(
    [
      sql`asset = ${scope.symbol} AND chain = ${chain}`,
      ...(scope.keyId !== null ? [sql`key_id = ${scope.keyId}::uuid`] : []),
      ...(scope.excludeId !== null ? [sql`operation_id <> ${scope.excludeId}::uuid`] : []),
    ],
    sql` AND `,
  );
}

/**
 * The branches that sum one scope on one chain: `entries` and raw `units` (base units as stored), each a range
 * of one index. Multiplying to the cap's units is done after (a sum times 10^k is the sum of each times 10^k).
 */
function bucketedBranches(i: number, scope: VelocityScope, chain: string): SQL[] {
  const since = scope.since.getTime();
  const second = floorTo(since, 1_000);
  const minute = floorTo(since, 60_000);
  const hour = floorTo(since, 3_600_000);
  const head = sql`${i}::int AS scope, ${chain}::text AS chain`;
  const rows = rowsOf(scope, chain);
  const key = scope.keyId ?? EVERY_KEY;
  const bucket = (grain: number, after: number, before: number | null) =>
    sql`SELECT ${head}, coalesce(sum(entries), 0)::text AS entries, coalesce(sum(units), 0)::text AS units
      FROM velocity_buckets
      WHERE asset = ${scope.symbol} AND chain = ${chain} AND key = ${key} AND grain = ${grain}
        AND start > ${at(after)}${before === null ? sql`` : sql` AND start < ${at(before)}`}`;
  const out = [
    // Not rolled up: the unexecuted amounts, and what was executed after `since` since the last roll-up.
    sql`SELECT ${head}, count(*)::text AS entries, coalesce(sum(amount), 0)::text AS units
      FROM velocity_ledger
      WHERE ${rows} AND NOT rolled AND (executed_at IS NULL OR executed_at > ${at(since)})`,
    // Rolled up, in the second the window starts in, after its start.
    sql`SELECT ${head}, count(*)::text AS entries, coalesce(sum(amount), 0)::text AS units
      FROM velocity_ledger
      WHERE ${rows} AND rolled AND executed_at > ${at(since)} AND executed_at < ${at(second + 1_000)}`,
    bucket(1, second, minute + 60_000),
    bucket(60, minute, hour + 3_600_000),
    bucket(3_600, hour, null),
  ];
  // The operation judged, when its own row is rolled up (an executed one judged for display): out of its buckets.
  if (scope.excludeId !== null)
    out.push(sql`SELECT ${head}, (-count(*))::text AS entries, (-coalesce(sum(amount), 0))::text AS units
      FROM velocity_ledger
      WHERE operation_id = ${scope.excludeId}::uuid AND asset = ${scope.symbol} AND chain = ${chain}
        ${scope.keyId !== null ? sql`AND key_id = ${scope.keyId}::uuid` : sql``}
        AND rolled AND executed_at >= ${at(second + 1_000)}`);
  return out;
}

/** One chain of a scope whose amounts are rounded one by one (more decimals than the cap's): its rows. */
function rowBranch(i: number, scope: VelocityScope, chain: string, divideUp: bigint): SQL {
  const d = divideUp.toString();
  return sql`SELECT ${i}::int AS scope, ${chain}::text AS chain, count(*)::text AS entries,
      coalesce(sum(div(amount + ${d}::numeric - 1, ${d}::numeric)), 0)::text AS units
    FROM velocity_ledger
    WHERE ${rowsOf(scope, chain)} AND (executed_at IS NULL OR executed_at > ${at(scope.since.getTime())})`;
}

/**
 * The roll-up of `chains`' executed rows at least ROLL_UP_AFTER_MS old (at most ROLL_UP_BATCH), as
 * data-modifying CTEs ahead of the sums (which read the snapshot before it). Under those chains' velocity locks;
 * two at once would still add each row once (`NOT rolled` is re-checked on the row's newest version) and not
 * deadlock (rows are locked in operation_id order).
 */
function rollUp(chains: readonly Chain[], now: Date): SQL {
  const list = sql.join(
    chains.map((c) => sql`${c}`),
    sql`, `,
  );
  const grains = sql.join(
    VELOCITY_GRAINS.map((g) => sql`(${g}::int)`),
    sql`, `,
  );
  return sql`WITH moved AS (
      UPDATE velocity_ledger SET rolled = true
      WHERE operation_id IN (
        SELECT operation_id FROM velocity_ledger
        WHERE NOT rolled AND executed_at IS NOT NULL AND executed_at <= ${at(now.getTime() - ROLL_UP_AFTER_MS)}
          AND chain IN (${list})
        ORDER BY operation_id
        LIMIT ${ROLL_UP_BATCH}
        FOR UPDATE
      ) AND NOT rolled
      RETURNING asset, chain, key_id, amount, executed_at
    ), added AS (
      INSERT INTO velocity_buckets AS b (asset, chain, key, grain, start, units, entries)
      SELECT m.asset, m.chain, k.key, g.grain,
        date_bin(make_interval(secs => g.grain), m.executed_at, timestamptz '1970-01-01 00:00:00+00'),
        sum(m.amount), count(*)::int
      FROM moved m
        CROSS JOIN LATERAL (VALUES (m.key_id::text), (${EVERY_KEY}::text)) AS k(key)
        CROSS JOIN (VALUES ${grains}) AS g(grain)
      WHERE k.key IS NOT NULL
      GROUP BY 1, 2, 3, 4, 5
      ON CONFLICT (asset, chain, key, grain, start)
        DO UPDATE SET units = b.units + EXCLUDED.units, entries = b.entries + EXCLUDED.entries
      RETURNING 1
    ) `;
}

type SumRow = { scope: number | string; chain: string; entries: string; units: string };

/** The rows of a raw statement, from either driver (node-postgres and PGlite both answer `{ rows }`). */
function rowsIn<T>(result: unknown): T[] {
  const rows = (result as { rows?: unknown } | null)?.rows;
  if (!Array.isArray(rows)) throw new Error("the database answered without rows");
  return rows as T[];
}

/**
 * What the velocity caps `caps` count for `op` at `now`, summed by the database (see the top of this file): per
 * cap that applies, per chain, how many entries and their amounts in the cap's units — never `op`'s own — in ONE
 * statement, after rolling up the executed rows of `rollUp` (chains whose velocity locks the caller holds; none
 * for a read without the locks). A cap that defers and that the operation is over (not on its own) also gets its
 * fit time (one more statement, only then). The same answer as checkVelocity over velocityHistory.
 */
export async function velocityTotals(
  db: DbOrTx,
  input: {
    caps: readonly VelocityCap[];
    op: VelocityFacts;
    now: Date;
    assets: readonly AssetInfo[];
    rollUp?: readonly Chain[];
  },
): Promise<VelocityTotals> {
  const scoped = new Map<string, { cap: VelocityCap; scope: VelocityScope }>();
  for (const cap of input.caps) {
    const scope = velocityScope(cap, input.op, input.now);
    if (scope !== null && !scoped.has(scope.key)) scoped.set(scope.key, { cap, scope });
  }
  const totals = new Map<string, CapTotals>();
  if (scoped.size === 0) return { totals };
  const list = [...scoped.values()];
  const branches: SQL[] = [];
  // Per scope and chain: how its raw sums become cap units.
  const multiply = list.map(() => new Map<string, bigint>());
  for (const [i, { cap, scope }] of list.entries()) {
    for (const chain of scopeChains(scope)) {
      const s = chainScale(cap, chain, input.assets) ?? { multiply: 1n, divideUp: 1n };
      if (s.divideUp !== 1n) branches.push(rowBranch(i, scope, chain, s.divideUp));
      else {
        multiply[i]?.set(chain, s.multiply);
        branches.push(...bucketedBranches(i, scope, chain));
      }
    }
  }
  const chainsToRoll = input.rollUp ?? [];
  const statement = sql`${chainsToRoll.length > 0 ? rollUp(chainsToRoll, input.now) : sql``}${sql.join(branches, sql` UNION ALL `)}`;
  const rows = rowsIn<SumRow>(await db.execute(statement));
  const chains = list.map(() => new Map<string, ChainTotal>());
  for (const r of rows) {
    const i = Number(r.scope);
    const byChain = chains[i];
    if (byChain === undefined) continue;
    const before = byChain.get(r.chain) ?? { chain: r.chain, entries: 0, units: 0n };
    const m = multiply[i]?.get(r.chain) ?? 1n;
    byChain.set(r.chain, {
      chain: r.chain,
      entries: before.entries + Number(r.entries),
      units: before.units + BigInt(r.units) * m,
    });
  }
  for (const [i, { cap, scope }] of list.entries()) {
    const counted = [...(chains[i]?.values() ?? [])];
    const excess = velocityExcess(cap, input.op, counted, input.assets);
    const fitsAt = excess === null ? null : await fitTime(db, { cap, scope, excess, assets: input.assets });
    totals.set(scope.key, { chains: counted, fitsAt });
  }
  return { totals };
}

/** An amount on `chain` in the cap's base units, in SQL: as velocity.ts chainScale says, amount by amount. */
function unitsOf(cap: VelocityCap, chain: string, assets: readonly AssetInfo[]): SQL {
  const s = chainScale(cap, chain, assets) ?? { multiply: 1n, divideUp: 1n };
  if (s.divideUp !== 1n)
    return sql`div(${velocityLedger.amount} + ${(s.divideUp - 1n).toString()}::numeric, ${s.divideUp.toString()}::numeric)`;
  if (s.multiply !== 1n) return sql`(${velocityLedger.amount} * ${s.multiply.toString()}::numeric)`;
  return sql`${velocityLedger.amount}`;
}

/**
 * When an operation `excess` over a cap fits: the executed amounts leave the window in executed-at order, and
 * it fits when the one that brings what has left to at least `excess` leaves. Null: they never do. Reads the
 * window's executed rows from its start until then (only for a cap that defers, when it is over).
 */
async function fitTime(
  db: DbOrTx,
  o: { cap: VelocityCap; scope: VelocityScope; excess: bigint; assets: readonly AssetInfo[] },
): Promise<Date | null> {
  const chains = scopeChains(o.scope);
  const units =
    chains.length === 1 && chains[0] !== undefined
      ? unitsOf(o.cap, chains[0], o.assets)
      : sql`CASE ${sql.join(
          chains.map((c) => sql`WHEN ${velocityLedger.chain} = ${c} THEN ${unitsOf(o.cap, c, o.assets)}`),
          sql` `,
        )} END`;
  const scope = (chain: string) =>
    and(
      eq(velocityLedger.asset, o.scope.symbol),
      eq(velocityLedger.chain, chain),
      o.scope.keyId !== null ? eq(velocityLedger.keyId, o.scope.keyId) : undefined,
      gt(velocityLedger.executedAt, o.scope.since),
      o.scope.excludeId !== null ? ne(velocityLedger.operationId, o.scope.excludeId) : undefined,
    );
  const leaving = db
    .select({
      executedAt: velocityLedger.executedAt,
      gone: sql<string>`sum(${units}) OVER (ORDER BY ${velocityLedger.executedAt} ROWS UNBOUNDED PRECEDING)`.as(
        "gone",
      ),
    })
    .from(velocityLedger)
    .where(or(...chains.map(scope)))
    .as("leaving");
  const [row] = await db
    .select({ executedAt: leaving.executedAt })
    .from(leaving)
    .where(sql`${leaving.gone} >= ${o.excess.toString()}::numeric`)
    .orderBy(leaving.executedAt)
    .limit(1);
  return row?.executedAt ? leavesWindowAt(o.cap, new Date(row.executedAt)) : null;
}

/**
 * The totals the judgement of `op` under `policy` needs: its matched rule's caps (none: nothing read).
 * `locked`: the chains whose velocity locks the caller holds (their executed rows are rolled up first).
 */
export async function velocityFor(
  db: DbOrTx,
  input: {
    policy: PolicyDocument;
    op: PolicyOperation;
    allowLists: AllowLists;
    now: Date;
    locked: readonly Chain[];
  },
): Promise<VelocityTotals> {
  const { rule } = matchRule(input.policy, input.op, input.allowLists);
  if (rule.deny || !rule.velocity?.length || input.op.amount === undefined) return { totals: new Map() };
  return velocityTotals(db, {
    caps: rule.velocity,
    op: input.op,
    now: input.now,
    assets: chainConfig().assets,
    rollUp: input.locked,
  });
}
