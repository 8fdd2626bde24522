// The keys list over 12,000 keys (PGlite, and PostgreSQL when TEST_DATABASE_URL is set): Next from the first page
// and Previous from the last cover every matching key once, newest first, whether a page is cut from the sorted
// matches or read by walking the index from its cursor, and even where hundreds of keys share one created_at or
// differ by microseconds only; filters and search (label substring, tag, public-key prefix; LIKE's own characters
// literal) find exactly what a plain reference over the same rows finds; the count stops past 10,000 (a search's
// past 2,000); a cursor that does not decode is refused as bad input; migrations 0013 and 0014 leave pg_trgm and
// an index each search and filter can read; counts by state; one key with its lifecycle from the trail.
import { randomUUID } from "node:crypto";
import { TRPCError } from "@trpc/server";
import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import type { Db } from "@/db/client";
import { KEY_STATES, type KeyState, keys } from "@/db/schema";
import { createCaller } from "@/server/api/root";
import { createContext } from "@/server/api/trpc";
import { appendAudit } from "@/server/audit/append";
import { firstAdmin } from "@/server/testing/identity-fixtures";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";
import { encodeKeyCursor, type KeyCursor, keyCursor, LAST_PAGE } from "./key-cursor";
import {
  COUNT_AT_MOST,
  getKey,
  type KeyFilter,
  keyCountsByState,
  keyOfOperation,
  keysMatching,
  listKeys,
  SEARCH_COUNT_AT_MOST,
} from "./list-keys";
import { auditTimeline } from "./timeline";

const CURVES = ["secp256k1", "ed25519", "p256"] as const;
const TAGS = ["treasury", "cold", "hot", "customer", "ops"] as const;
/** More than the count stops at (COUNT_AT_MOST), and enough matches for pages to walk the index. */
const N = 12_000;
/** Keys 3,000 to 3,399 were all made in one instant: only the id orders them. */
const SAME_INSTANT = { from: 3000, to: 3400 };

type Row = typeof keys.$inferInsert & { id: string; createdAt: Date; publicKey: string; tags: string[] };
type Filter = KeyFilter;

/** Labels carrying LIKE's own characters (% _ \), and look-alikes that a wildcard would wrongly match. */
function labelOf(i: number): string {
  if (i % 97 === 0) return `Vault 50%_${i}`;
  if (i % 89 === 0) return `Desk a_b ${i}`;
  if (i % 83 === 0) return `Desk axb ${i}`;
  if (i % 79 === 0) return `Back\\slash ${i}`;
  return `Customer account ${i}`;
}

function makeRows(): Row[] {
  const base = Date.UTC(2026, 0, 1);
  return Array.from({ length: N }, (_, i) => ({
    id: randomUUID(),
    label: labelOf(i),
    curve: CURVES[i % 3] ?? "p256",
    tags: TAGS.filter((_, t) => (i >> t) % 2 === 1),
    state: KEY_STATES[i % KEY_STATES.length] ?? "active",
    hsmRef: `ref-${i}`,
    publicKey: `${i.toString(16).padStart(8, "0")}${"ab".repeat(28)}`,
    exportable: i % 2 === 0 ? "never" : "wrapped",
    // Pairs made in the same millisecond, and 400 in one: the id must break the tie so pages neither overlap
    // nor skip.
    createdAt: new Date(
      base + Math.floor((i >= SAME_INSTANT.from && i < SAME_INSTANT.to ? SAME_INSTANT.from : i) / 2) * 1000,
    ),
    stateChangedAt: new Date(base),
  }));
}

/** What the list should answer, computed plainly over the same rows (KeyListInput.search says the rules). */
function reference(rows: readonly Row[], input: Filter): Row[] {
  const q = input.search?.trim().toLowerCase();
  const labelMatches = (label: string) => {
    if (!q) return false;
    const l = label.toLowerCase();
    return q.length >= 3 ? l.includes(q) : l.startsWith(q) || l.includes(` ${q}`);
  };
  return rows
    .filter(
      (r) =>
        (!q ||
          labelMatches(r.label) ||
          r.tags.includes(q) ||
          (/^[0-9a-f]{8,}$/.test(q) && r.publicKey.startsWith(q))) &&
        (!input.curve || r.curve === input.curve) &&
        (!input.state || r.state === input.state) &&
        (!input.tag || r.tags.includes(input.tag)),
    )
    .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : -1));
}

const cursor = (token: string): KeyCursor => keyCursor.parse(token);
/** created_at as a cursor carries it (these rows' times are whole milliseconds). */
const isoMicros = (at: Date) => at.toISOString().replace("Z", "000Z");

/**
 * Every page in turn by Next from the first page: the keys in the order the pages give them, and the count the
 * first page gave (every page gives the same). Only the first page has no Previous, only the last no Next, and
 * every page but the last is full.
 */
async function walkForward(db: Db, filter: Filter, pageSize: number) {
  const ids: string[] = [];
  const first = await listKeys(db, { ...filter, pageSize });
  let got = first;
  for (let page = 1; ; page++) {
    const where = `${JSON.stringify(filter)} page ${page} forward`;
    expect([got.total, got.totalCapped], where).toEqual([first.total, first.totalCapped]);
    expect(got.previousCursor === null, where).toBe(page === 1);
    ids.push(...got.keys.map((k) => k.id));
    if (got.nextCursor === null) break;
    expect(got.keys.length, where).toBe(pageSize);
    got = await listKeys(db, { ...filter, cursor: cursor(got.nextCursor), pageSize });
  }
  return { ids, total: first.total, totalCapped: first.totalCapped };
}

/** The same from the last page by Previous, put back newest first: only the last page has no Next. */
async function walkBackward(db: Db, filter: Filter, pageSize: number) {
  const pages: string[][] = [];
  let got = await listKeys(db, { ...filter, cursor: { kind: "last" }, pageSize });
  for (let page = 1; ; page++) {
    const where = `${JSON.stringify(filter)} page ${page} backward`;
    expect(got.nextCursor === null, where).toBe(page === 1);
    pages.unshift(got.keys.map((k) => k.id));
    if (got.previousCursor === null) break;
    expect(got.keys.length, where).toBe(pageSize);
    got = await listKeys(db, { ...filter, cursor: cursor(got.previousCursor), pageSize });
  }
  return pages.flat();
}

const planNode: z.ZodType<{ "Node Type": string; "Index Name"?: string; Plans?: unknown[] }> = z.lazy(() =>
  z.object({
    "Node Type": z.string(),
    "Index Name": z.string().optional(),
    Plans: z.array(planNode).optional(),
  }),
);
const explainRows = z.array(z.object({ "QUERY PLAN": z.unknown() }));
/** node-postgres and PGlite both answer db.execute with { rows }. */
const rowsOf = (result: unknown): unknown[] => z.object({ rows: z.array(z.unknown()) }).parse(result).rows;

/** The scan nodes of count(*) over the keys a filter matches, with sequential scans priced out. */
async function scansOf(db: Db, filter: Filter): Promise<string[]> {
  return db.transaction(async (tx) => {
    // A plan still reads the table when no index fits the condition, however dear: so a plan without
    // a Seq Scan shows the condition is one an index answers (not that the planner always picks it).
    await tx.execute(sql`SET LOCAL enable_seqscan = off`);
    const result = await tx.execute(
      sql`EXPLAIN (FORMAT JSON) SELECT count(*) FROM keys WHERE ${keysMatching(filter)}`,
    );
    const [row] = explainRows.parse(rowsOf(result));
    const text = row?.["QUERY PLAN"];
    const [top] = z
      .array(z.object({ Plan: planNode }))
      .parse(typeof text === "string" ? JSON.parse(text) : text);
    const scans: string[] = [];
    const visit = (node: z.infer<typeof planNode>) => {
      if (node["Node Type"].endsWith("Scan"))
        scans.push(`${node["Node Type"]}${node["Index Name"] ? ` ${node["Index Name"]}` : ""}`);
      for (const child of node.Plans ?? []) visit(planNode.parse(child));
    };
    if (top) visit(top.Plan);
    return scans;
  });
}

describe.each(testEngines())("keys list on %s", (engine) => {
  const db = useTestDatabase(engine);
  const rows = makeRows();

  it("migrations 0013 and 0014 leave pg_trgm and an index that every search and filter can read", async () => {
    const extensions = await db().execute(sql`SELECT extname FROM pg_extension WHERE extname = 'pg_trgm'`);
    expect(rowsOf(extensions)).toEqual([{ extname: "pg_trgm" }]);
    const indexes = z
      .array(z.object({ indexname: z.string(), indexdef: z.string() }))
      .parse(
        rowsOf(await db().execute(sql`SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'keys'`)),
      );
    const def = (name: string) => indexes.find((i) => i.indexname === name)?.indexdef ?? `${name} missing`;
    expect(def("keys_label_trgm_idx")).toMatch(/USING gin \(lower\(label\) gin_trgm_ops\)/);
    expect(def("keys_public_key_prefix_idx")).toMatch(/USING btree \(public_key text_pattern_ops\)/);
    expect(def("keys_curve_idx")).toMatch(/USING btree \(curve\)/);
    expect(def("keys_tags_idx")).toMatch(/USING gin \(tags\)/);
    // Migration 0014: no pending list for searches to read through (PGlite never vacuums on its own).
    for (const gin of ["keys_label_trgm_idx", "keys_tags_idx"])
      expect(def(gin)).toMatch(/fastupdate='?false'?/);

    const cases: [Filter, string[]][] = [
      [{ search: "account 12" }, ["keys_label_trgm_idx", "keys_tags_idx"]],
      [{ search: "De" }, ["keys_label_trgm_idx", "keys_tags_idx"]],
      [{ search: "00000abc" }, ["keys_label_trgm_idx", "keys_tags_idx", "keys_public_key_prefix_idx"]],
      [{ tag: "treasury" }, ["keys_tags_idx"]],
      [{ curve: "ed25519" }, ["keys_curve_idx"]],
      [{ state: "suspended" }, ["keys_state_idx"]],
    ];
    for (const [filter, expected] of cases) {
      const scans = await scansOf(db(), filter);
      expect(
        scans.filter((s) => s.startsWith("Seq Scan")),
        JSON.stringify(filter),
      ).toEqual([]);
      for (const index of expected) expect(scans.join(", "), JSON.stringify(filter)).toContain(index);
    }
  });

  // About a hundred pages over 12,000 keys: seconds on a quiet machine, a minute or more on a busy shared one.
  it("pages, filters and searches 12,000 keys exactly as a plain reference does", async () => {
    for (let i = 0; i < rows.length; i += 1000)
      await db()
        .insert(keys)
        .values(rows.slice(i, i + 1000));

    const filters: Filter[] = [
      {},
      { curve: "ed25519" },
      { state: "suspended" },
      { tag: "treasury" },
      { curve: "p256", state: "active", tag: "cold" },
      // Label substrings, any case; "account" and "cu" match nearly every key.
      { search: "account 12" },
      { search: "ACCOUNT 29" },
      { search: "account" },
      // 1,111 keys, 400 of them made in one instant: pages of 37 through it.
      { search: "account 3" },
      // One or two characters: a label or a word in it starting with them.
      { search: "cu" },
      { search: "De" },
      { search: "1" },
      // A tag, any case.
      { search: "hot" },
      { search: "TREASURY" },
      // LIKE's characters are literal, long or short.
      { search: "50%" },
      { search: "a_b" },
      { search: "k\\s" },
      { search: "%" },
      { search: "_" },
      // Public-key prefixes, any case; under 8 hex digits is no public-key search.
      { search: "00000abc" },
      { search: "00000AB" },
      { search: "0000abc" },
      { search: "vault", curve: "secp256k1" },
      { search: "nothing like this" },
    ];
    for (const filter of filters) {
      const expected = reference(rows, filter).map((r) => r.id);
      const name = JSON.stringify(filter);
      // Large pages over many matches, small ones (across the 400 keys of one instant) over fewer.
      const pageSize = expected.length > 2000 ? 997 : 37;
      const forward = await walkForward(db(), filter, pageSize);
      // A search is counted up to 2,000, filters alone up to 10,000.
      const cap = filter.search ? SEARCH_COUNT_AT_MOST : COUNT_AT_MOST;
      expect(forward.total, name).toBe(Math.min(expected.length, cap));
      expect(forward.totalCapped, name).toBe(expected.length > cap);
      expect(forward.ids, name).toEqual(expected);
      expect(await walkBackward(db(), filter, pageSize), name).toEqual(expected);
      if (expected.length > 2000) {
        // Small pages over many matches walk the index: from the first page, a page in the middle (Next from
        // the key before it, Previous from the key after it) and the last.
        const small = 37;
        const first = await listKeys(db(), { ...filter, pageSize: small });
        expect(
          first.keys.map((k) => k.id),
          name,
        ).toEqual(expected.slice(0, small));
        const at = Math.floor(expected.length / 2);
        const [before, after] = [
          rows.find((r) => r.id === expected[at - 1]),
          rows.find((r) => r.id === expected[at + small]),
        ];
        if (!before || !after) throw new Error("no middle");
        const next = await listKeys(db(), {
          ...filter,
          cursor: cursor(first.nextCursor ?? ""),
          pageSize: small,
        });
        expect(
          next.keys.map((k) => k.id),
          `${name} second page`,
        ).toEqual(expected.slice(small, 2 * small));
        // Previous from the second page is the first page again.
        const back = await listKeys(db(), {
          ...filter,
          cursor: cursor(next.previousCursor ?? ""),
          pageSize: small,
        });
        expect(
          back.keys.map((k) => k.id),
          `${name} back to the first`,
        ).toEqual(expected.slice(0, small));
        expect(back.previousCursor, name).toBeNull();
        const middle = await listKeys(db(), {
          ...filter,
          cursor: { kind: "after", at: isoMicros(before.createdAt), id: before.id },
          pageSize: small,
        });
        expect(
          middle.keys.map((k) => k.id),
          `${name} middle`,
        ).toEqual(expected.slice(at, at + small));
        const upward = await listKeys(db(), {
          ...filter,
          cursor: { kind: "before", at: isoMicros(after.createdAt), id: after.id },
          pageSize: small,
        });
        expect(
          upward.keys.map((k) => k.id),
          `${name} middle upward`,
        ).toEqual(expected.slice(at, at + small));
        const last = await listKeys(db(), { ...filter, cursor: { kind: "last" }, pageSize: small });
        expect(
          last.keys.map((k) => k.id),
          `${name} last`,
        ).toEqual(expected.slice(-small));
        expect(last.nextCursor, name).toBeNull();
      }
    }

    // The reference is not vacuous where it matters: literal characters, the capped count and the walked way
    // all met, and the keys of one instant span several pages of 37.
    expect(reference(rows, {}).length).toBeGreaterThan(COUNT_AT_MOST);
    expect(reference(rows, { search: "50%" }).length).toBe(Math.ceil(N / 97));
    expect(reference(rows, { search: "a_b" }).every((r) => r.label.includes("a_b"))).toBe(true);
    expect(reference(rows, { search: "a_b" }).length).toBeGreaterThan(0);
    expect(reference(rows, { search: "%" })).toEqual([]);
    expect(reference(rows, { search: "00000abc" }).map((r) => r.hsmRef)).toEqual(["ref-2748"]);
    expect(reference(rows, { search: "0000abc" })).toEqual([]);
    expect(reference(rows, { search: "TREASURY" }).length).toBe(N / 2);
    expect(reference(rows, { search: "account" }).length).toBeGreaterThan(COUNT_AT_MOST);
    expect(reference(rows, { search: "cu" }).length).toBeGreaterThan(COUNT_AT_MOST);
    expect(reference(rows, { tag: "treasury" }).length).toBe(N / 2);
    expect(SEARCH_COUNT_AT_MOST).toBeLessThan(N / 2);
    const instant = rows[SAME_INSTANT.from]?.createdAt.getTime();
    const sameInstant = (filter: Filter) =>
      reference(rows, filter).filter((r) => r.createdAt.getTime() === instant);
    expect(sameInstant({ search: "account 3" }).length).toBeGreaterThan(10 * 37);
    expect(reference(rows, { search: "account 3" }).length).toBeLessThan(2000);

    // Small pages walking the index ({} matches every key) through the 400 keys of one instant, by Next and back
    // by Previous.
    const all = reference(rows, {}).map((r) => r.id);
    const start = all.findIndex((id) => rows.find((r) => r.id === id)?.createdAt.getTime() === instant) - 1;
    const before = rows.find((r) => r.id === all[start]);
    if (!before) throw new Error("no key before the instant");
    let page = await listKeys(db(), {
      cursor: { kind: "after", at: isoMicros(before.createdAt), id: before.id },
      pageSize: 37,
    });
    const pages = [page.keys.map((k) => k.id)];
    for (let i = 1; i < 12; i++) {
      page = await listKeys(db(), { cursor: cursor(page.nextCursor ?? ""), pageSize: 37 });
      pages.push(page.keys.map((k) => k.id));
    }
    expect(pages.flat()).toEqual(all.slice(start + 1, start + 1 + 12 * 37));
    for (let i = 10; i >= 0; i--) {
      page = await listKeys(db(), { cursor: cursor(page.previousCursor ?? ""), pageSize: 37 });
      expect(
        page.keys.map((k) => k.id),
        `back to page ${i}`,
      ).toEqual(pages[i]);
    }

    // A cursor past the end (a made-up one, or the list changed) gives an empty page with the count, no error.
    const past = await listKeys(db(), {
      search: "account",
      cursor: { kind: "after", at: "2000-01-01T00:00:00.000000Z", id: randomUUID() },
      pageSize: 50,
    });
    expect(past.keys).toEqual([]);
    expect([past.total, past.totalCapped]).toEqual([SEARCH_COUNT_AT_MOST, true]);
    expect([past.previousCursor, past.nextCursor]).toEqual([null, null]);

    const counts = await keyCountsByState(db());
    const expectedCounts = Object.fromEntries(
      KEY_STATES.map((s: KeyState) => [s, rows.filter((r) => r.state === s).length]),
    );
    expect(counts).toEqual(expectedCounts);
  }, 300_000);

  it("pages keys made microseconds apart, three to an instant, by cursor in both directions", async () => {
    // 2,100 keys within about a millisecond: a cursor that kept milliseconds only (a Date) would skip or repeat.
    const made: { id: string; micro: number; curve: string }[] = [];
    for (let j = 0; j < 2100; j++)
      made.push({ id: randomUUID(), micro: Math.floor(j / 3), curve: CURVES[j % 3] ?? "p256" });
    for (let i = 0; i < made.length; i += 500)
      await db()
        .insert(keys)
        .values(
          made.slice(i, i + 500).map((m, k) => ({
            id: m.id,
            label: `Micro ${i + k}`,
            curve: m.curve,
            tags: ["micro"],
            state: "active" as const,
            hsmRef: `micro-${i + k}`,
            publicKey: `ff${(i + k).toString(16).padStart(8, "0")}`,
            exportable: "never" as const,
            createdAt: sql`timestamptz '2027-01-01 00:00:00.000400+00' + ${m.micro} * interval '1 microsecond'`,
            stateChangedAt: new Date(),
          })),
        );
    const newestFirst = (curve?: string) =>
      made
        .filter((m) => !curve || m.curve === curve)
        .sort((a, b) => b.micro - a.micro || (a.id < b.id ? 1 : -1))
        .map((m) => m.id);
    // 2,100 matches walk the index; 700 (one curve) are sorted.
    for (const filter of [{ tag: "micro" }, { tag: "micro", curve: "ed25519" }]) {
      const expected = newestFirst(filter.curve);
      const forward = await walkForward(db(), filter, 37);
      expect(forward.total).toBe(expected.length);
      expect(forward.ids, JSON.stringify(filter)).toEqual(expected);
      expect(await walkBackward(db(), filter, 37), JSON.stringify(filter)).toEqual(expected);
    }
  }, 120_000);

  it("refuses a cursor that does not decode as bad input, and answers any well-formed one", async () => {
    const good = encodeKeyCursor("after", "2026-01-01T00:00:10.123456Z", randomUUID());
    expect(keyCursor.parse(good)).toMatchObject({ kind: "after", at: "2026-01-01T00:00:10.123456Z" });
    expect(keyCursor.parse(LAST_PAGE)).toEqual({ kind: "last" });
    const json = (value: unknown) =>
      btoa(JSON.stringify(value)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    const id = randomUUID();
    const tampered = [
      "",
      "not a cursor!",
      "%%%",
      good.slice(0, -3),
      `${good}x`,
      json("just a string"),
      json({ k: "a", t: "2026-01-01T00:00:00.123456Z" }),
      json({ k: "x", t: "2026-01-01T00:00:00.123456Z", i: id }),
      json({ k: "a", t: "2026-01-01T00:00:00.123Z", i: id }),
      json({ k: "a", t: "2026-02-30T00:00:00.000000Z", i: id }),
      json({ k: "a", t: "2026-01-01T24:00:00.000000Z", i: id }),
      json({ k: "a", t: "2026-01-01T00:00:00.000000Z", i: "'; DROP TABLE keys; --" }),
      json({ k: "a", t: "2026-01-01T00:00:00.000000Z', now()) --", i: id }),
      json({ k: "a", t: "2026-01-01T00:00:00.000000Z", i: id, extra: 1 }),
      "a".repeat(201),
    ];
    for (const token of tampered) expect(keyCursor.safeParse(token).success, token).toBe(false);

    // Through keys.list: a 400 naming the field, never a database error; a well-formed one just lists from there.
    const admin = await firstAdmin(db(), { now: new Date() });
    const member = { id: admin.acting.id, name: "Ada Admin", roles: [...admin.acting.roles], groups: [] };
    const api = createCaller(
      createContext({
        db: db(),
        engine,
        session: { sessionId: randomUUID(), tokenId: "credential", member },
      }),
    );
    for (const token of tampered) {
      const refused = await api.keys.list({ cursor: token }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(refused, token).toBeInstanceOf(TRPCError);
      expect(refused instanceof TRPCError && refused.code, token).toBe("BAD_REQUEST");
      expect(refused instanceof TRPCError && refused.cause instanceof z.ZodError, token).toBe(true);
    }
    const listed = await api.keys.list({ cursor: good, pageSize: 3 });
    expect(listed.keys).toHaveLength(3);
    expect(listed.keys.every((k) => k.createdAt < new Date("2026-01-01T00:00:10.124Z"))).toBe(true);
    expect((await api.keys.list({ cursor: LAST_PAGE, pageSize: 3 })).nextCursor).toBeNull();
  });

  it("gives one key with its lifecycle from the audit trail, actors named", async () => {
    const row = rows[1];
    if (!row) throw new Error("no rows");
    const operationId = randomUUID();
    await db().transaction(async (tx) => {
      await appendAudit(tx, {
        action: "key.created",
        data: {
          keyId: row.id,
          operationId,
          label: row.label,
          curve: row.curve,
          tags: row.tags,
          exportable: "wrapped",
          hsmRef: row.hsmRef,
          publicKey: row.publicKey,
        },
        actor: "system",
        subject: `key:${row.id}`,
        at: new Date(),
      });
      await appendAudit(tx, {
        action: "operation.cancelled",
        data: { operationId },
        actor: "system",
        subject: `operation:${operationId}`,
        at: new Date(),
      });
    });
    const got = await getKey(db(), row.id);
    expect(got.key.publicKey).toBe(row.publicKey);
    expect(got.createdBy).toBeNull();
    expect(got.lifecycle.map((e) => [e.action, e.actor])).toEqual([["key.created", "system"]]);
    expect((await auditTimeline(db(), [`operation:${operationId}`])).map((e) => e.action)).toEqual([
      "operation.cancelled",
    ]);
    expect(await keyOfOperation(db(), operationId)).toBeNull();
    await expect(getKey(db(), randomUUID())).rejects.toMatchObject({ code: "NOT_FOUND" });
  });
});
