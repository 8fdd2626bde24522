// Which hardware tokens Keyward refuses at registration, on real databases: a model outside the allow-list,
// an unattested token when a list is set, a token without user verification, a phishing origin, a reused
// challenge. A refusal is audited (token.refused) while nothing of the person or token is stored.
import { randomUUID, X509Certificate } from "node:crypto";
import { and, asc, count, eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import type { Db } from "@/db/client";
import { auditEvents, tokens, invitations, members } from "@/db/schema";
import type { Acting } from "@/server/members/guards";
import {
  beginAcceptInvitation,
  completeAcceptInvitation,
  createInvitation,
} from "@/server/members/invitations";
import { completeAddToken } from "@/server/members/tokens";
import { approvedAddition } from "@/server/testing/add-token";
import { firstAdmin, TEST_WEBAUTHN_CONFIG } from "@/server/testing/identity-fixtures";
import {
  SoftAuthenticator,
  type SoftAuthenticatorOptions,
  TestAttestationCa,
} from "@/server/testing/soft-authenticator";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";
import type { WebAuthnConfig } from "./config";

/** No AAGUID allow-list: any model may register. Tests that want one set it on a copy. */
const openConfig = TEST_WEBAUTHN_CONFIG;
const NOW = new Date("2026-04-02T09:00:00.000Z");

describe.each(testEngines())("token registration refusals on %s", (engine) => {
  const database = useTestDatabase(engine);
  let db: Db;
  let admin: Acting;
  let adminToken: SoftAuthenticator;

  beforeAll(async () => {
    db = database();
    ({ acting: admin, token: adminToken } = await firstAdmin(db, { now: NOW }));
  });

  /** An open invitation, and a token of a model no other test uses. */
  async function invitationAndToken(token: SoftAuthenticatorOptions = {}) {
    const { secret, id } = await createInvitation(db, {
      actor: admin,
      name: "Grace Hopper",
      roles: ["approver"],
      groups: ["treasury"],
      ttlMs: 3_600_000,
      now: NOW,
    });
    return { secret, invitationId: id, token: new SoftAuthenticator({ aaguid: randomUUID(), ...token }) };
  }

  /** Begins and completes the invitation with `token` under `config`; returns the completion promise. */
  async function accept(config: WebAuthnConfig, secret: string, token: SoftAuthenticator, origin?: string) {
    const options = await beginAcceptInvitation(db, config, { secret, now: NOW });
    const response = token.register(options, { origin });
    return {
      userHandle: options.user.id,
      done: completeAcceptInvitation(db, config, { secret, tokenName: "Key", response, now: NOW }),
    };
  }

  async function memberCount(): Promise<number> {
    const [row] = await db.select({ n: count() }).from(members);
    return row?.n ?? 0;
  }

  /** Asserts nothing of the refused person or token was stored, and the invitation is still open. */
  async function expectNothingStored(token: SoftAuthenticator, invitationId: string, userHandle: string) {
    expect(await db.select().from(tokens).where(eq(tokens.id, token.credentialId))).toEqual([]);
    expect(await db.select().from(members).where(eq(members.userHandle, userHandle))).toEqual([]);
    const [invitation] = await db.select().from(invitations).where(eq(invitations.id, invitationId));
    expect(invitation).toMatchObject({ acceptedAt: null, acceptedBy: null });
  }

  async function refusals(aaguid: string) {
    return db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.action, "token.refused"), eq(auditEvents.subject, `aaguid:${aaguid}`)))
      .orderBy(asc(auditEvents.seq));
  }

  it("refuses a model outside a non-empty AAGUID allow-list, names the list, and audits the refusal", async () => {
    const config = { ...openConfig, aaguidAllowList: ["cb69481e-8ff7-4039-93ec-0a2729a154a8"] };
    const { secret, invitationId, token } = await invitationAndToken();
    const before = await memberCount();
    const { done, userHandle } = await accept(config, secret, token);
    await expect(done).rejects.toMatchObject({ code: "TOKEN_REFUSED" });
    await expect(done).rejects.toThrow(/not on this console's allow-list/);
    await expect(done).rejects.toThrow(token.aaguid);

    expect(await memberCount()).toBe(before);
    await expectNothingStored(token, invitationId, userHandle);
    expect(await refusals(token.aaguid)).toEqual([
      expect.objectContaining({
        actor: "anonymous",
        at: NOW,
        data: { reason: "aaguid_not_allowed", aaguid: token.aaguid, purpose: "invitation" },
      }),
    ]);

    // The invited person can still join with an approved model whose chain reaches a pinned root.
    const ca = await TestAttestationCa.create();
    const approvedModel = "cb69481e-8ff7-4039-93ec-0a2729a154a8";
    const approved = new SoftAuthenticator({ aaguid: approvedModel, attestationIdentity: await ca.issue(approvedModel) });
    const retry = await accept({ ...config, attestationRoots: [new X509Certificate(ca.pem)] }, secret, approved);
    await expect(retry.done).resolves.toMatchObject({ memberId: expect.any(String) });
  });

  it("refuses a token without attestation when an allow-list is set, since its model cannot be checked", async () => {
    const { secret, invitationId, token } = await invitationAndToken({ attestation: "none" });
    const config = { ...openConfig, aaguidAllowList: [token.aaguid] };
    const { done, userHandle } = await accept(config, secret, token);
    await expect(done).rejects.toMatchObject({ code: "TOKEN_REFUSED" });
    await expect(done).rejects.toThrow(/did not provide an attestation/);
    await expectNothingStored(token, invitationId, userHandle);
    expect((await refusals(token.aaguid)).map((e) => e.data)).toEqual([
      { reason: "attestation_missing", aaguid: token.aaguid, purpose: "invitation" },
    ]);
  });

  it("accepts any model, attested or not, when no allow-list is set", async () => {
    const { secret, token } = await invitationAndToken({ attestation: "none" });
    const { done } = await accept(openConfig, secret, token);
    const { memberId } = await done;
    const [stored] = await db.select().from(tokens).where(eq(tokens.id, token.credentialId));
    expect(stored).toMatchObject({ memberId, aaguid: token.aaguid, attestationFormat: "none" });
  });

  it("refuses a token that does not verify its holder, saying user verification is required", async () => {
    const { secret, invitationId, token } = await invitationAndToken({ userVerification: false });
    const { done, userHandle } = await accept(openConfig, secret, token);
    await expect(done).rejects.toMatchObject({ code: "TOKEN_REFUSED" });
    await expect(done).rejects.toThrow(/requires tokens with user verification/);
    await expectNothingStored(token, invitationId, userHandle);
    expect((await refusals(token.aaguid)).map((e) => e.data)).toEqual([
      { reason: "user_verification_missing", aaguid: token.aaguid, purpose: "invitation" },
    ]);
  });

  it("burns the challenge of a refused registration, so the same request cannot be retried", async () => {
    const { secret } = await invitationAndToken();
    const options = await beginAcceptInvitation(db, openConfig, { secret, now: NOW });
    const weak = new SoftAuthenticator({ aaguid: randomUUID(), userVerification: false });
    const refused = completeAcceptInvitation(db, openConfig, {
      secret,
      tokenName: "Key",
      response: weak.register(options),
      now: NOW,
    });
    await expect(refused).rejects.toMatchObject({ code: "TOKEN_REFUSED" });
    const retry = completeAcceptInvitation(db, openConfig, {
      secret,
      tokenName: "Key",
      response: new SoftAuthenticator().register(options),
      now: NOW,
    });
    await expect(retry).rejects.toMatchObject({ code: "EXPIRED" });
  });

  it("refuses a registration made on another origin (a phishing page relaying the ceremony)", async () => {
    const { secret, invitationId, token } = await invitationAndToken();
    const { done, userHandle } = await accept(openConfig, secret, token, "https://keyward-login.example.net");
    await expect(done).rejects.toMatchObject({ code: "TOKEN_REFUSED" });
    await expectNothingStored(token, invitationId, userHandle);
    const [refusal] = await db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.action, "token.refused"), eq(auditEvents.subject, "token")))
      .orderBy(asc(auditEvents.seq));
    expect(refusal?.data).toEqual({ reason: "attestation_invalid", aaguid: null, purpose: "invitation" });
  });

  it("refuses a response to a challenge that was already consumed", async () => {
    const token = new SoftAuthenticator();
    const { additionId, registration } = await approvedAddition(db, openConfig, {
      memberId: admin.id,
      approver: adminToken,
      now: NOW,
    });
    const response = token.register(registration);
    const input = { memberId: admin.id, additionId, nickname: "Spare key", response, now: NOW };
    await expect(completeAddToken(db, openConfig, input)).resolves.toMatchObject({
      credentialId: token.credentialId,
    });
    await expect(completeAddToken(db, openConfig, input)).rejects.toMatchObject({ code: "EXPIRED" });
    expect(await db.select().from(tokens).where(eq(tokens.id, token.credentialId))).toHaveLength(1);
  });

  it("refuses a challenge after its time to live", async () => {
    const token = new SoftAuthenticator();
    const { additionId, registration } = await approvedAddition(db, openConfig, {
      memberId: admin.id,
      approver: adminToken,
      now: NOW,
    });
    const late = new Date(NOW.getTime() + openConfig.challengeTtlMs);
    const done = completeAddToken(db, openConfig, {
      memberId: admin.id,
      additionId,
      nickname: "Late key",
      response: token.register(registration),
      now: late,
    });
    await expect(done).rejects.toMatchObject({ code: "EXPIRED" });
    expect(await db.select().from(tokens).where(eq(tokens.id, token.credentialId))).toEqual([]);
  });
});
