// policy.preview and policy.history through the tRPC caller on PGlite and PostgreSQL, with members made by the
// real ceremonies: a draft's problems name their fields; a valid draft comes back as the diff against the
// version in force and the reachability verdict against the members as they are (a revoked token stops
// counting); preview writes nothing; history lists every version, newest first, with who appended it.
import { randomUUID } from "node:crypto";
import { TRPCError } from "@trpc/server";
import { count } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { auditEvents, policyVersions } from "@/db/schema";
import { createCaller } from "@/server/api/root";
import { createContext } from "@/server/api/trpc";
import { revokeToken } from "@/server/members/tokens";
import { DEFAULT_POLICY, type PolicyDocument, policyDigest } from "@/server/policy/document";
import { firstAdmin, invitedMember, type Person } from "@/server/testing/identity-fixtures";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";

const T0 = new Date("2026-12-02T09:00:00.000Z");

const bigBtc = {
  id: "big-btc",
  description: "Large withdrawals",
  match: { kinds: ["withdrawal"] },
  require: [{ group: "treasury", approvals: 3 }],
};
const draft = (rules: unknown[]): unknown => ({ ...DEFAULT_POLICY, version: 1, rules });

describe.each(testEngines())("policy.preview and policy.history on %s", (engine) => {
  const db = useTestDatabase(engine);
  let ada: Person;
  let approver: Person;
  const treasury: Person[] = [];

  beforeAll(async () => {
    ada = await firstAdmin(db(), { now: T0, name: "Ada" });
    for (let i = 0; i < 3; i++)
      treasury.push(
        await invitedMember(db(), ada.acting, { now: T0, roles: ["approver"], groups: ["treasury"] }),
      );
    approver = await invitedMember(db(), ada.acting, { now: T0, roles: ["approver"] });
  }, 120_000);

  const callerOf = (person: Person, name = "Someone") => {
    const member = { id: person.acting.id, name, roles: [...person.acting.roles], groups: [] };
    return createCaller(
      createContext({
        db: db(),
        engine,
        session: { sessionId: randomUUID(), tokenId: "credential", member },
      }),
    );
  };
  const written = async () => {
    const [versions] = await db().select({ n: count() }).from(policyVersions);
    const [events] = await db().select({ n: count() }).from(auditEvents);
    return { versions: versions?.n, events: events?.n };
  };

  it("names the field of each problem in a draft", async () => {
    const admin = callerOf(ada);
    const broken = {
      version: 1,
      rules: [{ ...bigBtc, require: [{ group: "treasury", approvals: 0 }] }],
    };
    const out = await admin.policy.preview({ document: broken });
    expect(out.ok).toBe(false);
    expect(out.ok ? [] : out.errors.map((e) => e.field)).toEqual(["rules.0.require.0.approvals", "default"]);
    const notAnObject = await admin.policy.preview({ document: "rules" });
    expect(notAnObject).toEqual({
      ok: false,
      errors: [{ field: "(the document)", message: expect.any(String) }],
    });
  }, 60_000);

  it("returns the diff and the reachability verdict against the members as they are, and writes nothing", async () => {
    const admin = callerOf(ada);
    const before = await written();

    const reachable = await admin.policy.preview({ document: draft([bigBtc]) });
    if (!reachable.ok) throw new Error(JSON.stringify(reachable.errors));
    expect(reachable.unreachable).toEqual([]);
    expect(reachable.mode).toBe("setup");
    expect({ base: reachable.baseVersion, version: reachable.version }).toEqual({ base: 1, version: 2 });
    const stored = { ...(draft([bigBtc]) as PolicyDocument), version: 2 };
    expect(reachable.digest).toBe(policyDigest(stored));
    expect(reachable.diff.rules).toEqual([
      {
        ruleId: "big-btc",
        change: "added",
        before: null,
        after: [
          "Withdrawals",
          "3 approvals from treasury",
          "expires after 48 h",
          "Described as: Large withdrawals",
        ],
        position: { before: null, after: 1 },
      },
    ]);
    expect(reachable.diff.other).toEqual([]);
    expect(await written()).toEqual(before);

    // One treasurer's only token revoked: only 2 of treasury can still approve.
    const third = treasury[2];
    if (!third) throw new Error("fixture");
    await revokeToken(db(), { actor: ada.acting, credentialId: third.token.credentialId, now: T0 });
    const afterRevoke = await written();
    const unreachable = await admin.policy.preview({ document: draft([bigBtc]) });
    if (!unreachable.ok) throw new Error("should parse");
    expect(unreachable.unreachable).toEqual([
      {
        ruleId: "big-btc",
        reason:
          "rule big-btc needs 3 approvals from treasury, but only 2 eligible members of treasury hold a live token",
      },
    ]);
    expect(await written()).toEqual(afterRevoke);
    expect(afterRevoke.versions).toBe(before.versions);
  }, 120_000);

  it("is for admins only, and history is for every role", async () => {
    const other = callerOf(approver);
    const refused = await other.policy.preview({ document: draft([]) }).catch((e: unknown) => e);
    expect(refused instanceof TRPCError ? refused.code : refused).toBe("FORBIDDEN");
    expect((await other.policy.history()).map((v) => v.version)).toEqual([1]);
  }, 60_000);

  it("lists every version newest first, with when, by whom and the digest", async () => {
    const admin = callerOf(ada);
    const second = await admin.policy.update({ document: draft([]) });
    const history = await admin.policy.history();
    const current = await admin.policy.current();
    expect(
      history.map((v) => ({ version: v.version, by: v.createdBy?.name ?? null, digest: v.digest })),
    ).toEqual([
      { version: 2, by: "Ada", digest: second.digest },
      { version: 1, by: null, digest: policyDigest(DEFAULT_POLICY) },
    ]);
    expect(current?.digest).toBe(second.digest);
    expect(history[0]?.createdAt).toBeInstanceOf(Date);
  }, 60_000);
});
