// A policy saved directly in setup mode (policy.update through the tRPC caller, before going live) judges open
// operations again under the version it appends, in its own transaction, by the same fixed rule a policy.update
// operation's execution follows (rejudge.ts): on PGlite and PostgreSQL, a key proposal with one approval of the
// two the seed asks is approved by a version that asks one; one the new version denies is cancelled with the
// reason; each move is an operation.rejudged event naming the versions and who saved it.
import { randomUUID } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { auditEvents, operations } from "@/db/schema";
import { createCaller } from "@/server/api/root";
import { createContext } from "@/server/api/trpc";
import { proposeOperation } from "@/server/operations/propose";
import { approveInTurn } from "@/server/operations/testing/approve";
import { DEFAULT_POLICY } from "@/server/policy/document";
import {
  TEST_WEBAUTHN_CONFIG as config,
  firstAdmin,
  invitedMember,
  type Person,
} from "@/server/testing/identity-fixtures";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";

const T0 = new Date("2026-12-03T09:00:00.000Z");

describe.each(testEngines())("a setup-mode policy save re-judges open operations on %s", (engine) => {
  const db = useTestDatabase(engine);
  let ada: Person;
  let operator: Person;
  let alice: Person;

  beforeAll(async () => {
    ada = await firstAdmin(db(), { now: T0, name: "Ada" });
    operator = await invitedMember(db(), ada.acting, { now: T0, roles: ["operator"] });
    alice = await invitedMember(db(), ada.acting, { now: T0, roles: ["approver"] });
    await invitedMember(db(), ada.acting, { now: T0, roles: ["approver"] });
  }, 120_000);

  const admin = () =>
    createCaller(
      createContext({
        db: db(),
        engine,
        clock: () => T0,
        session: {
          sessionId: randomUUID(),
          tokenId: "credential",
          member: { id: ada.acting.id, name: "Ada", roles: [...ada.acting.roles], groups: [] },
        },
      }),
    );

  const proposeKey = (label: string, tags: string[]) =>
    proposeOperation(db(), {
      actor: operator.acting,
      kind: "key.create",
      payload: { label, curve: "ed25519", tags, exportable: "never" },
      now: T0,
    });

  const stateOf = async (id: string) =>
    (await db().select({ state: operations.state }).from(operations).where(eq(operations.id, id)))[0]?.state;

  const rejudgedOf = (id: string) =>
    db()
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.action, "operation.rejudged"), eq(auditEvents.subject, `operation:${id}`)));

  it("approves what now meets the rule, cancels what it denies, and records each move", async () => {
    const easy = await proposeKey("one tap is enough", ["setup-easy"]);
    const denied = await proposeKey("not any more", ["setup-denied"]);
    const untouched = await proposeKey("still two", []);
    for (const op of [easy, denied, untouched])
      expect(await approveInTurn(db(), config, { operationId: op.id, voters: [alice], now: T0 })).toBe(
        "pending",
      );

    const current = await admin().policy.current();
    const saved = await admin().policy.update({
      document: {
        ...DEFAULT_POLICY,
        version: (current?.version ?? 1) + 1,
        rules: [
          {
            id: "easy-keys",
            description: "One approval for these",
            match: { kinds: ["key.create"], keyTags: ["setup-easy"] },
            require: [{ group: "approvers", approvals: 1 }],
          },
          {
            id: "no-such-keys",
            description: "Not these",
            deny: true,
            reason: "keys tagged setup-denied are not made here",
            match: { kinds: ["key.create"], keyTags: ["setup-denied"] },
          },
        ],
      },
    });

    expect(await stateOf(easy.id)).toBe("approved");
    expect(await stateOf(denied.id)).toBe("cancelled");
    expect(await stateOf(untouched.id)).toBe("pending");
    const [moved] = await rejudgedOf(easy.id);
    expect(moved?.actor).toBe(`member:${ada.acting.id}`);
    expect(moved?.data).toMatchObject({
      toVersion: saved.version,
      fromRule: "default",
      toRule: "easy-keys",
      outcome: "approved",
      cause: "policy",
    });
    const [cancelled] = await rejudgedOf(denied.id);
    expect(cancelled?.data).toMatchObject({ toRule: "no-such-keys", outcome: "cancelled" });
    expect(JSON.stringify(cancelled?.data)).toContain("keys tagged setup-denied are not made here");
    expect((await rejudgedOf(untouched.id))[0]?.data).toMatchObject({ outcome: "kept" });
  }, 60_000);
});
