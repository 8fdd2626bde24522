// policy.update and re-judging, end to end on PGlite and PostgreSQL, with people and votes made through the real
// ceremonies (approveInTurn: each approver's software token signs the vote's challenge) and the real executor
// (claimApproved, executeClaimed):
// - a change proposed by an admin is shown as a diff, needs the quorum of the rule the policy has for
//   policy.update itself, and once executed is the version in force (policy.updated names the operation);
// - a change that would leave rules unreachable is refused at proposal with every reason, writing nothing; a
//   stale base and an unchanged document are refused too;
// - the check runs again at execution: a member suspended between approval and execution fails it, nothing
//   changes; and again under the admin and policy locks in the completing transaction (PostgreSQL: an approver
//   demoted while the completion waits for the admin lock → failed);
// - open operations are judged again by the fixed rule: denied → cancelled with the reason; a vote of someone
//   who lost the approver role stops counting; fewer votes now needed → approved; an approved, unclaimed one the
//   new version denies → cancelled; digests and recorded versions never change;
// - PostgreSQL: two policy.update operations on the same base executing at once → exactly one applies.
import { and, count, eq } from "drizzle-orm";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "@/db/client";
import { auditEvents, operations, policyVersions } from "@/db/schema";
import { verifyWholeChain } from "@/server/audit/verify";
import { AppError } from "@/server/errors";
import { takeAdminLock } from "@/server/members/admin-lock";
import { loadMemberForUpdate } from "@/server/members/guards";
import { reactivateMember, suspendMember, updateMember, writeMemberUpdate } from "@/server/members/members";
import { claimApproved } from "@/server/operations/executor/claim";
import { executeClaimed } from "@/server/operations/executor/execute";
import { operationKind } from "@/server/operations/kinds";
import { policyInForce, updatePolicy } from "@/server/operations/policy-store";
import { proposeOperation } from "@/server/operations/propose";
import { approveInTurn } from "@/server/operations/testing/approve";
import { DEFAULT_POLICY, type PolicyDocument, policyDigest, type Rule } from "@/server/policy/document";
import {
  firstAdmin,
  invitedMember,
  type Person,
  TEST_WEBAUTHN_CONFIG,
} from "@/server/testing/identity-fixtures";
import { createTestDatabase, type TestDatabase, testEngines } from "@/server/testing/test-db";
import { rejudgeUnderPolicyInForce } from "./rejudge";

const T0 = new Date("2027-06-07T08:00:00.000Z");
/** server/members/admin-lock.ts ADMIN_LOCK_KEY ("KWAD"), as pg_locks shows a one-bigint advisory lock's low half. */
const ADMIN_LOCK_OBJID = 0x4b57_4144;
const MINUTE = 60_000;

const approvers = (n: number) => [{ group: "approvers", approvals: n }];

/** policy.update needs 3 approvers; hot keys need 3; everything else the default's 2. */
const POLICY_CHANGES: Rule = {
  id: "policy-changes",
  description: "Changing the policy",
  match: { kinds: ["policy.update"] },
  require: approvers(3),
};
const HOT_KEYS: Rule = {
  id: "hot-keys",
  description: "",
  match: { kinds: ["key.create"], keyTags: ["hot"] },
  require: approvers(3),
};
const BASE: PolicyDocument = { ...DEFAULT_POLICY, rules: [POLICY_CHANGES, HOT_KEYS] };

describe.each(testEngines())("policy.update and re-judging on %s", (engine) => {
  let database: TestDatabase;
  let admin: Person;
  let operator: Person;
  /** a1, a2, a6: treasury; a3: compliance; a4, a5: no group. All approvers. */
  let a: Person[];
  let now = T0;
  const later = () => {
    now = new Date(now.getTime() + MINUTE);
    return now;
  };

  beforeAll(async () => {
    database = await createTestDatabase(engine);
    const db = database.db;
    admin = await firstAdmin(db, { now: T0, name: "Ada Admin" });
    operator = await invitedMember(db, admin.acting, { now: T0, roles: ["operator"], name: "Olga Operator" });
    const groups = [["treasury"], ["treasury"], ["compliance"], [], [], ["treasury"]];
    a = [];
    for (const [i, g] of groups.entries()) {
      a.push(
        await invitedMember(db, admin.acting, {
          now: T0,
          roles: ["approver"],
          groups: g,
          name: `Approver ${i + 1}`,
        }),
      );
    }
    await updatePolicy(db, { actor: admin.acting, document: BASE, now: T0 });
  }, 120_000);
  afterAll(async () => {
    await database?.drop();
  });

  const inForce = async () => {
    const p = await policyInForce(database.db);
    if (!p) throw new Error("no policy in force");
    return p;
  };

  async function proposeChange(document: PolicyDocument, baseVersion?: number) {
    const base = baseVersion ?? (await inForce()).version;
    return proposeOperation(database.db, {
      actor: admin.acting,
      kind: "policy.update",
      payload: { baseVersion: base, document },
      now: later(),
    });
  }

  const approve = (operationId: string, voters: Person[]) =>
    approveInTurn(database.db, TEST_WEBAUTHN_CONFIG, { operationId, voters, now: later() });

  async function execute(operationId: string) {
    const claimed = await claimApproved(database.db, later(), operationId);
    if (claimed === null) throw new Error(`operation ${operationId} could not be claimed`);
    return executeClaimed({ db: database.db, clock: () => now }, claimed);
  }

  async function row(id: string) {
    const [r] = await database.db.select().from(operations).where(eq(operations.id, id));
    if (!r) throw new Error(`no operation ${id}`);
    return r;
  }

  async function events(action: string, operationId?: string) {
    const rows = await database.db.select().from(auditEvents).where(eq(auditEvents.action, action));
    return rows.filter(
      (e) => operationId === undefined || (e.data as { operationId?: string }).operationId === operationId,
    );
  }

  const keyCreate = (tags: string[], label: string) =>
    proposeOperation(database.db, {
      actor: operator.acting,
      kind: "key.create",
      payload: { label, curve: "secp256k1", tags, exportable: "never" },
      now: later(),
    });

  async function expectConflict(p: Promise<unknown>): Promise<string> {
    const e = await p.then(
      () => null,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(AppError);
    if (!(e instanceof AppError)) throw new Error("not an AppError");
    expect(e.code).toBe("CONFLICT");
    return e.message;
  }

  async function written() {
    const [ops] = await database.db.select({ n: count() }).from(operations);
    const [evs] = await database.db.select({ n: count() }).from(auditEvents);
    const [versions] = await database.db.select({ n: count() }).from(policyVersions);
    return { operations: ops?.n, events: evs?.n, versions: versions?.n };
  }

  it("is shown as a diff, needs the quorum of the policy.update rule, and is in force once executed", async () => {
    const before = await inForce();
    const treasuryKeys: Rule = {
      id: "treasury-keys",
      description: "Treasury keys",
      match: { kinds: ["key.create"], keyTags: ["treasury"] },
      require: [{ group: "treasury", approvals: 2 }],
    };
    const proposed = { ...before.document, rules: [...before.document.rules, treasuryKeys] };
    const op = await proposeChange(proposed);
    expect(op.kind).toBe("policy.update");
    expect(op.ruleId).toBe("policy-changes");
    expect(op.policyVersion).toBe(before.version);

    const shown = operationKind("policy.update")?.describe(op.payload);
    expect(shown?.title).toBe(`Change the policy from version ${before.version} to ${before.version + 1}`);
    const added = shown?.lines.find((l) => l.label === "Rule “treasury-keys” added");
    expect(added?.value).toContain("judged 3rd");
    expect(added?.value).toContain("treasury");
    expect(shown?.lines).toContainEqual({ label: "Unchanged", value: "2 rules" });
    expect(shown?.lines.some((l) => l.label.startsWith("Rule “policy-changes”"))).toBe(false);

    // The rule for policy.update asks 3 approvers: two are not enough.
    expect(await approve(op.id, [a[2] as Person, a[3] as Person])).toBe("pending");
    expect(await approve(op.id, [a[4] as Person])).toBe("approved");
    expect(await execute(op.id)).toEqual({ operationId: op.id, outcome: "executed" });

    const after = await inForce();
    expect(after.version).toBe(before.version + 1);
    expect(after.document).toEqual({ ...proposed, version: before.version + 1 });
    expect(after.createdBy).toBe(admin.acting.id);
    expect(after.digest).toBe(policyDigest(after.document));
    const [updated] = await events("policy.updated", op.id);
    expect(updated?.data).toEqual({
      version: after.version,
      digest: after.digest,
      previousVersion: before.version,
      operationId: op.id,
    });
    expect((await row(op.id)).result).toEqual({ baseVersion: before.version, version: after.version });
  }, 120_000);

  it("refuses a change that leaves rules unreachable before anyone votes, naming every reason, writing nothing", async () => {
    const current = await inForce();
    const bigTreasury: Rule = {
      id: "big-treasury",
      description: "",
      match: { kinds: ["key.destroy"] },
      require: [{ group: "treasury", approvals: 4 }],
    };
    const vetoed: Rule = {
      id: "vetoed-vault",
      description: "",
      match: { kinds: ["key.create"], keyTags: ["vault"] },
      require: approvers(2),
      delay: { hours: 24, vetoGroup: "security" },
    };
    const was = await written();
    const message = await expectConflict(
      proposeChange({ ...current.document, rules: [...current.document.rules, bigTreasury, vetoed] }),
    );
    expect(message).toContain("rule “big-treasury”");
    expect(message).toContain("treasury");
    expect(message).toContain("rule “vetoed-vault”");
    expect(message).toContain("security");
    expect(await written()).toEqual(was);
  }, 60_000);

  it("refuses a stale base version and an unchanged document", async () => {
    const current = await inForce();
    const was = await written();
    const changed = { ...current.document, default: { ...current.document.default, description: "Two" } };
    const stale = await expectConflict(proposeChange(changed, current.version - 1));
    expect(stale).toContain(`policy changed since you started: version ${current.version} is in force`);
    const same = await expectConflict(proposeChange({ ...current.document, version: 1 }));
    expect(same).toContain("nothing to propose");
    expect(await written()).toEqual(was);
  }, 60_000);

  it("checks reachability again at execution: a member suspended after approval fails it with the reason", async () => {
    const before = await inForce();
    const threeTreasury: Rule = {
      id: "three-treasury",
      description: "",
      match: { kinds: ["key.destroy"] },
      require: [{ group: "treasury", approvals: 3 }],
    };
    const op = await proposeChange({ ...before.document, rules: [...before.document.rules, threeTreasury] });
    expect(await approve(op.id, [a[2] as Person, a[3] as Person, a[4] as Person])).toBe("approved");
    // Treasury has exactly three approvers: one of them suspended leaves three-treasury unreachable.
    await suspendMember(database.db, {
      actor: admin.acting,
      memberId: (a[0] as Person).acting.id,
      now: later(),
    });
    try {
      const outcome = await execute(op.id);
      expect(outcome.outcome).toBe("failed");
      const failed = await row(op.id);
      expect(failed.state).toBe("failed");
      expect(failed.failure).toContain("rule “three-treasury”");
      expect(failed.failure).toContain("treasury");
      expect(await events("operation.failed", op.id)).toHaveLength(1);
      expect(await events("policy.updated", op.id)).toHaveLength(0);
      expect((await inForce()).version).toBe(before.version);
    } finally {
      await reactivateMember(database.db, {
        actor: admin.acting,
        memberId: (a[0] as Person).acting.id,
        now: later(),
      });
    }
  }, 120_000);

  it("judges open operations again: denied → cancelled with the reason, lost votes stop counting, fewer needed → approved", async () => {
    const before = await inForce();
    const [a1, a2, a3, a4, a5] = a as [Person, Person, Person, Person, Person];
    const cold = await keyCreate(["cold"], "cold 1");
    const coldApproved = await keyCreate(["cold", "spare"], "cold approved");
    expect(await approve(coldApproved.id, [a3, a4])).toBe("approved");
    // Approved under the default's 2 approvals, not claimed: the new default asks 3 (it stays approved).
    const plainApproved = await keyCreate(["plain"], "plain approved");
    expect(await approve(plainApproved.id, [a3, a4])).toBe("approved");
    const hotLost = await keyCreate(["hot"], "hot lost");
    expect(await approve(hotLost.id, [a1, a2])).toBe("pending");
    const hotOk = await keyCreate(["hot"], "hot ok");
    expect(await approve(hotOk.id, [a3, a4])).toBe("pending");
    // a1 is no longer an approver (stays in treasury; a2 and a6 keep treasury reachable): their vote on hotLost stops counting.
    await updateMember(database.db, {
      actor: admin.acting,
      memberId: a1.acting.id,
      roles: ["operator"],
      groups: ["treasury"],
      now: later(),
    });
    const untouched = await Promise.all(
      [cold, coldApproved, plainApproved, hotLost, hotOk].map((o) => row(o.id)),
    );

    const noCold: Rule = {
      id: "no-cold",
      description: "",
      match: { kinds: ["key.create"], keyTags: ["cold"] },
      deny: true,
      reason: "cold keys are made at the offline ceremony",
    };
    const rules = before.document.rules.map((r) =>
      r.id === "hot-keys" ? { ...HOT_KEYS, require: approvers(2) } : r,
    );
    const change = await proposeChange({
      ...before.document,
      rules: [noCold, ...rules],
      default: { id: "default", description: "Three approvals", require: approvers(3) },
    });
    expect(await approve(change.id, [a3, a4, a5])).toBe("approved");
    expect(await execute(change.id)).toEqual({ operationId: change.id, outcome: "executed" });
    const version = before.version + 1;
    expect((await inForce()).version).toBe(version);

    // Denied by the new version: cancelled with the reason, pending or approved-but-unclaimed alike.
    for (const id of [cold.id, coldApproved.id]) {
      const r = await row(id);
      expect(r.state).toBe("cancelled");
      const [cancelled] = await events("operation.cancelled", id);
      expect((cancelled?.data as { reason?: string } | undefined)?.reason).toContain(
        "cold keys are made at the offline ceremony",
      );
    }
    // Approved, unclaimed, two votes where the new default asks three: decided already, it stays approved.
    expect((await row(plainApproved.id)).state).toBe("approved");
    // a1's vote no longer counts: 1 of 2, still pending, judged under the new version and rule.
    const lost = await row(hotLost.id);
    expect(lost).toMatchObject({ state: "pending", judgedVersion: version, judgedRuleId: "hot-keys" });
    // Two eligible votes meet the new rule: approved by the re-judging.
    expect((await row(hotOk.id)).state).toBe("approved");
    expect(await events("operation.approved", hotOk.id)).toHaveLength(1);

    const rejudged = (await events("operation.rejudged")).filter((e) => {
      const d = e.data as { toVersion: number };
      return d.toVersion === version;
    });
    const byOp = new Map(rejudged.map((e) => [(e.data as { operationId: string }).operationId, e.data]));
    expect(byOp.get(cold.id)).toMatchObject({
      fromVersion: before.version,
      toVersion: version,
      fromRule: "default",
      toRule: "no-cold",
      outcome: "cancelled",
      cause: "policy",
    });
    expect(byOp.get(coldApproved.id)).toMatchObject({ outcome: "cancelled", toRule: "no-cold" });
    expect(byOp.get(plainApproved.id)).toMatchObject({
      outcome: "kept",
      fromRule: "default",
      toRule: "default",
    });
    expect(byOp.get(hotLost.id)).toMatchObject({ outcome: "kept", fromRule: "hot-keys", toRule: "hot-keys" });
    expect(byOp.get(hotOk.id)).toMatchObject({ outcome: "approved" });
    // Votes stay bound: the digest and the version and rule recorded at proposal never change.
    for (const was of untouched) {
      const r = await row(was.id);
      expect({ digest: r.digest, policyVersion: r.policyVersion, ruleId: r.ruleId }).toEqual({
        digest: was.digest,
        policyVersion: was.policyVersion,
        ruleId: was.ruleId,
      });
    }
    // hotLost keeps its eligible vote: one more approval under the new rule approves it.
    expect(await approve(hotLost.id, [a5])).toBe("approved");
    expect((await verifyWholeChain(database.db)).problems).toEqual([]);
  }, 180_000);

  it("judges waiting ones too: a delay removed → approved; a delay added to a rule whose votes are met → waiting", async () => {
    const [, , , a4, a5] = a as [Person, Person, Person, Person, Person];
    const start = await inForce();
    const slow: Rule = {
      id: "slow-keys",
      description: "",
      match: { kinds: ["key.create"], keyTags: ["slow"] },
      require: approvers(2),
      delay: { hours: 24, vetoGroup: "compliance" },
    };
    const later3: Rule = {
      id: "later-keys",
      description: "",
      match: { kinds: ["key.create"], keyTags: ["later"] },
      require: approvers(3),
    };
    // Setup mode: the admin appends the rules directly.
    await updatePolicy(database.db, {
      actor: admin.acting,
      document: { ...start.document, rules: [...start.document.rules, slow, later3] },
      now: later(),
    });
    const waiting = await keyCreate(["slow"], "slow 1");
    expect(await approve(waiting.id, [a4, a5])).toBe("waiting");
    const pending = await keyCreate(["later"], "later 1");
    expect(await approve(pending.id, [a4, a5])).toBe("pending");

    const before = await inForce();
    const rules = before.document.rules.map((r) =>
      r.id === "slow-keys"
        ? { ...slow, delay: undefined }
        : r.id === "later-keys"
          ? { ...later3, require: approvers(2), delay: { hours: 12, vetoGroup: "compliance" } }
          : r,
    );
    const change = await proposeChange({ ...before.document, rules: JSON.parse(JSON.stringify(rules)) });
    expect(await approve(change.id, a.slice(2, 5))).toBe("approved");
    expect(await execute(change.id)).toEqual({ operationId: change.id, outcome: "executed" });

    expect((await row(waiting.id)).state).toBe("approved");
    const held = await row(pending.id);
    expect(held).toMatchObject({ state: "waiting", hold: "delay", judgedVersion: before.version + 1 });
    expect(held.releaseAt?.getTime()).toBe(now.getTime() + 12 * 3_600_000);
    const outcomes = (await events("operation.rejudged"))
      .map((e) => e.data as { operationId: string; outcome: string; toVersion: number })
      .filter((d) => d.toVersion === before.version + 1);
    expect(outcomes.find((d) => d.operationId === waiting.id)?.outcome).toBe("approved");
    expect(outcomes.find((d) => d.operationId === pending.id)?.outcome).toBe("waiting");
  }, 180_000);

  it("re-judges after a membership change under the version in force: a waiting one whose voter was suspended is cancelled", async () => {
    const [, , , a4, a5] = a as [Person, Person, Person, Person, Person];
    const version = (await inForce()).version;
    const op = await keyCreate(["later"], "later 2");
    expect(await approve(op.id, [a4, a5])).toBe("waiting");
    await suspendMember(database.db, { actor: admin.acting, memberId: a4.acting.id, now: later() });
    try {
      const judged = await database.db.transaction((tx) =>
        rejudgeUnderPolicyInForce(tx, { now: later(), cause: "membership" }),
      );
      expect(judged.find((j) => j.operationId === op.id)).toMatchObject({
        fromVersion: version,
        toVersion: version,
        outcome: "cancelled",
      });
      expect((await row(op.id)).state).toBe("cancelled");
      const [rejudged] = await events("operation.rejudged", op.id);
      expect(rejudged?.data).toMatchObject({ cause: "membership", outcome: "cancelled" });
      const [cancelled] = await events("operation.cancelled", op.id);
      expect((cancelled?.data as { reason?: string } | undefined)?.reason).toContain(
        "no longer meet the rule",
      );
    } finally {
      await reactivateMember(database.db, { actor: admin.acting, memberId: a4.acting.id, now: later() });
    }
  }, 120_000);

  it.runIf(engine === "postgres")(
    "checks again under the locks: an approver demoted while the completion waits for the admin lock → failed",
    async () => {
      const url = database.url;
      if (url === undefined) throw new Error("no PostgreSQL url");
      const a6 = a[5] as Person;
      const before = await inForce();
      const twoTreasury: Rule = {
        id: "two-treasury",
        description: "",
        match: { kinds: ["key.destroy"] },
        require: [{ group: "treasury", approvals: 2 }],
      };
      const op = await proposeChange({
        ...before.document,
        rules: [...before.document.rules, twoTreasury],
      });
      expect(await approve(op.id, a.slice(2, 5))).toBe("approved");
      const claimed = await claimApproved(database.db, later(), op.id);
      if (claimed === null) throw new Error("not claimed");
      const holder = await openDatabase({ engine: "postgres", url });
      const locks = new pg.Client({ connectionString: url });
      await locks.connect();
      try {
        let release = () => {};
        const released = new Promise<void>((resolve) => {
          release = resolve;
        });
        let holding = () => {};
        const isHeld = new Promise<void>((resolve) => {
          holding = resolve;
        });
        // A third connection holds the admin lock; once the completion waits for it, it demotes a treasury
        // approver (as member.update would, under the same lock) and commits.
        const held = holder.db.transaction(async (tx) => {
          await takeAdminLock(tx);
          holding();
          await released;
          await writeMemberUpdate(tx, await loadMemberForUpdate(tx, a6.acting.id), {
            roles: ["operator"],
            groups: ["treasury"],
            actor: `member:${admin.acting.id}`,
            now,
          });
        });
        await isHeld;
        // The step's check passes (a2 and a6 are the treasury approvers; a1 was demoted above), then the completing transaction waits for the lock.
        const execution = executeClaimed({ db: database.db, clock: () => now }, claimed);
        const deadline = Date.now() + 30_000;
        let waiting = 0;
        while (waiting < 1 && Date.now() < deadline) {
          const result = await locks.query<{ n: number }>(
            "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND classid = 0 AND objid = $1",
            [ADMIN_LOCK_OBJID],
          );
          waiting = result.rows[0]?.n ?? 0;
        }
        expect(waiting).toBe(1);
        release();
        await held;
        const outcome = await execution;
        expect(outcome.outcome).toBe("failed");
        expect(outcome.outcome === "failed" ? outcome.reason : "").toContain("rule “two-treasury”");
        expect((await inForce()).version).toBe(before.version);
        expect(await events("policy.updated", op.id)).toHaveLength(0);
      } finally {
        await holder.close();
        await locks.end();
        await updateMember(database.db, {
          actor: admin.acting,
          memberId: a6.acting.id,
          roles: ["approver"],
          groups: ["treasury"],
          now: later(),
        });
      }
    },
    120_000,
  );

  it.runIf(engine === "postgres")(
    "two policy.update operations on the same base executing at once: exactly one applies, the other fails",
    async () => {
      const url = database.url;
      if (url === undefined) throw new Error("no PostgreSQL url");
      const second = await openDatabase({ engine: "postgres", url });
      try {
        for (let round = 0; round < 3; round++) {
          const base = await inForce();
          const ops = [];
          for (const n of [1, 2]) {
            const d = {
              ...base.document,
              default: { ...base.document.default, description: `round ${round} change ${n}` },
            };
            const op = await proposeChange(d);
            expect(await approve(op.id, a.slice(2, 5))).toBe("approved");
            ops.push(op);
          }
          const claimed = await Promise.all(ops.map((op) => claimApproved(database.db, later(), op.id)));
          const [c1, c2] = claimed;
          if (!c1 || !c2) throw new Error("not claimed");
          const outcomes = await Promise.all([
            executeClaimed({ db: database.db, clock: () => now }, c1),
            executeClaimed({ db: second.db, clock: () => now }, c2),
          ]);
          expect(outcomes.map((o) => o.outcome).sort()).toEqual(["executed", "failed"]);
          const failed = outcomes.find((o) => o.outcome === "failed");
          expect(failed && "reason" in failed ? failed.reason : "").toContain(
            `version ${base.version + 1} is in force`,
          );
          expect((await inForce()).version).toBe(base.version + 1);
          const applied = await database.db
            .select()
            .from(auditEvents)
            .where(
              and(
                eq(auditEvents.action, "policy.updated"),
                eq(auditEvents.subject, `policy:${base.version + 1}`),
              ),
            );
          expect(applied).toHaveLength(1);
          expect(await events("policy.updated", ops[0]?.id)).toHaveLength(
            outcomes[0]?.outcome === "executed" ? 1 : 0,
          );
        }
      } finally {
        await second.close();
      }
    },
    180_000,
  );
});
