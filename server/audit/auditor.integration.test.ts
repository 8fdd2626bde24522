// What auditors read through tRPC: the trail filtered by time, actor, action and subject a keyset page at a
// time (every event once, newest first, however many pages), and RFC 9162 proofs to stored checkpoints that
// the pure verifier accepts. Only admins and auditors may read any of it.
import { randomUUID } from "node:crypto";
import { TRPCError } from "@trpc/server";
import { beforeAll, describe, expect, it } from "vitest";
import type { Db } from "@/db/client";
import { auditCheckpoints } from "@/db/schema";
import { createCaller } from "@/server/api/root";
import { createContext } from "@/server/api/trpc";
import { firstAdmin, invitedMember, type Person } from "@/server/testing/identity-fixtures";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";
import { appendAudit } from "./append";
import { verifyConsistency, verifyInclusion } from "./log/merkle";
import { eventLeaf, rootAt, treeSize } from "./log/tree";

const T0 = new Date("2026-12-03T08:00:00.000Z");
const minutes = (n: number) => new Date(T0.getTime() + n * 60_000);

async function write(db: Db, n: number, actor: `member:${string}` | "system", at: (i: number) => Date) {
  const subjects: string[] = [];
  for (let i = 0; i < n; i++) {
    const memberId = randomUUID();
    subjects.push(`member:${memberId}`);
    const event =
      i % 2 === 0
        ? ({ action: "member.reactivated", data: { memberId } } as const)
        : ({ action: "member.suspended", data: { memberId, sessionsEnded: 0 } } as const);
    await db.transaction((tx) =>
      appendAudit(tx, { ...event, actor, subject: `member:${memberId}`, at: at(i) }),
    );
  }
  return subjects;
}

async function code(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return "ok";
  } catch (e) {
    return e instanceof TRPCError ? e.code : String(e);
  }
}

describe.each(testEngines())("the audit trail for auditors on %s", (engine) => {
  const db = useTestDatabase(engine);
  let auditor: Person;
  let operator: Person;
  const callerOf = (person: Person) =>
    createCaller(
      createContext({
        db: db(),
        engine,
        session: {
          sessionId: randomUUID(),
          tokenId: "credential",
          member: { id: person.acting.id, name: "x", roles: [...person.acting.roles], groups: [] },
        },
      }),
    );

  beforeAll(async () => {
    const admin = await firstAdmin(db(), { now: T0 });
    auditor = await invitedMember(db(), admin.acting, { now: T0, roles: ["auditor"] });
    operator = await invitedMember(db(), admin.acting, { now: T0, roles: ["operator"] });
    await write(db(), 130, "system", (i) => minutes(i));
  });

  it("pages through every event once, newest first, by keyset", async () => {
    const caller = callerOf(auditor);
    const seen: number[] = [];
    let before: number | undefined;
    for (;;) {
      const page = await caller.audit.events({ limit: 40, before });
      seen.push(...page.events.map((e) => e.seq));
      if (page.before === null) break;
      before = page.before;
    }
    const size = await treeSize(db());
    expect(seen).toEqual(Array.from({ length: size }, (_, i) => size - i));
  });

  it("filters by time range, actor, action and subject, together", async () => {
    const caller = callerOf(auditor);
    const window = await caller.audit.events({ from: minutes(10), to: minutes(19), limit: 500 });
    expect(window.events).toHaveLength(10);
    expect(window.events.every((e) => e.at >= minutes(10) && e.at <= minutes(19))).toBe(true);
    const suspended = await caller.audit.events({
      action: "member.suspended",
      actor: "system",
      from: minutes(10),
      to: minutes(19),
      limit: 500,
    });
    expect(suspended.events.map((e) => e.action)).toEqual(Array(5).fill("member.suspended"));
    const one = window.events[3];
    if (!one) throw new Error("an event expected");
    const story = await caller.audit.events({ subject: one.subject, limit: 500 });
    expect(story.events.map((e) => e.seq)).toEqual([one.seq]);
    expect((await caller.audit.events({ actor: "member:nobody", limit: 10 })).events).toEqual([]);
  });

  it("gives an event's inclusion proof and a consistency proof to stored checkpoints, which verify", async () => {
    const size = await treeSize(db());
    // Checkpoint rows as the checkpointer stores them (its signing is tested with the HSM in
    // checkpoints.integration); here only their sizes and roots matter.
    for (const s of [50, size])
      await db()
        .insert(auditCheckpoints)
        .values({
          size: s,
          rootHash: await rootAt(db(), s),
          signedAt: T0,
          note: `note ${s}\n`,
          verifierKey: "k",
        });
    const caller = callerOf(auditor);
    const [event] = (await caller.audit.events({ before: 51, limit: 1 })).events;
    if (!event) throw new Error("event 50 expected");
    const proof = await caller.audit.inclusion({ seq: event.seq });
    expect(proof).toMatchObject({ seq: 50, leafIndex: 49, treeSize: 50, checkpoint: "note 50\n" });
    const bytes = (h: string) => Uint8Array.from(Buffer.from(h, "hex"));
    verifyInclusion(eventLeaf(event), 49, 50, proof.proof.map(bytes), await rootAt(db(), 50));
    expect((await caller.audit.inclusion({ seq: 51 })).treeSize).toBe(size);
    const consistency = await caller.audit.consistency({ from: 50, to: size });
    verifyConsistency(
      50,
      size,
      consistency.proof.map(bytes),
      await rootAt(db(), 50),
      await rootAt(db(), size),
    );
    expect(await code(caller.audit.consistency({ from: 49, to: size }))).toBe("NOT_FOUND");
    expect(await code(caller.audit.inclusion({ seq: size + 1 }))).toBe("NOT_FOUND");
  });

  it("is for admins and auditors only", async () => {
    const caller = callerOf(operator);
    expect(await code(caller.audit.events({ limit: 10 }))).toBe("FORBIDDEN");
    expect(await code(caller.audit.inclusion({ seq: 1 }))).toBe("FORBIDDEN");
    expect(await code(caller.audit.consistency({ from: 1, to: 2 }))).toBe("FORBIDDEN");
    expect(await code(caller.audit.checkpoint())).toBe("FORBIDDEN");
    expect(await code(caller.audit.verifyTree())).toBe("FORBIDDEN");
  });
});
