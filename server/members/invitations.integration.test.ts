// Invitations on real databases: only admins create them, the link works once and only until it expires or
// is revoked, accepting gives exactly the invited roles and groups, and only the secret's hash is stored.
import { and, count, eq, sql } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import type { Db } from "@/db/client";
import { queryRows } from "@/db/rows";
import { auditEvents, tokens, invitations, members, type Role } from "@/db/schema";
import { sha256Hex } from "@/server/auth/secrets";
import { TEST_WEBAUTHN_CONFIG as config, firstAdmin } from "@/server/testing/identity-fixtures";
import { SoftAuthenticator } from "@/server/testing/soft-authenticator";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";
import type { Acting } from "./guards";
import {
  beginAcceptInvitation,
  completeAcceptInvitation,
  createInvitation,
  describeInvitation,
  revokeInvitation,
} from "./invitations";

const HOUR = 3_600_000;
const T0 = new Date("2026-04-04T12:00:00.000Z");
const at = (ms: number) => new Date(T0.getTime() + ms);

describe.each(testEngines())("invitations on %s", (engine) => {
  const database = useTestDatabase(engine);
  let db: Db;
  let admin: Acting;

  beforeAll(async () => {
    db = database();
    admin = (await firstAdmin(db, { now: T0 })).acting;
  });

  let people = 0;
  function invite(input: { roles?: Role[]; groups?: string[]; ttlMs?: number; actor?: Acting } = {}) {
    return createInvitation(db, {
      actor: input.actor ?? admin,
      name: `Invitee ${++people}`,
      roles: input.roles ?? ["operator"],
      groups: input.groups ?? [],
      ttlMs: input.ttlMs ?? 72 * HOUR,
      now: T0,
    });
  }

  /** Starts the acceptance ceremony with a new token; the person completes it (possibly later) with `complete`. */
  async function beginAccept(secret: string, now = T0) {
    const token = new SoftAuthenticator();
    const options = await beginAcceptInvitation(db, config, { secret, now });
    const response = token.register(options);
    const complete = (completeAt = now) =>
      completeAcceptInvitation(db, config, { secret, tokenName: "My key", response, now: completeAt });
    return { token, complete };
  }

  async function countOf(table: typeof members | typeof invitations): Promise<number> {
    const [row] = await db.select({ n: count() }).from(table);
    return row?.n ?? 0;
  }

  it("lets an admin invite a person with roles and groups, and records it", async () => {
    const { id, secret, expiresAt } = await invite({ roles: ["approver", "auditor"], groups: ["treasury"] });
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(expiresAt).toEqual(at(72 * HOUR));
    const [row] = await db.select().from(invitations).where(eq(invitations.id, id));
    expect(row).toMatchObject({ roles: ["approver", "auditor"], groups: ["treasury"], createdBy: admin.id });
    const [event] = await db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.action, "invitation.created"), eq(auditEvents.subject, `invitation:${id}`)));
    expect(event).toMatchObject({
      actor: `member:${admin.id}`,
      data: {
        invitationId: id,
        roles: ["approver", "auditor"],
        groups: ["treasury"],
        expiresAt: expiresAt.toISOString(),
      },
    });
    await expect(describeInvitation(db, secret, at(HOUR))).resolves.toEqual({
      name: row?.name,
      roles: ["approver", "auditor"],
      groups: ["treasury"],
      expiresAt,
    });
  });

  it("refuses invitations and revocations from a member who is not an admin", async () => {
    const { secret } = await invite({ roles: ["operator"] });
    const { memberId } = await (await beginAccept(secret)).complete();
    const operator: Acting = { id: memberId, roles: ["operator"] };
    const before = await countOf(invitations);
    await expect(invite({ actor: operator })).rejects.toMatchObject({ code: "FORBIDDEN" });
    expect(await countOf(invitations)).toBe(before);
    const open = await invite();
    await expect(
      revokeInvitation(db, { actor: operator, invitationId: open.id, now: T0 }),
    ).rejects.toMatchObject({
      code: "FORBIDDEN",
    });
    await expect(describeInvitation(db, open.secret, T0)).resolves.toMatchObject({ roles: ["operator"] });
  });

  it("creates the member with exactly the invitation's roles and groups, and the link then works no more", async () => {
    const { id, secret } = await invite({ roles: ["approver"], groups: ["treasury", "ops"] });
    const { token, complete } = await beginAccept(secret, at(HOUR));
    const { memberId } = await complete();

    const [member] = await db.select().from(members).where(eq(members.id, memberId));
    expect(member).toMatchObject({ roles: ["approver"], groups: ["treasury", "ops"], status: "active" });
    const [credential] = await db.select().from(tokens).where(eq(tokens.id, token.credentialId));
    expect(credential).toMatchObject({ memberId, nickname: "My key" });
    const [row] = await db.select().from(invitations).where(eq(invitations.id, id));
    expect(row).toMatchObject({ acceptedAt: at(HOUR), acceptedBy: memberId });
    const [accepted] = await db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.action, "invitation.accepted"), eq(auditEvents.subject, `invitation:${id}`)));
    expect(accepted).toMatchObject({ actor: `member:${memberId}`, data: { invitationId: id, memberId } });

    const membersBefore = await countOf(members);
    await expect(complete()).rejects.toMatchObject({ code: "CONFLICT" });
    await expect(beginAccept(secret, at(HOUR))).rejects.toMatchObject({ code: "CONFLICT" });
    await expect(describeInvitation(db, secret, at(HOUR))).rejects.toMatchObject({ code: "CONFLICT" });
    expect(await countOf(members)).toBe(membersBefore);
  });

  it("refuses an expired link, also when the ceremony started before it expired", async () => {
    const { secret } = await invite({ ttlMs: HOUR });
    const membersBefore = await countOf(members);
    await expect(describeInvitation(db, secret, at(HOUR))).rejects.toMatchObject({ code: "EXPIRED" });
    await expect(beginAccept(secret, at(HOUR))).rejects.toMatchObject({ code: "EXPIRED" });
    const started = await beginAccept(secret, at(HOUR - 60_000));
    await expect(started.complete(at(HOUR))).rejects.toMatchObject({ code: "EXPIRED" });
    expect(await countOf(members)).toBe(membersBefore);
  });

  it("refuses a revoked link, also when the person had already started accepting", async () => {
    const { id, secret } = await invite();
    const pending = await beginAccept(secret);
    await revokeInvitation(db, { actor: admin, invitationId: id, now: at(1) });
    await expect(pending.complete(at(2))).rejects.toMatchObject({ code: "EXPIRED" });
    await expect(describeInvitation(db, secret, at(2))).rejects.toMatchObject({ code: "EXPIRED" });
    await expect(beginAccept(secret, at(2))).rejects.toMatchObject({ code: "EXPIRED" });
    await expect(revokeInvitation(db, { actor: admin, invitationId: id, now: at(3) })).rejects.toMatchObject({
      code: "CONFLICT",
    });
    expect(await db.select().from(tokens).where(eq(tokens.id, pending.token.credentialId))).toEqual(
      [],
    );
  });

  it("answers NOT_FOUND for a link that was never issued", async () => {
    await expect(describeInvitation(db, "x".repeat(43), T0)).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("stores only the hash of the link secret, in no column of any invitation nor in the audit trail", async () => {
    const { id, secret } = await invite();
    const [row] = await db.select().from(invitations).where(eq(invitations.id, id));
    expect(row?.secretHash).toBe(sha256Hex(secret));
    const text = z.object({ text: z.string() });
    const invitationRows = await queryRows(
      db,
      sql`SELECT row_to_json(i)::text AS text FROM invitations i`,
      text,
    );
    const auditRows = await queryRows(db, sql`SELECT row_to_json(a)::text AS text FROM audit_events a`, text);
    expect(invitationRows.length).toBe(await countOf(invitations));
    expect(invitationRows.some((r) => r.text.includes(sha256Hex(secret)))).toBe(true);
    for (const r of [...invitationRows, ...auditRows]) expect(r.text).not.toContain(secret);
  });
});
