// The keys-list part of bench/operations.ts: query time of server/keys/list-keys.ts over 10,000 (and more)
// keys. The rows are seeded straight with one INSERT … SELECT generate_series: this measures the query, not
// key creation (made by quorum and the HSM, which the throughput part measures).
import { randomBytes } from "node:crypto";
import { sql } from "drizzle-orm";
import type { Db } from "@/db/client";
import { keys } from "@/db/schema";
import { z } from "zod";
import type { KeyCursor } from "@/server/keys/key-cursor";
import { type KeyListInput, listKeys } from "@/server/keys/list-keys";
import { median, percentile } from "./measure";

export type KeyQuery = { name: string; input: KeyListInput };
export type KeyQueryFigure = { name: string; total: number; capped: boolean; p50Ms: number; p99Ms: number };
export type KeysListResult = { keys: number; seedSeconds: number; figures: KeyQueryFigure[] };

/**
 * Adds `count` keys numbered from `from`: labels "customer 000042 eth", tags [customer, tier-N, chain],
 * curves and states spread over every value, creation times one second apart, random-looking public keys.
 */
export async function seedKeys(db: Db, from: number, count: number): Promise<void> {
  const salt = randomBytes(4).toString("hex");
  await db.execute(sql`
    INSERT INTO keys (label, curve, tags, state, hsm_ref, public_key, exportable, created_at, state_changed_at)
    SELECT
      'customer ' || lpad(i::text, 6, '0') || ' ' || (ARRAY['btc','eth','sol'])[i % 3 + 1],
      (ARRAY['secp256k1','secp256k1','ed25519','p256'])[i % 4 + 1],
      ARRAY['customer', 'tier-' || (i % 10)::text, (ARRAY['btc','eth','sol'])[i % 3 + 1]],
      (ARRAY['active','active','active','active','suspended','pre-activation','deactivated','compromised',
             'destroyed','active'])[i % 10 + 1],
      substr(md5(${salt}::text || 'ref' || i), 1, 32),
      '02' || md5(${salt}::text || 'a' || i) || md5(${salt}::text || 'b' || i),
      CASE WHEN i % 5 = 0 THEN 'wrapped' ELSE 'never' END,
      timestamptz '2026-01-01 00:00:00+00' + i * interval '1 second',
      timestamptz '2026-01-01 00:00:00+00' + i * interval '1 second'
    FROM generate_series(${from}::int, ${from + count - 1}::int) AS i`);
  await db.execute(sql`ANALYZE keys`);
}

/** A public key that is in the table, to search by its prefix. */
async function somePublicKey(db: Db): Promise<string> {
  const [row] = await db.select({ publicKey: keys.publicKey }).from(keys).orderBy(keys.hsmRef).limit(1);
  return row?.publicKey ?? "02";
}

/** The cursor of the key `offset` keys from the newest, as a page's links would carry it. */
async function cursorAt(db: Db, kind: "after" | "before", offset: number): Promise<KeyCursor> {
  const result = await db.execute(sql`
    SELECT id, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at
    FROM keys ORDER BY created_at DESC, id DESC OFFSET ${offset} LIMIT 1`);
  const [row] = z.object({ rows: z.array(z.object({ id: z.string(), at: z.string() })) }).parse(result).rows;
  if (!row) throw new Error(`no key ${offset} keys from the newest`);
  return { kind, at: row.at, id: row.id };
}

/**
 * Listing, each filter and each kind of search (see KeyFilter.search), the first page unless named. Pages are
 * reached by cursor (server/keys/key-cursor.ts): the middle one from the key halfway down, either way. Over
 * 100,000 keys the label searches match 0, ~100, ~33,000 and every key, so both ways listKeys cuts a page
 * (from the sorted matches, or walking the index) and the capped count are measured.
 */
export async function keyQueries(db: Db, keyCount: number): Promise<KeyQuery[]> {
  const pageSize = 50;
  const publicKey = await somePublicKey(db);
  const middle = String(Math.floor(keyCount / 2)).padStart(6, "0");
  const halfway = Math.floor(keyCount / 2);
  const next = await cursorAt(db, "after", halfway);
  const previous = await cursorAt(db, "before", halfway);
  const last: KeyCursor = { kind: "last" };
  return [
    { name: "first page", input: { pageSize } },
    { name: "middle page (Next)", input: { cursor: next, pageSize } },
    { name: "middle page (Previous)", input: { cursor: previous, pageSize } },
    { name: "last page", input: { cursor: last, pageSize } },
    { name: "curve ed25519", input: { curve: "ed25519", pageSize } },
    { name: "state suspended", input: { state: "suspended", pageSize } },
    { name: "state suspended, middle page", input: { state: "suspended", cursor: next, pageSize } },
    { name: "state suspended, last page", input: { state: "suspended", cursor: last, pageSize } },
    { name: 'tag filter "eth"', input: { tag: "eth", pageSize } },
    { name: 'tag filter "eth", middle page', input: { tag: "eth", cursor: next, pageSize } },
    { name: "curve + state + tag", input: { curve: "secp256k1", state: "active", tag: "btc", pageSize } },
    { name: `label substring "${middle.slice(0, 4)}"`, input: { search: middle.slice(0, 4), pageSize } },
    { name: "label substring, no match", input: { search: "nothing-like-this", pageSize } },
    { name: 'label substring "customer" (every key)', input: { search: "customer", pageSize } },
    {
      name: 'label substring "customer", middle page',
      input: { search: "customer", cursor: next, pageSize },
    },
    { name: 'label word start "et" (2 characters)', input: { search: "et", pageSize } },
    { name: 'label word start "et", last page', input: { search: "et", cursor: last, pageSize } },
    { name: 'label, LIKE characters literal "50%"', input: { search: "50%", pageSize } },
    {
      name: `label substring "${middle.slice(0, 4)}" + state active`,
      input: { search: middle.slice(0, 4), state: "active", pageSize },
    },
    { name: 'search by tag "tier-7"', input: { search: "tier-7", pageSize } },
    { name: 'search by tag "tier-7", middle page', input: { search: "tier-7", cursor: next, pageSize } },
    { name: "public-key prefix (12 hex)", input: { search: publicKey.slice(0, 12), pageSize } },
    {
      name: "public-key prefix (12 hex, upper case)",
      input: { search: publicKey.slice(0, 12).toUpperCase(), pageSize },
    },
  ];
}

/** Each query `repeats` times, interleaved (one of each per pass), after one warm-up pass. */
export async function measureKeyQueries(
  db: Db,
  queries: KeyQuery[],
  repeats: number,
): Promise<KeyQueryFigure[]> {
  const times = queries.map(() => [] as number[]);
  const totals = queries.map(() => 0);
  const capped = queries.map(() => false);
  for (let pass = -1; pass < repeats; pass++) {
    for (const [i, query] of queries.entries()) {
      const start = performance.now();
      const page = await listKeys(db, query.input);
      const ms = performance.now() - start;
      totals[i] = page.total;
      capped[i] = page.totalCapped;
      if (pass >= 0) times[i]?.push(ms);
    }
  }
  return queries.map((q, i) => ({
    name: q.name,
    total: totals[i] ?? 0,
    capped: capped[i] ?? false,
    p50Ms: median(times[i] ?? []),
    p99Ms: percentile(times[i] ?? [], 99),
  }));
}

/** Seeds up to each size in turn (10,000 then 100,000 …) and measures every query at each. */
export async function keysListRows(db: Db, sizes: number[], repeats: number): Promise<KeysListResult[]> {
  const results: KeysListResult[] = [];
  let have = 0;
  for (const size of [...sizes].sort((a, b) => a - b)) {
    const started = performance.now();
    if (size > have) await seedKeys(db, have + 1, size - have);
    have = Math.max(have, size);
    const seedSeconds = (performance.now() - started) / 1000;
    const figures = await measureKeyQueries(db, await keyQueries(db, size), repeats);
    results.push({ keys: size, seedSeconds, figures });
    for (const f of figures) {
      console.log(
        `  ${size} keys, ${f.name}: p50 ${f.p50Ms.toFixed(1)} ms, p99 ${f.p99Ms.toFixed(1)} ms (${f.capped ? "more than " : ""}${f.total} match)`,
      );
    }
  }
  return results;
}
