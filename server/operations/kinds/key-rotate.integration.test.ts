// key.rotate when the old key is restricted mid-step, on PGlite and PostgreSQL with a real SoftHSM token and
// real taps: the key is suspended (one tap, restrict.ts) after the HSM made the successor and before the
// successor was recorded — once with the HSM's answer arriving (the record then refuses and the step is
// repeated), once with the answer lost (the repeat must find the key pair). Either way the successor made
// under the operation's reference is found and recorded (suspended: nothing was rotated), no second key pair
// is made, the old key stays suspended, and the operation ends failed with the reason in words.
import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditEvents, keys, operations } from "@/db/schema";
import { verifyWholeChain } from "@/server/audit/verify";
import { HsmError } from "@/server/hsm";
import * as signerFacade from "@/server/hsm/signer";
import { createTestToken, type TestToken } from "@/server/hsm/testing/test-token";
import { asUser } from "@/server/hsm/testing/test-tokens";
import {
  TEST_WEBAUTHN_CONFIG as config,
  firstAdmin,
  invitedMember,
  type Person,
} from "@/server/testing/identity-fixtures";
import { createTestDatabase, type TestDatabase, testEngines } from "@/server/testing/test-db";
import { runExecutorRound } from "../executor/run";
import { useTokenForServer } from "../executor/testing/fixtures";
import type { OperationSigner } from "../executor/types";
import { KeyNotActiveError, requireActiveKey } from "../key-guard";
import { proposeOperation } from "../propose";
import { beginSuspendKey, suspendKey } from "../restrict";
import { approveInTurn } from "../testing/approve";

let token: TestToken;
let server: ReturnType<typeof useTokenForServer>;

beforeAll(() => {
  token = createTestToken("kw-rotate");
  server = useTokenForServer(token);
});

afterAll(async () => {
  await server.close();
  token.cleanup();
});

/** PKCS#11 objects under a key reference: 2 for one key pair. */
function objectsUnder(ref: string): Promise<number> {
  const CKA_ID = 0x102;
  return asUser(token, false, (s) => s.find([{ type: CKA_ID, value: Buffer.from(ref, "hex") }]).length);
}

describe.each(testEngines())("key.rotate with its key restricted mid-step on %s", (engine) => {
  let database: TestDatabase;
  let operator: Person;
  let alice: Person;
  let bob: Person;
  const now = new Date("2027-02-01T10:00:00.000Z");
  const clock = () => now;
  const noWait = { attempts: 3, backoffMs: 0, maxBackoffMs: 0 };

  beforeAll(async () => {
    database = await createTestDatabase(engine);
    const admin = await firstAdmin(database.db, { now });
    operator = await invitedMember(database.db, admin.acting, { now, roles: ["operator"] });
    alice = await invitedMember(database.db, admin.acting, { now, roles: ["approver"] });
    bob = await invitedMember(database.db, admin.acting, { now, roles: ["approver"] });
  }, 60_000);
  afterAll(async () => {
    await database.drop();
  });

  async function approved(kind: string, payload: unknown): Promise<string> {
    const op = await proposeOperation(database.db, { actor: operator.acting, kind, payload, now });
    expect(await approveInTurn(database.db, config, { operationId: op.id, voters: [alice, bob], now })).toBe(
      "approved",
    );
    return op.id;
  }

  async function activeKey(label: string): Promise<string> {
    const opId = await approved("key.create", {
      label,
      curve: "secp256k1",
      tags: ["hot"],
      exportable: "never",
    });
    await runExecutorRound({ db: database.db, clock, retry: noWait }, { concurrency: 1 });
    const [row] = await database.db.select().from(keys).where(eq(keys.operationId, opId));
    expect(row?.state).toBe("active");
    return row?.id ?? "";
  }

  async function suspend(keyId: string) {
    const begun = await beginSuspendKey(database.db, config, { actor: alice.acting, keyId, now });
    await suspendKey(database.db, config, {
      actor: alice.acting,
      keyId,
      response: alice.token.authenticate(begun.options),
      now,
    });
  }

  /**
   * The real facade; the first createKey makes the key pair, then the key is suspended (the interleaving under
   * test) and, with `loseAnswer`, the answer is lost as a timeout would lose it.
   */
  function suspendingSigner(keyId: string, loseAnswer: boolean): OperationSigner & { creates: () => number } {
    let creates = 0;
    return {
      creates: () => creates,
      findKey: signerFacade.findKey,
      operationKeyRef: signerFacade.operationKeyRef,
      createKey: async (options) => {
        creates++;
        const made = await signerFacade.createKey(options);
        if (creates === 1) {
          await suspend(keyId);
          if (loseAnswer)
            throw new HsmError(
              "outcome-unknown",
              "the HSM's answer was lost (injected after the key was made)",
              {
                operation: "createKey",
              },
            );
        }
        return made;
      },
    };
  }

  async function subjectActions(subject: string) {
    const rows = await database.db
      .select({ action: auditEvents.action, data: auditEvents.data })
      .from(auditEvents)
      .where(eq(auditEvents.subject, subject))
      .orderBy(auditEvents.seq);
    return rows;
  }

  for (const loseAnswer of [false, true]) {
    it(`records the successor once and fails the rotation, the key left suspended (${loseAnswer ? "answer lost" : "answer arrived"})`, async () => {
      const keyId = await activeKey(`restricted mid-rotation ${loseAnswer}`);
      const [before] = await database.db.select().from(keys).where(eq(keys.id, keyId));
      const opId = await approved("key.rotate", { keyId, successorLabel: `successor ${loseAnswer}` });
      const signer = suspendingSigner(keyId, loseAnswer);

      const outcomes = await runExecutorRound(
        { db: database.db, clock, signer, retry: noWait },
        { concurrency: 1 },
      );
      expect(outcomes.find((o) => o.operationId === opId)?.outcome).toBe("failed");
      // The step was repeated after the suspension and found the key pair instead of making another.
      expect(signer.creates()).toBe(1);
      const ref = signerFacade.operationKeyRef(opId);
      expect(await objectsUnder(ref)).toBe(2);

      const [op] = await database.db.select().from(operations).where(eq(operations.id, opId));
      expect(op?.state).toBe("failed");
      expect(op?.failure).toContain("the key became suspended while its successor was being made");
      expect(op?.failure).toContain(`“successor ${loseAnswer}” made on the HSM is recorded suspended`);
      expect(op?.executedAt).toBeNull();

      // The successor has its row (no key pair on the HSM without one), suspended, not linked as a rotation.
      const made = await database.db.select().from(keys).where(eq(keys.operationId, opId));
      expect(made).toHaveLength(1);
      const [successor] = made;
      expect(successor).toMatchObject({
        state: "suspended",
        hsmRef: ref,
        label: `successor ${loseAnswer}`,
        curve: "secp256k1",
        tags: ["hot"],
        exportable: "never",
        predecessorId: null,
      });
      expect(successor?.publicKey).not.toBe(before?.publicKey);
      expect(op?.result).toMatchObject({
        predecessorState: "suspended",
        successorState: "suspended",
        hsmRef: ref,
      });
      await expect(requireActiveKey(database.db, successor?.id ?? "")).rejects.toBeInstanceOf(
        KeyNotActiveError,
      );

      // The old key keeps the state it was restricted to: not deactivated, not reactivated, no successor.
      const [old] = await database.db.select().from(keys).where(eq(keys.id, keyId));
      expect(old?.state).toBe("suspended");
      expect(await database.db.select().from(keys).where(eq(keys.predecessorId, keyId))).toEqual([]);
      expect((await subjectActions(`key:${keyId}`)).map((e) => e.action)).toEqual([
        "key.created",
        "key.suspended",
      ]);
      expect((await subjectActions(`key:${successor?.id}`)).map((e) => e.action)).toEqual(["key.created"]);

      // The operation's story: one end, failed, with the reason; no operation.executed.
      const story = await subjectActions(`operation:${opId}`);
      expect(
        story.map((e) => e.action).filter((a) => a === "operation.executed" || a === "operation.failed"),
      ).toEqual(["operation.failed"]);
      expect(story.at(-1)?.data).toMatchObject({ operationId: opId, reason: op?.failure });
      const rotated = await database.db
        .select()
        .from(auditEvents)
        .where(and(eq(auditEvents.action, "key.rotated"), eq(auditEvents.subject, `key:${keyId}`)));
      expect(rotated).toEqual([]);
      expect((await verifyWholeChain(database.db)).problems).toEqual([]);
    }, 60_000);
  }

  it("fails a rotation whose key was suspended before anything was made, leaving nothing", async () => {
    const keyId = await activeKey("suspended before the step");
    const opId = await approved("key.rotate", { keyId });
    await suspend(keyId);
    const outcomes = await runExecutorRound({ db: database.db, clock, retry: noWait }, { concurrency: 1 });
    expect(outcomes.find((o) => o.operationId === opId)).toMatchObject({
      outcome: "failed",
      reason: "the key is suspended: only an active key is rotated",
    });
    expect(await database.db.select().from(keys).where(eq(keys.operationId, opId))).toEqual([]);
    expect(await objectsUnder(signerFacade.operationKeyRef(opId))).toBe(0);
  }, 60_000);
});
