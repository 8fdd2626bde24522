// eligibleMembers on PGlite and PostgreSQL, with members made through the real ceremonies: every member is
// listed (suspended ones as inactive), with roles, groups and only their live tokens counted (a revoked token
// is not; a second token is). membershipAfter applies a change without touching the snapshot it was given.
import { describe, expect, it } from "vitest";
import { suspendMember } from "@/server/members/members";
import { revokeToken } from "@/server/members/tokens";
import type { EligibleMember } from "@/server/policy/reachability";
import { addToken } from "@/server/testing/add-token";
import { firstAdmin, invitedMember, TEST_WEBAUTHN_CONFIG } from "@/server/testing/identity-fixtures";
import { SoftAuthenticator } from "@/server/testing/soft-authenticator";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";
import { eligibleMembers, membershipAfter } from "./members-snapshot";

const T0 = new Date("2027-05-03T09:00:00.000Z");

describe.each(testEngines())("eligibleMembers on %s", (engine) => {
  const db = useTestDatabase(engine);

  it("lists every member with status, roles, groups and live tokens only", async () => {
    const admin = await firstAdmin(db(), { now: T0, name: "Ada" });
    const two = await invitedMember(db(), admin.acting, {
      now: T0,
      roles: ["approver"],
      groups: ["treasury", "compliance"],
      name: "Two Tokens",
    });
    await addToken(db(), TEST_WEBAUTHN_CONFIG, {
      memberId: two.acting.id,
      approver: two.token,
      token: new SoftAuthenticator(),
      nickname: "Spare",
      now: T0,
    });
    const revoked = await invitedMember(db(), admin.acting, {
      now: T0,
      roles: ["approver"],
      groups: ["treasury"],
      name: "Revoked",
    });
    await revokeToken(db(), { actor: admin.acting, credentialId: revoked.token.credentialId, now: T0 });
    const suspended = await invitedMember(db(), admin.acting, {
      now: T0,
      roles: ["approver", "operator"],
      name: "Suspended",
    });
    await suspendMember(db(), { actor: admin.acting, memberId: suspended.acting.id, now: T0 });

    const snapshot = await eligibleMembers(db());
    const expected: EligibleMember[] = [
      { id: admin.acting.id, name: "Ada", roles: ["admin"], groups: [], active: true, liveTokens: 1 },
      {
        id: two.acting.id,
        name: "Two Tokens",
        roles: ["approver"],
        groups: ["treasury", "compliance"],
        active: true,
        liveTokens: 2,
      },
      {
        id: revoked.acting.id,
        name: "Revoked",
        roles: ["approver"],
        groups: ["treasury"],
        active: true,
        liveTokens: 0,
      },
      {
        id: suspended.acting.id,
        name: "Suspended",
        roles: ["approver", "operator"],
        groups: [],
        active: false,
        liveTokens: 1,
      },
    ];
    expect(snapshot).toEqual(expected.sort((a, b) => (a.id < b.id ? -1 : 1)));
  }, 60_000);
});

describe("membershipAfter", () => {
  const snapshot: readonly EligibleMember[] = Object.freeze([
    { id: "a", name: "A", roles: ["approver"], groups: ["treasury"], active: true, liveTokens: 1 },
    { id: "b", name: "B", roles: ["approver"], groups: [], active: false, liveTokens: 2 },
  ]);

  it("changes the named member only and leaves the snapshot as it was", () => {
    const before = structuredClone(snapshot);
    const after = membershipAfter(snapshot, "b", { active: true, groups: ["compliance"] });
    expect(after).toEqual([
      snapshot[0],
      { id: "b", name: "B", roles: ["approver"], groups: ["compliance"], active: true, liveTokens: 2 },
    ]);
    expect(snapshot).toEqual(before);
    expect(membershipAfter(snapshot, "a", { liveTokens: -1 })[0]?.liveTokens).toBe(0);
    expect(membershipAfter(snapshot, "nobody", { active: false })).toEqual(snapshot);
  });
});
