// The operations and policy procedures through the tRPC API with real sessions (signed in with real tokens):
// propose → list → two votes by tapping → get shows it approved, decoded, with its votes and tally; bad input is
// refused naming the field and changes nothing; the policy is read by everyone and appended by admins.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { TRPCError } from "@trpc/server";
import { count } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { Db } from "@/db/client";
import { auditEvents, operations } from "@/db/schema";
import { createCaller } from "@/server/api/root";
import { createContext } from "@/server/api/trpc";
import { resumeSession } from "@/server/auth/sessions";
import { beginSignIn, completeSignIn } from "@/server/auth/sign-in";
import { AppError } from "@/server/errors";
import {
  TEST_WEBAUTHN_CONFIG as config,
  firstAdmin,
  invitedMember,
  type Person,
} from "@/server/testing/identity-fixtures";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";

const T0 = new Date("2026-05-06T10:00:00.000Z");
const sessionPolicy = { idleMs: 15 * 60_000, maxMs: 8 * 3_600_000 };
const payload = { label: "Treasury hot", curve: "p256", tags: ["hot"], exportable: "wrapped" };

/** The refusal's code and the field it names (an AppError's field, or the first zod issue's path). */
async function refusal(call: Promise<unknown>): Promise<{ code: string; field: string | undefined }> {
  const err = await call.then(
    () => {
      throw new Error("expected the call to be refused");
    },
    (e: unknown) => e,
  );
  if (!(err instanceof TRPCError)) throw err;
  const cause = err.cause;
  const field =
    cause instanceof AppError
      ? cause.field
      : cause && "issues" in cause && Array.isArray(cause.issues)
        ? String(cause.issues[0]?.path?.join("."))
        : undefined;
  return { code: err.code, field };
}

describe.each(testEngines())("operations through the API on %s", (engine) => {
  const database = useTestDatabase(engine);
  let db: Db;
  let dataDir: string;
  let admin: Person;
  let operator: Person;
  let approvers: Person[];

  beforeAll(async () => {
    // The vote procedures read the validated configuration (origin, RP id): the SoftAuthenticator's defaults.
    dataDir = mkdtempSync(path.join(tmpdir(), "keyward-operations-api-"));
    vi.stubEnv("KEYWARD_DATA_DIR", dataDir);
    vi.stubEnv("AUTH_SECRET", "s".repeat(32));
    vi.stubEnv("KEYWARD_HSM_PIN", "123456");
    db = database();
    admin = await firstAdmin(db, { now: T0 });
    operator = await invitedMember(db, admin.acting, { now: T0, roles: ["operator"] });
    approvers = [];
    for (let i = 0; i < 2; i++)
      approvers.push(await invitedMember(db, admin.acting, { now: T0, roles: ["approver"] }));
  });

  afterAll(() => {
    vi.unstubAllEnvs();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function api(who: Person) {
    const options = await beginSignIn(db, config, T0);
    const { sessionId } = await completeSignIn(db, config, {
      response: who.token.authenticate(options),
      now: T0,
      policy: sessionPolicy,
    });
    const session = await resumeSession(db, { sessionId, now: T0, policy: sessionPolicy });
    if (!session) throw new Error("no live session");
    return createCaller(createContext({ db, engine, session, clock: () => T0 }));
  }

  const counts = async () => ({
    operations: (await db.select({ n: count() }).from(operations))[0]?.n,
    events: (await db.select({ n: count() }).from(auditEvents))[0]?.n,
  });

  it("propose, list, vote twice by tapping, get: approved, decoded, with votes and tally", async () => {
    const op = await (await api(operator)).operations.propose({ kind: "key.create", payload });
    const [listed] = await (await api(approvers[0] as Person)).operations.list({ state: "pending" });
    expect(listed).toMatchObject({
      id: op.id,
      title: "Create the key “Treasury hot”",
      initiatorName: expect.any(String),
    });
    for (const who of approvers) {
      const caller = await api(who);
      const { options, digest } = await caller.operations.beginVote({
        operationId: op.id,
        decision: "approve",
      });
      expect(digest).toBe(op.digest);
      await caller.operations.completeVote({
        operationId: op.id,
        decision: "approve",
        response: who.token.authenticate(options),
      });
    }
    const view = await (await api(admin)).operations.get({ operationId: op.id });
    expect(view).toMatchObject({
      state: "approved",
      ruleId: "default",
      policyVersion: 1,
      tally: [{ group: "approvers", needed: 2, approvals: 2 }],
      canVote: false,
    });
    expect(view.display.lines).toContainEqual({
      label: "Exportable",
      value: "only wrapped under the HSM's trusted backup key (for backups)",
    });
    // Both votes were cast at the same clock reading: compare them in voter order.
    const byVoter = (a: string[], b: string[]) => ((a[0] ?? "") < (b[0] ?? "") ? -1 : 1);
    expect(
      view.votes.map((v) => [v.voterId, v.decision, v.tokenNickname, String(v.counts)]).sort(byVoter),
    ).toEqual(approvers.map((a) => [a.acting.id, "approve", "Key", "true"]).sort(byVoter));
  });

  it("refuses bad input naming the field, and changes nothing", async () => {
    const caller = await api(operator);
    const before = await counts();
    expect(
      await refusal(caller.operations.propose({ kind: "key.create", payload: { ...payload, curve: "rsa" } })),
    ).toEqual({
      code: "BAD_REQUEST",
      field: "payload.curve",
    });
    expect(
      await refusal(
        caller.operations.propose({ kind: "key.create", payload: { ...payload, tags: ["Hot"] } }),
      ),
    ).toEqual({
      code: "BAD_REQUEST",
      field: "payload.tags.0",
    });
    expect(await refusal(caller.operations.cancel({ operationId: "not-a-uuid" }))).toEqual({
      code: "BAD_REQUEST",
      field: "operationId",
    });
    expect(await counts()).toEqual(before);
  });

  it("the initiator cancels through the API; an approver cannot propose", async () => {
    const caller = await api(operator);
    const op = await caller.operations.propose({ kind: "key.create", payload });
    expect((await caller.operations.cancel({ operationId: op.id })).state).toBe("cancelled");
    expect(
      (await refusal((await api(approvers[0] as Person)).operations.propose({ kind: "key.create", payload })))
        .code,
    ).toBe("FORBIDDEN");
  });

  it("everyone reads the policy in force; admins append a version, refused with the field when invalid", async () => {
    const current = await (await api(operator)).policy.current();
    expect(current).toMatchObject({ version: 1 });
    const adminApi = await api(admin);
    expect(
      await refusal(adminApi.policy.update({ document: { ...current?.document, rules: "none" } })),
    ).toEqual({
      code: "BAD_REQUEST",
      field: "document.rules",
    });
    const next = await adminApi.policy.update({ document: current?.document });
    expect(next.version).toBe(2);
    expect((await (await api(approvers[1] as Person)).policy.current())?.version).toBe(2);
  });
});
