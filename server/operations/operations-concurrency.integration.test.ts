// Many approvers voting at once on several operations: each operation is approved exactly once, with one
// operation.approved, however the votes interleave (on PostgreSQL, truly concurrent transactions on a pool).
// Without the row lock the quorum would be counted from reads that miss the votes committing beside them.
import { and, eq, inArray } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import type { Db } from "@/db/client";
import { auditEvents, operations, votes } from "@/db/schema";
import { verifyStoredChain } from "@/server/audit/read";
import {
  TEST_WEBAUTHN_CONFIG as config,
  firstAdmin,
  invitedMember,
  type Person,
} from "@/server/testing/identity-fixtures";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";
import { proposeOperation } from "./propose";
import { beginVote, completeVote, VoteRefusedError } from "./vote";

const T0 = new Date("2026-05-05T09:00:00.000Z");
const APPROVERS = 20;
const OPERATIONS = 4;
const ROUNDS = 3;

describe.each(testEngines())("concurrent votes on %s", (engine) => {
  const database = useTestDatabase(engine);
  let db: Db;
  let operator: Person;
  let approvers: Person[];

  beforeAll(async () => {
    db = database();
    const admin = await firstAdmin(db, { now: T0 });
    operator = await invitedMember(db, admin.acting, { now: T0, roles: ["operator"] });
    approvers = [];
    for (let i = 0; i < APPROVERS; i++) {
      approvers.push(await invitedMember(db, admin.acting, { now: T0, roles: ["approver"] }));
    }
  }, 120_000);

  it.each(Array.from({ length: ROUNDS }, (_, i) => i + 1))(
    "round %i: 20 approvers at once on 4 operations → each approved exactly once",
    async (round) => {
      const ops = [];
      for (let i = 0; i < OPERATIONS; i++) {
        ops.push(
          await proposeOperation(db, {
            actor: operator.acting,
            kind: "key.create",
            payload: { label: `Round ${round} key ${i}`, curve: "ed25519", tags: [], exportable: "never" },
            now: T0,
          }),
        );
      }
      // Every challenge first; then every completion at once. The tokens report no signature counter (as many
      // passkeys do), so one person's votes on several operations may land in any order.
      const ballots = [];
      for (const op of ops) {
        for (const who of approvers) {
          const begun = await beginVote(db, config, {
            voter: who.acting,
            operationId: op.id,
            decision: "approve",
            now: T0,
          });
          ballots.push({ who, op, response: who.token.authenticate(begun.options, { counter: 0 }) });
        }
      }
      const outcomes = await Promise.all(
        ballots.map(({ who, op, response }) =>
          completeVote(db, config, {
            voter: who.acting,
            operationId: op.id,
            decision: "approve",
            response,
            now: T0,
          }).then(
            (out) => ({ op: op.id, state: out.state }),
            (e: unknown) => {
              if (e instanceof VoteRefusedError && e.reason === "not_pending")
                return { op: op.id, state: "refused" };
              throw e;
            },
          ),
        ),
      );
      const ids = ops.map((o) => o.id);
      for (const id of ids) {
        const mine = outcomes.filter((o) => o.op === id);
        expect(mine.filter((o) => o.state === "approved")).toHaveLength(1);
        expect(mine.filter((o) => o.state === "pending")).toHaveLength(1);
        expect(mine.filter((o) => o.state === "refused")).toHaveLength(APPROVERS - 2);
      }
      const rows = await db.select().from(operations).where(inArray(operations.id, ids));
      expect(rows.map((r) => r.state)).toEqual(ids.map(() => "approved"));
      const approved = await db
        .select({ subject: auditEvents.subject })
        .from(auditEvents)
        .where(
          and(
            eq(auditEvents.action, "operation.approved"),
            inArray(
              auditEvents.subject,
              ids.map((id) => `operation:${id}`),
            ),
          ),
        );
      expect(approved.map((e) => e.subject).sort()).toEqual(ids.map((id) => `operation:${id}`).sort());
      const stored = await db
        .select({ op: votes.operationId })
        .from(votes)
        .where(inArray(votes.operationId, ids));
      expect(stored).toHaveLength(2 * OPERATIONS);
    },
    120_000,
  );

  it("leaves the audit chain intact", async () => {
    expect((await verifyStoredChain(db)).problems).toEqual([]);
  });
});
