// kill -9 between claim and completion, repeated: a child server process (claim-child.ts) claims an approved
// operation and is killed with SIGKILL right after the claim commits, or after its HSM step made the key; this
// process then recovers as a restarted server would. Each operation ends executed exactly once (one key on the
// HSM, one keys row, one operation.executed), none is lost, and the audit chain stays intact.
// scripts/soak-executor.mjs runs the same for hundreds of rounds and at random moments.
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "@/db/client";
import { keys, operations } from "@/db/schema";
import { verifyWholeChain } from "@/server/audit/verify";
import { operationKeyRef } from "@/server/hsm/signer";
import { createTestToken, type TestToken } from "@/server/hsm/testing/test-token";
import { asUser } from "@/server/hsm/testing/test-tokens";
import { createTestDatabase, testEngines } from "@/server/testing/test-db";
import { DEFAULT_LEASE } from "./claim";
import { recoverExecuting } from "./recover";
import { runAndKill } from "./testing/child";
import { actionsOf, insertKeyCreates, seedInitiator, useTokenForServer } from "./testing/fixtures";

let token: TestToken;
let server: { dataDir: string; close: () => Promise<void> };

beforeAll(() => {
  token = createTestToken("kw-kill");
  server = useTokenForServer(token);
});

afterAll(async () => {
  await server.close();
  token.cleanup();
});

function objectsWithRef(ref: string): Promise<number> {
  const CKA_ID = 0x102;
  return asUser(token, false, (s) => s.find([{ type: CKA_ID, value: Buffer.from(ref, "hex") }]).length);
}

const ROUNDS = 5;
const STAGES = ["claimed", "made"] as const;

describe.each(testEngines())("kill -9 between claim and completion on %s", (engine) => {
  it(`recovers every operation exactly once, ${ROUNDS} rounds`, { timeout: 300_000 }, async () => {
    // PostgreSQL: one database both processes use. PGlite: a folder the child owns while it runs (the folder
    // lock refuses two owners), which this process reopens afterwards like a restarted server.
    const pg = engine === "postgres" ? await createTestDatabase("postgres") : null;
    const folder = `${server.dataDir}/kill-pglite`;
    const closers: (() => Promise<void>)[] = [];
    const openHere = async () => {
      if (pg !== null) return pg.db;
      const database = await openDatabase({ engine: "pglite", folder });
      closers.push(database.close);
      return database.db;
    };
    const closeHere = async () => {
      for (const close of closers.splice(0)) await close();
    };
    try {
      let db = await openHere();
      const seed = await seedInitiator(db, new Date());
      await closeHere();
      const childEnv: Record<string, string> =
        pg?.url !== undefined ? { KW_CHILD_DATABASE_URL: pg.url } : { KW_CHILD_PGLITE: folder };
      for (let round = 0; round < ROUNDS; round++) {
        const stage = STAGES[round % STAGES.length] ?? "claimed";
        db = await openHere();
        const [id = ""] = await insertKeyCreates(db, seed, 1, {
          now: new Date(),
          payload: () => ({ label: `kill ${round}`, curve: "secp256k1", tags: [], exportable: "never" }),
        });
        await closeHere();
        const printed = await runAndKill(
          stage === "made" ? "after-hsm" : "after-claim",
          `${stage} ${id}`,
          childEnv,
        );
        expect(printed).toContain(`claimed ${id}`);
        db = await openHere();
        const [left] = await db.select().from(operations).where(eq(operations.id, id));
        expect(left?.state).toBe("executing");
        // Restarted later than the claim's lease: PostgreSQL recovery takes claims past it only.
        const later = () => new Date(Date.now() + DEFAULT_LEASE.ms);
        const lease = engine === "pglite" ? { ms: 0, maxMs: 0 } : DEFAULT_LEASE;
        const outcomes = await recoverExecuting({ db, clock: later }, lease);
        expect(outcomes).toEqual([{ operationId: id, outcome: "executed" }]);
        const rows = await db.select().from(keys).where(eq(keys.operationId, id));
        expect(rows).toHaveLength(1);
        expect(await objectsWithRef(operationKeyRef(id))).toBe(2);
        expect(await actionsOf(db, id)).toEqual([
          "operation.executing",
          "operation.recovered",
          "operation.executed",
        ]);
        expect((await verifyWholeChain(db)).problems).toEqual([]);
        await closeHere();
      }
    } finally {
      await closeHere();
      await pg?.drop();
    }
  });
});
