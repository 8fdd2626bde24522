// Quorum operations on real databases with real WebAuthn assertions (SoftAuthenticator): every transition and
// every refused one, each vote refusal of issue 12 item 2, suspended voters, several groups at once, and the
// policy in force. Concurrency (many approvers at once) is in operations-concurrency.integration.test.ts.
import type { PublicKeyCredentialRequestOptionsJSON } from "@simplewebauthn/server";
import { and, asc, eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import type { Db } from "@/db/client";
import { auditEvents, type OperationState, operations, votes } from "@/db/schema";
import type { AuditAction } from "@/server/audit/events";
import { verifyStoredChain } from "@/server/audit/read";
import { suspendMember } from "@/server/members/members";
import { revokeToken } from "@/server/members/tokens";
import { addToken } from "@/server/testing/add-token";
import {
  TEST_WEBAUTHN_CONFIG as config,
  firstAdmin,
  invitedMember,
  type Person,
} from "@/server/testing/identity-fixtures";
import { SoftAuthenticator } from "@/server/testing/soft-authenticator";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";
import { cancelOperation } from "./cancel";
import { operationDigest, voteChallenge } from "./digest";
import { expireDue } from "./expire";
import { policyInForce, updatePolicy } from "./policy-store";
import { proposeOperation } from "./propose";
import { getOperation } from "./read";
import { transition } from "./transitions";
import { beginVote, completeVote } from "./vote";

const T0 = new Date("2026-05-04T09:00:00.000Z");
const HOUR = 3_600_000;
const at = (ms: number) => new Date(T0.getTime() + ms);

const keyPayload = (over: Record<string, unknown> = {}) => ({
  label: "Hot wallet 1",
  curve: "secp256k1",
  tags: ["hot"],
  exportable: "never",
  ...over,
});

describe.each(testEngines())("quorum operations on %s", (engine) => {
  const database = useTestDatabase(engine);
  let db: Db;
  let admin: Person;
  let operator: Person;
  let a1: Person;
  let a2: Person;
  let a3: Person;

  beforeAll(async () => {
    db = database();
    admin = await firstAdmin(db, { now: T0 });
    operator = await invitedMember(db, admin.acting, { now: T0, roles: ["operator"] });
    const approver = () => invitedMember(db, admin.acting, { now: T0, roles: ["approver"] });
    [a1, a2, a3] = await Promise.all([approver(), approver(), approver()]);
  });

  const propose = (who: Person = operator, payload: unknown = keyPayload(), now = T0) =>
    proposeOperation(db, { actor: who.acting, kind: "key.create", payload, now });

  async function vote(
    who: Person,
    operationId: string,
    decision: "approve" | "reject",
    options: { now?: Date; token?: SoftAuthenticator } = {},
  ) {
    const now = options.now ?? T0;
    const begun = await beginVote(db, config, { voter: who.acting, operationId, decision, now });
    const response = (options.token ?? who.token).authenticate(begun.options);
    return completeVote(db, config, { voter: who.acting, operationId, decision, response, now });
  }

  async function state(id: string): Promise<OperationState | undefined> {
    const [row] = await db.select({ state: operations.state }).from(operations).where(eq(operations.id, id));
    return row?.state;
  }

  async function events(action: AuditAction, operationId: string) {
    return db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.action, action), eq(auditEvents.subject, `operation:${operationId}`)))
      .orderBy(asc(auditEvents.seq));
  }

  async function votesOn(operationId: string) {
    return db.select().from(votes).where(eq(votes.operationId, operationId));
  }

  /** Expects `attempt` refused with `code` and `reason`, one more vote.refused with that reason, no vote stored. */
  async function expectRefused(
    operationId: string,
    attempt: () => Promise<unknown>,
    expected: { code: string; reason: string },
  ) {
    const before = (await events("vote.refused", operationId)).length;
    const storedBefore = (await votesOn(operationId)).length;
    await expect(attempt()).rejects.toMatchObject(expected);
    const after = await events("vote.refused", operationId);
    expect(after).toHaveLength(before + 1);
    expect(after.at(-1)?.data).toMatchObject({ operationId, reason: expected.reason });
    expect(await votesOn(operationId)).toHaveLength(storedBefore);
  }

  describe("the policy in force", () => {
    it("is seeded at setup as version 1 (two approvals from the approvers) and audited", async () => {
      const policy = await policyInForce(db);
      expect(policy?.version).toBe(1);
      expect(policy?.document.default).toMatchObject({ require: [{ group: "approvers", approvals: 2 }] });
      const seeded = await db.select().from(auditEvents).where(eq(auditEvents.action, "policy.seeded"));
      expect(seeded).toHaveLength(1);
    });

    it("refuses an invalid document naming the field, and a non-admin, and changes nothing", async () => {
      await expect(
        updatePolicy(db, { actor: admin.acting, document: { version: 1, rules: [] }, now: T0 }),
      ).rejects.toMatchObject({ code: "BAD_INPUT", field: "document.default" });
      await expect(
        updatePolicy(db, { actor: operator.acting, document: (await policyInForce(db))?.document, now: T0 }),
      ).rejects.toMatchObject({ code: "FORBIDDEN" });
      expect((await policyInForce(db))?.version).toBe(1);
    });
  });

  describe("proposing", () => {
    it("stores a pending operation with its digest, policy version, rule and 48 h expiry, audited", async () => {
      const op = await propose();
      expect(op).toMatchObject({
        state: "pending",
        policyVersion: 1,
        ruleId: "default",
        initiatorId: operator.acting.id,
      });
      expect(op.expiresAt.getTime() - op.createdAt.getTime()).toBe(48 * HOUR);
      expect(op.digest).toBe(operationDigest(op));
      const [proposed] = await events("operation.proposed", op.id);
      expect(proposed?.data).toMatchObject({ operationId: op.id, digest: op.digest, policyVersion: 1 });
      const view = await getOperation(db, { viewer: a1.acting, operationId: op.id, now: T0 });
      expect(view.display.lines).toContainEqual({ label: "Curve", value: "secp256k1 (Bitcoin, Ethereum)" });
      expect(view.reasons).toEqual(["needs 2 more approvals from the approvers"]);
      expect(view.canVote).toBe(true);
    });

    it("refuses a bad payload naming the field, an unknown kind, and an approver, storing nothing", async () => {
      const count = (await db.select().from(operations)).length;
      await expect(propose(operator, keyPayload({ curve: "rsa" }))).rejects.toMatchObject({
        code: "BAD_INPUT",
        field: "payload.curve",
      });
      await expect(propose(operator, keyPayload({ extra: 1 }))).rejects.toMatchObject({ code: "BAD_INPUT" });
      await expect(
        proposeOperation(db, { actor: operator.acting, kind: "key.nuke", payload: {}, now: T0 }),
      ).rejects.toMatchObject({ code: "BAD_INPUT", field: "kind" });
      await expect(propose(a1)).rejects.toMatchObject({ code: "FORBIDDEN" });
      expect(await db.select().from(operations)).toHaveLength(count);
    });
  });

  describe("transitions", () => {
    it("pending → approved on the second approval, with the whole assertion stored and operation.approved once", async () => {
      const op = await propose();
      const first = await vote(a1, op.id, "approve");
      expect(first.state).toBe("pending");
      expect(first.evaluation.reasons).toEqual(["needs 1 more approval from the approvers"]);
      const second = await vote(a2, op.id, "approve");
      expect(second.state).toBe("approved");
      expect(await state(op.id)).toBe("approved");
      expect(await events("operation.approved", op.id)).toHaveLength(1);
      expect(await events("vote.cast", op.id)).toHaveLength(2);
      const stored = await votesOn(op.id);
      for (const v of stored) {
        expect(v.tokenId).toBe(v.voterId === a1.acting.id ? a1.token.credentialId : a2.token.credentialId);
        expect(v.assertion).toMatchObject({ id: v.tokenId, response: { signature: expect.any(String) } });
        // Anyone can recompute what the token signed from the stored operation and vote.
        expect(v.challenge).toBe(
          voteChallenge({ digest: op.digest, decision: v.decision, voterId: v.voterId, nonce: v.nonce }),
        );
      }
      // approved is not pending: a third vote and a cancel are refused, and so is a move back.
      await expectRefused(op.id, () => vote(a3, op.id, "approve"), {
        code: "CONFLICT",
        reason: "not_pending",
      });
      await expect(
        cancelOperation(db, { actor: operator.acting, operationId: op.id, now: T0 }),
      ).rejects.toMatchObject({
        code: "CONFLICT",
      });
      await expect(
        db.transaction((tx) =>
          // approved → cancelled is allowed since re-judging (governance/rejudge.ts); approved → rejected never is.
          transition(tx, {
            id: op.id,
            from: "approved",
            to: "rejected",
            actor: "system",
            at: T0,
            event: {
              action: "operation.rejected",
              data: { operationId: op.id, ruleId: "default", tally: [], votesCounted: 0 },
            },
          }),
        ),
      ).rejects.toMatchObject({ code: "CONFLICT" });
    });

    it("a transition from a state the row has left changes nothing", async () => {
      const op = await propose();
      await expect(
        db.transaction((tx) =>
          transition(tx, {
            id: op.id,
            from: "approved",
            to: "executing",
            actor: "system",
            at: T0,
            event: { action: "operation.executing", data: { operationId: op.id, attempt: 1 } },
          }),
        ),
      ).rejects.toMatchObject({ code: "CONFLICT" });
      expect(await state(op.id)).toBe("pending");
      expect(await events("operation.executing", op.id)).toHaveLength(0);
    });

    it("pending → rejected on one rejection (the default rule)", async () => {
      const op = await propose();
      await vote(a1, op.id, "approve");
      const out = await vote(a2, op.id, "reject");
      expect(out.state).toBe("rejected");
      expect(await events("operation.rejected", op.id)).toHaveLength(1);
      await expectRefused(op.id, () => vote(a3, op.id, "approve"), {
        code: "CONFLICT",
        reason: "not_pending",
      });
    });

    it("pending → cancelled by the initiator only", async () => {
      const op = await propose();
      await expect(
        cancelOperation(db, { actor: admin.acting, operationId: op.id, now: T0 }),
      ).rejects.toMatchObject({
        code: "FORBIDDEN",
      });
      const done = await cancelOperation(db, { actor: operator.acting, operationId: op.id, now: T0 });
      expect(done.state).toBe("cancelled");
      expect(await events("operation.cancelled", op.id)).toHaveLength(1);
      await expect(
        cancelOperation(db, { actor: operator.acting, operationId: op.id, now: T0 }),
      ).rejects.toMatchObject({
        code: "CONFLICT",
      });
      await expectRefused(op.id, () => vote(a1, op.id, "approve"), {
        code: "CONFLICT",
        reason: "not_pending",
      });
    });

    it("pending → expired by the sweep; before it runs, votes and cancels after expiry are refused", async () => {
      const op = await propose();
      const late = at(48 * HOUR);
      await expectRefused(op.id, () => vote(a1, op.id, "approve", { now: late }), {
        code: "CONFLICT",
        reason: "expired",
      });
      await expect(
        cancelOperation(db, { actor: operator.acting, operationId: op.id, now: late }),
      ).rejects.toMatchObject({
        code: "CONFLICT",
      });
      expect(await expireDue(db, at(48 * HOUR - 1))).toBe(0);
      expect(await state(op.id)).toBe("pending");
      expect(await expireDue(db, late)).toBeGreaterThanOrEqual(1);
      expect(await state(op.id)).toBe("expired");
      expect(await events("operation.expired", op.id)).toHaveLength(1);
      expect(await expireDue(db, late)).toBe(0);
    });
  });

  describe("vote refusals (issue 12 item 2)", () => {
    let op: Awaited<ReturnType<typeof propose>>;
    let other: Awaited<ReturnType<typeof propose>>;
    beforeAll(async () => {
      op = await propose(operator, keyPayload({ label: "Refusals" }), at(HOUR));
      other = await propose(operator, keyPayload({ label: "Refusals, other" }), at(HOUR));
    });
    const now = at(HOUR);
    const anyToken = (o: PublicKeyCredentialRequestOptionsJSON) => ({ ...o, allowCredentials: [] });

    it("the initiator cannot vote on their own operation", async () => {
      const initiatorApprover = await invitedMember(db, admin.acting, {
        now: T0,
        roles: ["operator", "approver"],
      });
      const own = await propose(initiatorApprover, keyPayload({ label: "Mine" }), now);
      await expectRefused(own.id, () => vote(initiatorApprover, own.id, "approve", { now }), {
        code: "FORBIDDEN",
        reason: "initiator",
      });
    });

    it("one vote per person, whatever token they hold: a second vote with another token is refused", async () => {
      const voter = await invitedMember(db, admin.acting, { now: T0, roles: ["approver"] });
      const second = new SoftAuthenticator();
      await addToken(db, config, {
        memberId: voter.acting.id,
        approver: voter.token,
        token: second,
        nickname: "Spare",
        now: T0,
      });
      // Both challenges are asked before either vote lands, so only the completion can refuse the second.
      const b1 = await beginVote(db, config, {
        voter: voter.acting,
        operationId: op.id,
        decision: "approve",
        now,
      });
      const b2 = await beginVote(db, config, {
        voter: voter.acting,
        operationId: op.id,
        decision: "approve",
        now,
      });
      await completeVote(db, config, {
        voter: voter.acting,
        operationId: op.id,
        decision: "approve",
        response: voter.token.authenticate(b1.options),
        now,
      });
      await expectRefused(
        op.id,
        () =>
          completeVote(db, config, {
            voter: voter.acting,
            operationId: op.id,
            decision: "approve",
            response: second.authenticate(b2.options),
            now,
          }),
        { code: "CONFLICT", reason: "already_voted" },
      );
      await expectRefused(op.id, () => vote(voter, op.id, "reject", { now, token: second }), {
        code: "CONFLICT",
        reason: "already_voted",
      });
      expect((await votesOn(op.id)).filter((v) => v.voterId === voter.acting.id)).toHaveLength(1);
    });

    it("an assertion made for another operation, another decision or another voter is refused", async () => {
      const forOther = await beginVote(db, config, {
        voter: a1.acting,
        operationId: other.id,
        decision: "approve",
        now,
      });
      await expectRefused(
        op.id,
        () =>
          completeVote(db, config, {
            voter: a1.acting,
            operationId: op.id,
            decision: "approve",
            response: a1.token.authenticate(forOther.options),
            now,
          }),
        { code: "FORBIDDEN", reason: "wrong_operation" },
      );
      const forApprove = await beginVote(db, config, {
        voter: a1.acting,
        operationId: op.id,
        decision: "approve",
        now,
      });
      await expectRefused(
        op.id,
        () =>
          completeVote(db, config, {
            voter: a1.acting,
            operationId: op.id,
            decision: "reject",
            response: a1.token.authenticate(forApprove.options),
            now,
          }),
        { code: "FORBIDDEN", reason: "wrong_decision" },
      );
      // a2's challenge, signed and sent by a1.
      const forA2 = await beginVote(db, config, {
        voter: a2.acting,
        operationId: op.id,
        decision: "approve",
        now,
      });
      await expectRefused(
        op.id,
        () =>
          completeVote(db, config, {
            voter: a1.acting,
            operationId: op.id,
            decision: "approve",
            response: a1.token.authenticate(anyToken(forA2.options)),
            now,
          }),
        { code: "FORBIDDEN", reason: "wrong_voter" },
      );
      // a1's own challenge signed by a2's token.
      const forA1 = await beginVote(db, config, {
        voter: a1.acting,
        operationId: op.id,
        decision: "approve",
        now,
      });
      await expectRefused(
        op.id,
        () =>
          completeVote(db, config, {
            voter: a1.acting,
            operationId: op.id,
            decision: "approve",
            response: a2.token.authenticate(anyToken(forA1.options)),
            now,
          }),
        { code: "FORBIDDEN", reason: "wrong_member" },
      );
      expect(
        (await votesOn(op.id)).some((v) => v.voterId === a1.acting.id || v.voterId === a2.acting.id),
      ).toBe(false);
    });

    it("a replayed challenge is refused, and so is a refused response sent again", async () => {
      const voter = await invitedMember(db, admin.acting, { now: T0, roles: ["approver"] });
      const begun = await beginVote(db, config, {
        voter: voter.acting,
        operationId: other.id,
        decision: "approve",
        now,
      });
      const response = voter.token.authenticate(begun.options);
      const input = {
        voter: voter.acting,
        operationId: other.id,
        decision: "approve" as const,
        response,
        now,
      };
      await completeVote(db, config, input);
      await expectRefused(other.id, () => completeVote(db, config, input), {
        code: "EXPIRED",
        reason: "challenge_invalid",
      });
      // A response refused for its decision burns its challenge: corrected and resent, it is still refused.
      const b = await beginVote(db, config, {
        voter: a3.acting,
        operationId: other.id,
        decision: "approve",
        now,
      });
      const r = a3.token.authenticate(b.options);
      await expectRefused(
        other.id,
        () =>
          completeVote(db, config, {
            voter: a3.acting,
            operationId: other.id,
            decision: "reject",
            response: r,
            now,
          }),
        { code: "FORBIDDEN", reason: "wrong_decision" },
      );
      await expectRefused(
        other.id,
        () =>
          completeVote(db, config, {
            voter: a3.acting,
            operationId: other.id,
            decision: "approve",
            response: r,
            now,
          }),
        { code: "EXPIRED", reason: "challenge_invalid" },
      );
    });

    it("a revoked token's vote is refused", async () => {
      const voter = await invitedMember(db, admin.acting, { now: T0, roles: ["approver"] });
      const spare = new SoftAuthenticator();
      await addToken(db, config, {
        memberId: voter.acting.id,
        approver: voter.token,
        token: spare,
        nickname: "Spare",
        now: T0,
      });
      const begun = await beginVote(db, config, {
        voter: voter.acting,
        operationId: op.id,
        decision: "approve",
        now,
      });
      await revokeToken(db, { actor: voter.acting, credentialId: spare.credentialId, now });
      await expectRefused(
        op.id,
        () =>
          completeVote(db, config, {
            voter: voter.acting,
            operationId: op.id,
            decision: "approve",
            response: spare.authenticate(anyToken(begun.options)),
            now,
          }),
        { code: "UNAUTHENTICATED", reason: "token_revoked" },
      );
    });

    it("a vote without user verification is refused", async () => {
      const voter = await invitedMember(db, admin.acting, { now: T0, roles: ["approver"] });
      const begun = await beginVote(db, config, {
        voter: voter.acting,
        operationId: op.id,
        decision: "approve",
        now,
      });
      await expectRefused(
        op.id,
        () =>
          completeVote(db, config, {
            voter: voter.acting,
            operationId: op.id,
            decision: "approve",
            response: voter.token.authenticate(begun.options, { userVerified: false }),
            now,
          }),
        { code: "UNAUTHENTICATED", reason: "user_verification_missing" },
      );
    });
  });

  it("a voter suspended after voting stops counting, and cannot vote again", async () => {
    const v1 = await invitedMember(db, admin.acting, { now: T0, roles: ["approver"] });
    const op = await propose();
    await vote(v1, op.id, "approve");
    await suspendMember(db, { actor: admin.acting, memberId: v1.acting.id, now: T0 });
    const out = await vote(a1, op.id, "approve");
    expect(out.state).toBe("pending");
    expect(out.evaluation.tally).toMatchObject([{ group: "approvers", needed: 2, approvals: 1 }]);
    const view = await getOperation(db, { viewer: a1.acting, operationId: op.id, now: T0 });
    expect(view.votes.find((v) => v.voterId === v1.acting.id)?.counts).toBe(false);
    const other = await propose();
    await expectRefused(other.id, () => vote(v1, other.id, "approve"), {
      code: "FORBIDDEN",
      reason: "member_suspended",
    });
    expect((await vote(a2, op.id, "approve")).state).toBe("approved");
  });

  it("2 of treasury AND 1 of compliance, under a policy version admins appended; a denied kind writes nothing", async () => {
    const [t1, t2, c1] = await Promise.all([
      invitedMember(db, admin.acting, { now: T0, roles: ["approver"], groups: ["treasury"] }),
      invitedMember(db, admin.acting, { now: T0, roles: ["approver"], groups: ["treasury"] }),
      invitedMember(db, admin.acting, { now: T0, roles: ["approver"], groups: ["compliance"] }),
    ]);
    const before = await policyInForce(db);
    const updated = await updatePolicy(db, {
      actor: admin.acting,
      now: T0,
      document: {
        version: 1,
        rules: [
          {
            id: "cold",
            description: "Cold keys",
            match: { kinds: ["key.create"], keyTags: ["cold"] },
            require: [
              { group: "treasury", approvals: 2 },
              { group: "compliance", approvals: 1 },
            ],
          },
          {
            id: "no-test",
            description: "No test keys",
            match: { keyTags: ["test"] },
            deny: true,
            reason: "test keys are not made here",
          },
        ],
        default: before?.document.default,
      },
    });
    expect(updated.version).toBe((before?.version ?? 0) + 1);
    expect(updated.document.version).toBe(updated.version);
    expect(await db.select().from(auditEvents).where(eq(auditEvents.action, "policy.updated"))).toHaveLength(
      1,
    );

    const count = (await db.select().from(operations)).length;
    await expect(propose(operator, keyPayload({ tags: ["test"] }))).rejects.toMatchObject({
      code: "CONFLICT",
      message: expect.stringContaining("test keys are not made here"),
    });
    expect(await db.select().from(operations)).toHaveLength(count);

    const op = await propose(operator, keyPayload({ label: "Cold 1", tags: ["cold"] }));
    expect(op).toMatchObject({ policyVersion: updated.version, ruleId: "cold" });
    await vote(t1, op.id, "approve");
    // An approver in neither group is not counted.
    expect((await vote(a3, op.id, "approve")).evaluation.reasons).toEqual([
      "needs 1 more approval from treasury",
      "needs 1 more approval from compliance",
    ]);
    expect((await vote(t2, op.id, "approve")).evaluation.reasons).toEqual([
      "needs 1 more approval from compliance",
    ]);
    expect((await vote(c1, op.id, "approve")).state).toBe("approved");
    expect(await events("operation.approved", op.id)).toHaveLength(1);
  });

  it("leaves the audit chain intact", async () => {
    expect((await verifyStoredChain(db)).problems).toEqual([]);
  });
});
