// The stored RFC 9162 tree on real databases: the integrator adds each event it seals as the next leaf, in the
// same transaction; any size the tree has reached has its root, inclusion and consistency proofs, which the
// pure verifier accepts; the nodes are append-only; a log sealed before the tree existed is caught up; and two
// servers integrating at once on PostgreSQL leave exactly the tree of the chain.
import { randomUUID } from "node:crypto";
import { asc, eq, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import type { Db } from "@/db/client";
import { auditEvents, auditTreeNodes } from "@/db/schema";
import { secondServer, testEngines, useTestDatabase } from "@/server/testing/test-db";
import { appendAudit } from "../append";
import { integrateAudit, integrateBatch, sealedSoFar } from "../integrate";
import { sealed } from "../read";
import { type Hash, ProofError, rootOf, verifyConsistency, verifyInclusion } from "./merkle";
import {
  consistencyProofAt,
  eventLeaf,
  inclusionProofAt,
  readNodes,
  rootAt,
  TreeError,
  treeSize,
} from "./tree";

const AT = new Date("2026-03-01T10:00:00.123Z");

function reactivated() {
  const memberId = randomUUID();
  return {
    action: "member.reactivated" as const,
    actor: "system" as const,
    subject: `member:${memberId}`,
    at: AT,
    data: { memberId, note: { z: 1, a: [2, "ü"] } },
  };
}

/** `n` events, in transactions of one to three events each. */
async function appendEvents(db: Db, n: number): Promise<void> {
  let left = n;
  while (left > 0) {
    const here = Math.min(left, 1 + (left % 3));
    await db.transaction(async (tx) => {
      for (let i = 0; i < here; i++) await appendAudit(tx, reactivated());
    });
    left -= here;
  }
  await sealedSoFar(db);
}

/** Every sealed event's leaf, recomputed from the audit table, in seq order. */
async function leavesFromEvents(db: Db): Promise<Hash[]> {
  const rows = await db.select().from(auditEvents).orderBy(asc(auditEvents.seq));
  return rows.map((r) => eventLeaf(sealed(r)));
}

async function refusal(attempt: Promise<unknown>): Promise<unknown> {
  const err = await attempt.then(
    () => {
      throw new Error("expected the database to refuse the statement");
    },
    (e: unknown) => e,
  );
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
  return cause instanceof Error && "code" in cause ? cause.code : cause;
}

describe.each(testEngines())("the audit tree on %s", (engine) => {
  const database = useTestDatabase(engine);

  it("adds every sealed event as the next leaf, in the batch that seals it", async () => {
    const db = database();
    await appendEvents(db, 37);
    const leaves = await leavesFromEvents(db);
    expect(leaves).toHaveLength(37);
    expect(await treeSize(db)).toBe(37);
    const stored = await db
      .select()
      .from(auditTreeNodes)
      .where(eq(auditTreeNodes.level, 0))
      .orderBy(asc(auditTreeNodes.idx));
    expect(stored.map((n) => Buffer.from(n.hash).toString("hex"))).toEqual(
      leaves.map((l) => Buffer.from(l).toString("hex")),
    );
    expect(Buffer.from(await rootAt(db, 37)).toString("hex")).toBe(
      Buffer.from(rootOf(leaves)).toString("hex"),
    );
  });

  it("gives every size it has reached its root, inclusion proofs and consistency proofs, and no size beyond", async () => {
    const db = database();
    await appendEvents(db, 64 - (await treeSize(db)) + 7); // 71 events: a perfect tree and a ragged edge
    const leaves = await leavesFromEvents(db);
    const size = leaves.length;
    for (const n of [1, 2, 3, 7, 8, 31, 32, 33, 64, 65, size]) {
      const root = await rootAt(db, n);
      expect(Buffer.from(root).equals(Buffer.from(rootOf(leaves.slice(0, n))))).toBe(true);
      for (const seq of [1, Math.ceil(n / 2), n]) {
        const leaf = leaves[seq - 1] as Hash;
        const proof = await inclusionProofAt(db, seq, n);
        verifyInclusion(leaf, seq - 1, n, proof, root);
        // The same proof does not prove another event, nor this one at another place.
        const other = leaves[seq % n] as Hash;
        if (n > 1) expect(() => verifyInclusion(other, seq - 1, n, proof, root)).toThrow(ProofError);
      }
      for (const m of [1, Math.floor(n / 2), n - 1].filter((m) => m >= 1 && m < n)) {
        const proof = await consistencyProofAt(db, m, n);
        verifyConsistency(m, n, proof, await rootAt(db, m), root);
      }
    }
    await expect(rootAt(db, size + 1)).rejects.toThrow(TreeError);
    await expect(inclusionProofAt(db, 1, size + 1)).rejects.toThrow(TreeError);
    await expect(consistencyProofAt(db, 1, size + 1)).rejects.toThrow(TreeError);
  });

  it("is append-only: no node is changed, removed or truncated, and none is written twice", async () => {
    const db = database();
    await appendEvents(db, 3);
    const denied = "42501";
    expect(
      await refusal(
        db
          .update(auditTreeNodes)
          .set({ hash: new Uint8Array(32) })
          .where(eq(auditTreeNodes.level, 0)),
      ),
    ).toBe(denied);
    expect(await refusal(db.delete(auditTreeNodes).where(eq(auditTreeNodes.level, 0)))).toBe(denied);
    expect(await refusal(db.execute(sql`TRUNCATE audit_tree_nodes`))).toBe(denied);
    // A second node at a place already taken (the primary key): unique_violation.
    expect(
      await refusal(db.insert(auditTreeNodes).values({ level: 0, idx: 0, hash: new Uint8Array(32) })),
    ).toBe("23505");
    // Hashes are 32 bytes.
    expect(
      await refusal(db.insert(auditTreeNodes).values({ level: 40, idx: 0, hash: new Uint8Array(31) })),
    ).toBe("23514");
  });

  it("catches up on events sealed before the tree existed, then goes on sealing", async () => {
    const db = database();
    await appendEvents(db, 250 - (await treeSize(db)));
    const before = await leavesFromEvents(db);
    // The state migration 0023 finds on an existing installation: a sealed chain and no tree. Only an owner
    // bypassing the trigger can empty the table; here it stands in for "the table was just created".
    await db.execute(sql`ALTER TABLE audit_tree_nodes DISABLE TRIGGER USER`);
    try {
      await db.execute(sql`DELETE FROM audit_tree_nodes`);
    } finally {
      await db.execute(sql`ALTER TABLE audit_tree_nodes ENABLE TRIGGER USER`);
    }
    expect(await treeSize(db)).toBe(0);
    // Staged events wait while the tree catches up, 100 leaves a batch.
    await db.transaction(async (tx) => {
      await tx.insert(auditEvents).values(reactivated());
    });
    expect(await integrateBatch(db, 100)).toMatchObject({ sequenced: 0, treed: 100 });
    expect(await treeSize(db)).toBe(100);
    await integrateAudit(db);
    const leaves = await leavesFromEvents(db);
    expect(leaves).toHaveLength(before.length + 1);
    expect(await treeSize(db)).toBe(leaves.length);
    expect(Buffer.from(await rootAt(db, leaves.length)).equals(Buffer.from(rootOf(leaves)))).toBe(true);
    expect(Buffer.from(await rootAt(db, before.length)).equals(Buffer.from(rootOf(before)))).toBe(true);
  });

  it("reads hundreds of nodes in one query (a checkpoint over a busy second needs them)", async () => {
    const db = database();
    const size = await treeSize(db);
    const ids = Array.from({ length: size }, (_, index) => ({ level: 0, index }));
    const upper = Array.from({ length: Math.floor(size / 2) }, (_, index) => ({ level: 1, index }));
    // Ids repeated and levels mixed: each node once in the answer.
    const nodes = await readNodes(db, [...ids, ...upper, ...ids.slice(0, 10)]);
    expect(nodes.size).toBe(size + Math.floor(size / 2));
  });
});

describe.runIf(testEngines().includes("postgres"))(
  "the audit tree with two servers integrating, on postgres",
  () => {
    const database = useTestDatabase("postgres");

    it("holds exactly the chain's events as leaves after 300 staged events, 40 appends and two integrators at once", async () => {
      const db = database();
      const second = await secondServer(db);
      try {
        await db.transaction(async (tx) => {
          for (let i = 0; i < 300; i++) await tx.insert(auditEvents).values(reactivated());
        });
        const appends = Array.from({ length: 40 }, (_, i) =>
          (i % 2 === 0 ? db : second.db).transaction((tx) => appendAudit(tx, reactivated())),
        );
        await Promise.all([integrateAudit(db), integrateAudit(second.db), ...appends]);
        await integrateAudit(db);
        const leaves = await leavesFromEvents(db);
        expect(leaves).toHaveLength(340);
        expect(await treeSize(db)).toBe(340);
        expect(Buffer.from(await rootAt(db, 340)).equals(Buffer.from(rootOf(leaves)))).toBe(true);
      } finally {
        await second.close();
      }
    });
  },
);
