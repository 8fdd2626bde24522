// The admins role group in the operations wiring (issue 13's gap), on PGlite and PostgreSQL with real WebAuthn
// votes: where the judged rule names "admins", admins without the approver role vote (through the tRPC procedures
// too), their approvals count there and meet the rule; where it does not, an admin is refused "not_approver" and
// audited; an admin in treasury without the approver role counts nowhere but in admins; the operation page's
// canVote and the policy's reachability agree.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { auditEvents, type VoteDecision } from "@/db/schema";
import { createCaller } from "@/server/api/root";
import { createContext } from "@/server/api/trpc";
import { eligibleMembers } from "@/server/governance/members-snapshot";
import { DEFAULT_POLICY } from "@/server/policy/document";
import { unreachableRules } from "@/server/policy/reachability";
import type { PolicyDocument } from "@/server/policy/schema";
import {
  TEST_WEBAUTHN_CONFIG as config,
  firstAdmin,
  invitedMember,
  type Person,
} from "@/server/testing/identity-fixtures";
import { createTestDatabase, type TestDatabase, testEngines } from "@/server/testing/test-db";
import { updatePolicy } from "./policy-store";
import { proposeOperation } from "./propose";
import { getOperation } from "./read";
import { beginVote, completeVote } from "./vote";

const NOW = new Date("2026-12-02T12:00:00.000Z");

const policy = {
  ...DEFAULT_POLICY,
  rules: [
    {
      id: "by-admins",
      description: "Keys tagged by-admins: two admins",
      match: { kinds: ["key.create"], keyTags: ["by-admins"] },
      require: [{ group: "admins", approvals: 2 }],
    },
    {
      id: "by-treasury",
      description: "Keys tagged by-treasury: one of treasury",
      match: { kinds: ["key.create"], keyTags: ["by-treasury"] },
      require: [{ group: "treasury", approvals: 1 }],
    },
  ],
} as unknown as PolicyDocument;

describe.each(testEngines())("admins vote where the policy names them, on %s", (engine) => {
  let database: TestDatabase;
  let admin: Person;
  /** An admin without the approver role, in treasury (which must not make them count there). */
  let ben: Person;
  let operator: Person;
  let treasurer: Person;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), "keyward-admins-"));
    vi.stubEnv("KEYWARD_DATA_DIR", dataDir);
    vi.stubEnv("AUTH_SECRET", "s".repeat(32));
    vi.stubEnv("KEYWARD_HSM_PIN", "123456");
    database = await createTestDatabase(engine);
    const db = database.db;
    admin = await firstAdmin(db, { now: NOW });
    ben = await invitedMember(db, admin.acting, {
      now: NOW,
      roles: ["admin"],
      groups: ["treasury"],
      name: "Ben",
    });
    operator = await invitedMember(db, admin.acting, { now: NOW, roles: ["operator"], name: "Olga" });
    treasurer = await invitedMember(db, admin.acting, {
      now: NOW,
      roles: ["approver"],
      groups: ["treasury"],
      name: "Tess",
    });
    await updatePolicy(db, { actor: admin.acting, document: policy, now: NOW });
  }, 120_000);
  afterAll(async () => {
    await database.drop();
    vi.unstubAllEnvs();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const propose = (tag: string) =>
    proposeOperation(database.db, {
      actor: operator.acting,
      kind: "key.create",
      payload: { label: `${tag} key`, curve: "secp256k1", tags: [tag], exportable: "never" },
      now: NOW,
    });

  async function vote(who: Person, operationId: string, decision: VoteDecision = "approve") {
    const begun = await beginVote(database.db, config, {
      voter: who.acting,
      operationId,
      decision,
      now: NOW,
    });
    const response = who.token.authenticate(begun.options);
    return completeVote(database.db, config, {
      voter: who.acting,
      operationId,
      decision,
      response,
      now: NOW,
    });
  }

  const callerFor = (who: Person, name: string, groups: string[]) =>
    createCaller(
      createContext({
        db: database.db,
        engine,
        clock: () => NOW,
        session: {
          sessionId: "00000000-0000-4000-8000-000000000002",
          tokenId: who.token.credentialId,
          member: { id: who.acting.id, name, roles: [...who.acting.roles], groups },
        },
      }),
    );

  it("two admins without the approver role approve a rule naming the admins, one through tRPC", async () => {
    const op = await propose("by-admins");
    const page = await getOperation(database.db, { viewer: ben.acting, operationId: op.id, now: NOW });
    expect(page.canVote).toBe(true);
    const first = await vote(admin, op.id);
    expect(first.state).toBe("pending");
    expect(first.evaluation.reasons).toEqual(["needs 1 more approval from the admins"]);
    const caller = callerFor(ben, "Ben", ["treasury"]);
    const begun = await caller.operations.beginVote({ operationId: op.id, decision: "approve" });
    const response = ben.token.authenticate(begun.options);
    const outcome = await caller.operations.completeVote({
      operationId: op.id,
      decision: "approve",
      response,
    });
    expect(outcome.state).toBe("approved");
    expect(outcome.evaluation.tally).toEqual([
      { group: "admins", needed: 2, approvals: 2, voterIds: [admin.acting.id, ben.acting.id].sort() },
    ]);
    // An approver outside the admins could vote (approvers always may) but would count for nothing here.
  });

  it("an admin is refused where the rule does not name the admins, and the refusal is audited", async () => {
    const op = await propose("by-treasury");
    const page = await getOperation(database.db, { viewer: ben.acting, operationId: op.id, now: NOW });
    expect(page.canVote).toBe(false);
    await expect(vote(ben, op.id)).rejects.toMatchObject({ reason: "not_approver", code: "FORBIDDEN" });
    const refused = await database.db
      .select({ data: auditEvents.data })
      .from(auditEvents)
      .where(and(eq(auditEvents.subject, `operation:${op.id}`), eq(auditEvents.action, "vote.refused")));
    expect(refused.map((r) => r.data)).toEqual([expect.objectContaining({ reason: "not_approver" })]);
    // Tess, an approver in treasury, approves it.
    expect((await vote(treasurer, op.id)).state).toBe("approved");
  });

  it("an operator (no approver, no admin role) is still refused at the procedure", async () => {
    const op = await propose("by-admins");
    const caller = callerFor(operator, "Olga", []);
    await expect(
      caller.operations.beginVote({ operationId: op.id, decision: "approve" }),
    ).rejects.toMatchObject({ code: "FORBIDDEN" });
  });

  it("reachability counts the admins for by-admins and Ben nowhere else", async () => {
    const members = await eligibleMembers(database.db);
    // Only the default (two approvers) is short: Ben, an admin in treasury, is no approver.
    expect(unreachableRules(policy, members)).toEqual([
      {
        ruleId: "default",
        reason:
          "the rule for policy.update (the default rule) can never be met: it needs 2 approvals from the approvers, but only 1 eligible member of the approvers holds a live token",
      },
    ]);
    const withoutTess = members.filter((m) => m.id !== treasurer.acting.id);
    expect(unreachableRules(policy, withoutTess)).toEqual([
      {
        ruleId: "by-treasury",
        reason:
          "rule by-treasury needs 1 approval from treasury, but no eligible member of treasury holds a live token",
      },
      {
        ruleId: "default",
        reason:
          "the rule for policy.update (the default rule) can never be met: it needs 2 approvals from the approvers, but no eligible member of the approvers holds a live token",
      },
    ]);
  });
});
