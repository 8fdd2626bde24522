// The checkpointer on real databases with a real SoftHSM token: it signs the tree head in the HSM when due
// (after N events, or T after the last checkpoint once the log has grown), the signed note verifies under the
// audit key and names the tree the events give; what it signed is served publicly; a tree or an event changed
// in the database by someone bypassing the triggers is refused a signature; and two checkpointers at once on
// PostgreSQL sign each size once.
import { randomUUID } from "node:crypto";
import { asc, eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "@/db/client";
import { auditCheckpoints, auditEvents, auditTreeNodes } from "@/db/schema";
import { memoryRateLimits } from "@/server/edge/rate-limit";
import { useTokenForServer } from "@/server/operations/executor/testing/fixtures";
import { createTestToken, type TestToken } from "@/server/hsm/testing/test-token";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";
import { appendAudit } from "./append";
import { auditKey } from "./checkpoint-key";
import { checkpointIfDue, latestCheckpoint } from "./checkpoints";
import { sealedSoFar } from "./integrate";
import { rootOf, verifyConsistency } from "./log/merkle";
import { openCheckpoint } from "./log/note";
import { consistencyProofAt, eventLeaf, treeSize } from "./log/tree";
import { verifyStoredTree } from "./log/tree-verify";
import { getLatestCheckpoint, listCheckpoints } from "./public-log";
import { sealed } from "./read";

const ORIGIN = "keyward.test/audit";
const config = { origin: ORIGIN, everyEvents: 10, everyMs: 60_000 };
const T0 = new Date("2026-12-03T12:00:00.000Z");
const later = (ms: number) => new Date(T0.getTime() + ms);

let token: TestToken;
let server: ReturnType<typeof useTokenForServer>;
beforeAll(() => {
  token = createTestToken("kw-checkpoints");
  server = useTokenForServer(token);
});
afterAll(async () => {
  await server.close();
  token.cleanup();
});

async function appendEvents(db: Db, n: number): Promise<void> {
  for (let i = 0; i < n; i++)
    await db.transaction(async (tx) => {
      const memberId = randomUUID();
      await appendAudit(tx, {
        action: "member.reactivated",
        actor: "system",
        subject: `member:${memberId}`,
        at: T0,
        data: { memberId },
      });
    });
  await sealedSoFar(db);
}

async function leaves(db: Db) {
  const rows = await db.select().from(auditEvents).orderBy(asc(auditEvents.seq));
  return rows.map((r) => eventLeaf(sealed(r)));
}

/** Runs `change` as an owner who switched the table's triggers off, and switches them back on. */
async function asOwner(db: Db, table: "audit_tree_nodes" | "audit_events", change: () => Promise<unknown>) {
  await db.execute(sql.raw(`ALTER TABLE ${table} DISABLE TRIGGER USER`));
  try {
    await change();
  } finally {
    await db.execute(sql.raw(`ALTER TABLE ${table} ENABLE TRIGGER USER`));
  }
}

describe.each(testEngines())("the checkpointer on %s", (engine) => {
  const database = useTestDatabase(engine);

  it("signs the first tree head in the HSM, then only when N events or T have passed since", async () => {
    const db = database();
    expect(await checkpointIfDue(db, { config, now: T0 })).toBeNull(); // an empty log: nothing to sign
    await appendEvents(db, 3);
    const first = await checkpointIfDue(db, { config, now: T0 });
    expect(first).toMatchObject({ size: 3, signedAt: T0 });
    const key = await auditKey(ORIGIN);
    expect(first?.verifierKey).toBe(key.verifierKey);
    const opened = openCheckpoint(first?.note ?? "", [key.verifierKey], { origin: ORIGIN });
    expect(opened.checkpoint.size).toBe(3);
    expect(Buffer.from(opened.checkpoint.rootHash).equals(Buffer.from(rootOf(await leaves(db))))).toBe(true);
    expect(opened.checkpoint.extensions).toEqual([`time ${T0.toISOString()}`]);

    // Grown by less than N, before T: not due. Nothing new: never due, however late.
    await appendEvents(db, 4);
    expect(await checkpointIfDue(db, { config, now: later(1_000) })).toBeNull();
    // T later: due, for the 4 new events.
    const second = await checkpointIfDue(db, { config, now: later(60_000) });
    expect(second?.size).toBe(7);
    expect(await checkpointIfDue(db, { config, now: later(10 * 60_000) })).toBeNull();
    // N new events: due at once.
    await appendEvents(db, 10);
    expect((await checkpointIfDue(db, { config, now: later(61_000) }))?.size).toBe(17);
    // The log only grew: the signed roots are consistent.
    const [a, b] = await db.select().from(auditCheckpoints).orderBy(asc(auditCheckpoints.size)).limit(2);
    if (!a || !b) throw new Error("two checkpoints expected");
    verifyConsistency(a.size, b.size, await consistencyProofAt(db, a.size, b.size), a.rootHash, b.rootHash);
    // The log's health, re-derived whole: every node and checkpoint holds up.
    const health = await verifyStoredTree(db, ORIGIN);
    expect(health).toMatchObject({ events: 17, checkpoints: 3, problems: [] });
    expect(health.verifiedCheckpoint?.size).toBe(17);
    // One log, one key: another origin (so another key name and verifier key) is refused, nothing stored.
    await appendEvents(db, 1);
    const other = { ...config, origin: "other.test/audit" };
    await expect(checkpointIfDue(db, { config: other, now: later(62_000), force: true })).rejects.toThrow(
      "the audit key now verifies as other.test/audit+",
    );
    expect((await latestCheckpoint(db))?.size).toBe(17);
  });

  it("serves the newest signed note and every checkpoint to anyone, within the public rate budget", async () => {
    const db = database();
    const deps = { db, limits: memoryRateLimits({ perAddress: 3, total: 100 }), trustedHops: 0 };
    const latest = await latestCheckpoint(db);
    const response = await getLatestCheckpoint(new Request("http://localhost/api/v1/audit/checkpoint"), deps);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/plain");
    expect(await response.text()).toBe(latest?.note);
    const list = await listCheckpoints(
      new Request("http://localhost/api/v1/audit/checkpoints?after=3&limit=1"),
      deps,
    );
    const body = (await list.json()) as {
      checkpoints: { size: number; note: string }[];
      next: number | null;
    };
    expect(body.checkpoints.map((c) => c.size)).toEqual([7]);
    expect(body.next).toBe(7);
    const bad = await listCheckpoints(
      new Request("http://localhost/api/v1/audit/checkpoints?limit=-1"),
      deps,
    );
    expect(bad.status).toBe(400);
    // Reads count against the read budget (10 x the write budget of 3 per address): the 31st is refused.
    let last = 200;
    for (let i = 0; i < 30 && last === 200; i++)
      last = (await getLatestCheckpoint(new Request("http://localhost/api/v1/audit/checkpoint"), deps))
        .status;
    expect(last).toBe(429);
  });

  it("refuses to sign when a tree node or an event was changed behind the triggers' back", async () => {
    const db = database();
    await appendEvents(db, 12);
    // A leaf swapped for another hash: the stored tree no longer matches the events.
    const size = await treeSize(db);
    const [victim] = await db
      .select()
      .from(auditTreeNodes)
      .where(sql`${auditTreeNodes.level} = 0 AND ${auditTreeNodes.idx} = ${size - 2}`);
    if (!victim) throw new Error("leaf missing");
    await asOwner(db, "audit_tree_nodes", () =>
      db
        .update(auditTreeNodes)
        .set({ hash: new Uint8Array(32).fill(7) })
        .where(sql`${auditTreeNodes.level} = 0 AND ${auditTreeNodes.idx} = ${size - 2}`),
    );
    await expect(checkpointIfDue(db, { config, now: later(120_000) })).rejects.toThrow(
      `the stored audit tree's node (level 0, index ${size - 2}) is not what events ${size - 1}-${size - 1} give`,
    );
    expect((await verifyStoredTree(db, ORIGIN)).problems).toEqual([
      {
        kind: "node",
        level: 0,
        index: size - 2,
        message: `differs from what events ${size - 1}-${size - 1} give`,
      },
    ]);
    await asOwner(db, "audit_tree_nodes", () =>
      db
        .update(auditTreeNodes)
        .set({ hash: victim.hash })
        .where(sql`${auditTreeNodes.level} = 0 AND ${auditTreeNodes.idx} = ${size - 2}`),
    );
    // An event not yet signed over, rewritten: its leaf is no longer the stored one. (One already signed over
    // is the chain verification's and the offline verifier's to find: the checkpointer re-reads only new events.)
    await asOwner(db, "audit_events", () =>
      db
        .update(auditEvents)
        .set({ data: { memberId: "mallory" } })
        .where(eq(auditEvents.seq, size - 1)),
    );
    await expect(checkpointIfDue(db, { config, now: later(120_000) })).rejects.toThrow(
      `node (level 0, index ${size - 2}) is not what events ${size - 1}-${size - 1} give`,
    );
    // An event a checkpoint covers, rewritten by a superuser: the checkpointer does not re-read it, the log's
    // health check does, and names the leaf and every checkpoint over it.
    const [second] = await db.select().from(auditEvents).where(eq(auditEvents.seq, 2));
    await asOwner(db, "audit_events", () =>
      db
        .update(auditEvents)
        .set({ data: { memberId: "mallory" } })
        .where(eq(auditEvents.seq, 2)),
    );
    const broken = await verifyStoredTree(db, ORIGIN);
    expect(broken.problems).toContainEqual({
      kind: "node",
      level: 0,
      index: 1,
      message: "differs from what events 2-2 give",
    });
    expect(broken.problems.filter((p) => p.kind === "checkpoint")).toEqual(
      [3, 7, 17].map((size) => ({
        kind: "checkpoint",
        size,
        message: "its stored root is not the root of the events it covers",
      })),
    );
    expect(broken.verifiedCheckpoint).toBeNull();
    await asOwner(db, "audit_events", () =>
      db.update(auditEvents).set({ data: second?.data }).where(eq(auditEvents.seq, 2)),
    );
    // A signed checkpoint the stored tree no longer extends: a node of its right edge rewritten.
    const [edge] = await db
      .select()
      .from(auditTreeNodes)
      .where(sql`${auditTreeNodes.level} = 4 AND ${auditTreeNodes.idx} = 0`);
    if (!edge) throw new Error("node (4, 0) missing");
    await asOwner(db, "audit_tree_nodes", () =>
      db
        .update(auditTreeNodes)
        .set({ hash: new Uint8Array(32) })
        .where(sql`${auditTreeNodes.level} = 4 AND ${auditTreeNodes.idx} = 0`),
    );
    await expect(checkpointIfDue(db, { config, now: later(120_000) })).rejects.toThrow(
      "the stored audit tree no longer gives checkpoint 17's signed root",
    );
    expect((await latestCheckpoint(db))?.size).toBe(17);
  });
});

describe.runIf(testEngines().includes("postgres"))("two checkpointers at once, on postgres", () => {
  const database = useTestDatabase("postgres");

  it("sign each size once: one signs, the other finds nothing due", async () => {
    const db = database();
    await appendEvents(db, 25);
    const results = await Promise.all(
      Array.from({ length: 6 }, () => checkpointIfDue(db, { config, now: T0 })),
    );
    expect(results.filter((r) => r !== null).map((r) => r?.size)).toEqual([25]);
    expect(await db.select().from(auditCheckpoints)).toHaveLength(1);
  });
});
