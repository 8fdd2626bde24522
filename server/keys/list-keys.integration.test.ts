// The keys list over a few thousand keys (PGlite, and PostgreSQL when TEST_DATABASE_URL is set): pages cover
// every matching key once, newest first; filters and search (label, tag, public key prefix) find exactly what
// a plain reference over the same rows finds; counts by state; one key with its lifecycle from the trail.
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { KEY_STATES, type KeyState, keys } from "@/db/schema";
import { appendAudit } from "@/server/audit/append";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";
import { getKey, keyCountsByState, type KeyListInput, keyOfOperation, listKeys } from "./list-keys";
import { auditTimeline } from "./timeline";

const CURVES = ["secp256k1", "ed25519", "p256"] as const;
const TAGS = ["treasury", "cold", "hot", "customer", "ops"] as const;
const N = 3_000;

type Row = typeof keys.$inferInsert & { id: string; createdAt: Date; publicKey: string; tags: string[] };

function makeRows(): Row[] {
  const base = Date.UTC(2026, 0, 1);
  return Array.from({ length: N }, (_, i) => ({
    id: randomUUID(),
    // Some labels carry LIKE's own characters: a search for "50%" must not match everything.
    label: i % 97 === 0 ? `Vault 50%_${i}` : `Customer account ${i}`,
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

/** What the list should answer, computed plainly over the same rows. */
function reference(rows: readonly Row[], input: Omit<KeyListInput, "page" | "pageSize">): Row[] {
  const q = input.search?.trim().toLowerCase();
  return rows
    .filter(
      (r) =>
        (!q ||
          r.label.toLowerCase().includes(q) ||
          r.tags.includes(input.search?.trim() ?? "") ||
          (/^[0-9a-f]{8,}$/.test(q) && r.publicKey.startsWith(q))) &&
        (!input.curve || r.curve === input.curve) &&
        (!input.state || r.state === input.state) &&
        (!input.tag || r.tags.includes(input.tag)),
    )
    .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : -1));
}

describe.each(testEngines())("keys list on %s", (engine) => {
  const db = useTestDatabase(engine);
  const rows = makeRows();

  it("pages, filters and searches a few thousand keys exactly as a plain reference does", async () => {
    for (let i = 0; i < rows.length; i += 500) await db().insert(keys).values(rows.slice(i, i + 500));

    const walk = async (filter: Omit<KeyListInput, "page" | "pageSize">, pageSize: number) => {
      const ids: string[] = [];
      const first = await listKeys(db(), { ...filter, page: 1, pageSize });
      for (let page = 1; page <= first.pages; page++) {
        const got = page === 1 ? first : await listKeys(db(), { ...filter, page, pageSize });
        ids.push(...got.keys.map((k) => k.id));
      }
      return { ids, total: first.total };
    };

    const all = await walk({}, 200);
    expect(all.total).toBe(N);
    expect(all.ids).toEqual(reference(rows, {}).map((r) => r.id));

    const filters: Omit<KeyListInput, "page" | "pageSize">[] = [
      { curve: "ed25519" },
      { state: "suspended" },
      { tag: "treasury" },
      { curve: "p256", state: "active", tag: "cold" },
      { search: "account 12" },
      { search: "ACCOUNT 29" },
      { search: "hot" },
      { search: "50%" },
      { search: "00000abc" },
      { search: "00000AB" },
      { search: "vault", curve: "secp256k1" },
      { search: "nothing like this" },
    ];
    for (const filter of filters) {
      const expected = reference(rows, filter).map((r) => r.id);
      const got = await walk(filter, 37);
      expect(got.total, JSON.stringify(filter)).toBe(expected.length);
      expect(got.ids, JSON.stringify(filter)).toEqual(expected);
    }
    // "50%" is literal: only the vault labels, not every key.
    expect(reference(rows, { search: "50%" }).length).toBe(Math.ceil(N / 97));
    // A page past the end is empty, not an error.
    expect((await listKeys(db(), { page: 999, pageSize: 50 })).keys).toEqual([]);

    const counts = await keyCountsByState(db());
    const expectedCounts = Object.fromEntries(
      KEY_STATES.map((s: KeyState) => [s, rows.filter((r) => r.state === s).length]),
    );
    expect(counts).toEqual(expectedCounts);
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
