// From votes to keys, all at once: 20 approvers tap Approve on every one of many key.create operations (real
// WebAuthn assertions from software authenticators, completed concurrently) while executors run beside them —
// on PostgreSQL two executors on two pools of one database. Each operation is approved once and executed
// exactly once: one key on the HSM token, one keys row, one operation.executed, and the audit chain intact.
import { inArray } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Database, openDatabase } from "@/db/client";
import { auditEvents, keys, operations } from "@/db/schema";
import { verifyWholeChain } from "@/server/audit/verify";
import { operationKeyRef } from "@/server/hsm/signer";
import { createTestToken, type TestToken } from "@/server/hsm/testing/test-token";
import { asUser } from "@/server/hsm/testing/test-tokens";
import {
  TEST_WEBAUTHN_CONFIG as config,
  firstAdmin,
  invitedMember,
  type Person,
} from "@/server/testing/identity-fixtures";
import { createTestDatabase, type TestDatabase, testEngines } from "@/server/testing/test-db";
import { proposeOperation } from "../propose";
import { beginVote, completeVote, VoteRefusedError } from "../vote";
import type { ExecuteOutcome } from "./execute";
import { runExecutorRound } from "./run";
import { useTokenForServer } from "./testing/fixtures";

let token: TestToken;
let server: { close: () => Promise<void> };

beforeAll(() => {
  token = createTestToken("kw-quorum");
  server = useTokenForServer(token);
});

afterAll(async () => {
  await server.close();
  token.cleanup();
});

const APPROVERS = 20;

describe.each(testEngines())("votes and executors at once on %s", (engine) => {
  // PGlite runs one statement at a time: fewer operations keep the file's time reasonable there.
  const OPERATIONS = engine === "postgres" ? 50 : 10;
  let database: TestDatabase;
  let operator: Person;
  let approvers: Person[];
  const now = new Date();

  beforeAll(async () => {
    database = await createTestDatabase(engine);
    const admin = await firstAdmin(database.db, { now });
    operator = await invitedMember(database.db, admin.acting, { now, roles: ["operator"] });
    approvers = [];
    for (let i = 0; i < APPROVERS; i++) {
      approvers.push(await invitedMember(database.db, admin.acting, { now, roles: ["approver"] }));
    }
  }, 180_000);
  afterAll(async () => {
    await database.drop();
  });

  it(`${APPROVERS} approvers on every operation while executors run: each executed exactly once`, {
    timeout: 300_000,
  }, async () => {
    const db = database.db;
    const ops = [];
    for (let i = 0; i < OPERATIONS; i++) {
      ops.push(
        await proposeOperation(db, {
          actor: operator.acting,
          kind: "key.create",
          payload: { label: `quorum ${i}`, curve: "ed25519", tags: [], exportable: "never" },
          now,
        }),
      );
    }
    const ids = ops.map((o) => o.id);
    const ballots = [];
    for (const op of ops) {
      for (const who of approvers) {
        const begun = await beginVote(db, config, {
          voter: who.acting,
          operationId: op.id,
          decision: "approve",
          now,
        });
        ballots.push({ who, op, response: who.token.authenticate(begun.options, { counter: 0 }) });
      }
    }
    const second: Database | null =
      engine === "postgres" ? await openDatabase({ engine: "postgres", url: database.url ?? "" }) : null;
    let voting = true;
    const outcomes: ExecuteOutcome[] = [];
    // An executor loop as the scheduler's sweep runs it, round after round, until the votes are in and no
    // operation of this test is left approved or executing.
    const executor = async (pool: typeof db) => {
      for (;;) {
        const done = await runExecutorRound({ db: pool, clock: () => new Date() }, { concurrency: 4 });
        outcomes.push(...done);
        if (!voting && done.length === 0) {
          const open = await pool
            .select({ id: operations.id })
            .from(operations)
            .where(inArray(operations.state, ["approved", "executing"]));
          if (open.length === 0) return;
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    try {
      const votes = Promise.all(
        ballots.map(({ who, op, response }) =>
          completeVote(db, config, {
            voter: who.acting,
            operationId: op.id,
            decision: "approve",
            response,
            now,
          }).then(
            (out) => out.state,
            (e: unknown) => {
              if (e instanceof VoteRefusedError && e.reason === "not_pending") return "refused";
              throw e;
            },
          ),
        ),
      ).finally(() => {
        voting = false;
      });
      const loops = [executor(db), ...(second !== null ? [executor(second.db)] : [])];
      const [states] = await Promise.all([votes, ...loops]);
      expect(states.filter((s) => s === "approved")).toHaveLength(OPERATIONS);
    } finally {
      await second?.close();
    }
    const executed = outcomes.filter((o) => o.outcome === "executed").map((o) => o.operationId);
    expect(executed.sort()).toEqual([...ids].sort());
    const rows = await db.select().from(operations).where(inArray(operations.id, ids));
    expect(rows.every((r) => r.state === "executed" && r.attempts === 1)).toBe(true);
    expect(await db.select().from(keys).where(inArray(keys.operationId, ids))).toHaveLength(OPERATIONS);
    const events = await db
      .select({ action: auditEvents.action })
      .from(auditEvents)
      .where(
        inArray(
          auditEvents.subject,
          ids.map((id) => `operation:${id}`),
        ),
      );
    for (const action of ["operation.approved", "operation.executing", "operation.executed"]) {
      expect(events.filter((e) => e.action === action)).toHaveLength(OPERATIONS);
    }
    const CKA_ID = 0x102;
    for (const id of ids) {
      const objects = await asUser(token, false, (s) =>
        s.find([{ type: CKA_ID, value: Buffer.from(operationKeyRef(id), "hex") }]),
      );
      expect(objects).toHaveLength(2);
    }
    expect((await verifyWholeChain(db)).problems).toEqual([]);
  });
});
