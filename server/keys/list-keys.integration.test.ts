// The keys list over 12,000 keys (PGlite, and PostgreSQL when TEST_DATABASE_URL is set): pages cover every
// matching key once, newest first, whether a page is cut from the sorted matches or read by walking the index
// from the nearer end; filters and search (label substring, tag, public-key prefix; LIKE's own characters
// literal) find exactly what a plain reference over the same rows finds; migrations 0013 and 0014 leave pg_trgm and an index each search and filter can read; counts by
// state; one key with its lifecycle from the trail.
import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import type { Db } from "@/db/client";
import { KEY_STATES, type KeyState, keys } from "@/db/schema";
import { appendAudit } from "@/server/audit/append";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";
import {
  getKey,
  keyCountsByState,
  type KeyListInput,
  keyOfOperation,
  keysMatching,
  listKeys,
} from "./list-keys";
import { auditTimeline } from "./timeline";

const CURVES = ["secp256k1", "ed25519", "p256"] as const;
const TAGS = ["treasury", "cold", "hot", "customer", "ops"] as const;
/** Enough for pages near either end of many matches to walk the index (list-keys.ts, pageOfKeys). */
const N = 12_000;

type Row = typeof keys.$inferInsert & { id: string; createdAt: Date; publicKey: string; tags: string[] };
type Filter = Omit<KeyListInput, "page" | "pageSize">;

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
    // Pairs made in the same millisecond: the id must break the tie so pages neither overlap nor skip.
    createdAt: new Date(base + Math.floor(i / 2) * 1000),
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

/** Every page in turn: the keys in the order the pages give them, and the total the first page gave. */
async function walk(db: Db, filter: Filter, pageSize: number) {
  const ids: string[] = [];
  const first = await listKeys(db, { ...filter, page: 1, pageSize });
  for (let page = 1; page <= first.pages; page++) {
    const got = page === 1 ? first : await listKeys(db, { ...filter, page, pageSize });
    expect(got.total, JSON.stringify(filter)).toBe(first.total);
    ids.push(...got.keys.map((k) => k.id));
  }
  return { ids, total: first.total, pages: first.pages };
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

    const all = await walk(db(), {}, 997);
    expect(all.total).toBe(N);
    expect(all.ids).toEqual(reference(rows, {}).map((r) => r.id));

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
      const got = await walk(db(), filter, expected.length > 2000 ? 997 : 37);
      expect(got.total, JSON.stringify(filter)).toBe(expected.length);
      expect(got.ids, JSON.stringify(filter)).toEqual(expected);
      if (expected.length > 2000) {
        // Small pages near either end walk the index (newest first, or oldest first and turned round, the
        // last one short); one in the middle is cut from the sorted matches.
        const pageSize = 37;
        const last = Math.ceil(expected.length / pageSize);
        for (const page of [1, 2, Math.ceil(last / 2), last - 1, last]) {
          const one = await listKeys(db(), { ...filter, page, pageSize });
          const want = expected.slice((page - 1) * pageSize, page * pageSize);
          expect(
            one.keys.map((k) => k.id),
            `${JSON.stringify(filter)} page ${page}`,
          ).toEqual(want);
        }
      }
    }

    // The reference is not vacuous where it matters: literal characters and the walked way both met.
    expect(reference(rows, { search: "50%" }).length).toBe(Math.ceil(N / 97));
    expect(reference(rows, { search: "a_b" }).every((r) => r.label.includes("a_b"))).toBe(true);
    expect(reference(rows, { search: "a_b" }).length).toBeGreaterThan(0);
    expect(reference(rows, { search: "%" })).toEqual([]);
    expect(reference(rows, { search: "00000abc" }).map((r) => r.hsmRef)).toEqual(["ref-2748"]);
    expect(reference(rows, { search: "0000abc" })).toEqual([]);
    expect(reference(rows, { search: "TREASURY" }).length).toBe(N / 2);
    expect(reference(rows, { search: "account" }).length).toBeGreaterThan(10_000);
    expect(reference(rows, { search: "cu" }).length).toBeGreaterThan(10_000);
    expect(reference(rows, { tag: "treasury" }).length).toBe(N / 2);

    // A page past the end is empty, not an error, and still counts the matches.
    const past = await listKeys(db(), { search: "account", page: 999, pageSize: 50 });
    expect(past.keys).toEqual([]);
    expect(past.total).toBe(reference(rows, { search: "account" }).length);

    const counts = await keyCountsByState(db());
    const expectedCounts = Object.fromEntries(
      KEY_STATES.map((s: KeyState) => [s, rows.filter((r) => r.state === s).length]),
    );
    expect(counts).toEqual(expectedCounts);
  }, 300_000);

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
