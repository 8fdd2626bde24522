// Hardware tokens that are really hardware, on real databases: with an AAGUID allow-list, a token must present
// a certificate chain to a pinned root; self-attestation and unknown roots are refused and audited, though they
// claim an allowed AAGUID. And every token must keep its credential (resident key) for username-less sign-in.
import { randomUUID, X509Certificate } from "node:crypto";
import { and, asc, eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import type { Db } from "@/db/client";
import { auditEvents, members, tokens } from "@/db/schema";
import type { Acting } from "@/server/members/guards";
import {
  beginAcceptInvitation,
  completeAcceptInvitation,
  createInvitation,
} from "@/server/members/invitations";
import { firstAdmin, TEST_WEBAUTHN_CONFIG } from "@/server/testing/identity-fixtures";
import {
  SoftAuthenticator,
  type SoftAuthenticatorOptions,
  TestAttestationCa,
} from "@/server/testing/soft-authenticator";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";
import { setupCodeSchema } from "./schemas";
import { beginSetup, completeSetup, issueSetupCode } from "./setup-code";
import type { WebAuthnConfig } from "./config";
import type { TokenRefusal } from "./refusals";

const NOW = new Date("2026-04-02T09:00:00.000Z");

describe.each(testEngines())("attestation chains and resident keys on %s", (engine) => {
  const database = useTestDatabase(engine);
  let db: Db;
  let admin: Acting;
  let vendor: TestAttestationCa;
  let counterfeiter: TestAttestationCa;
  /** The model the console approves, its vendor's root pinned. */
  const model = randomUUID();
  let pinnedConfig: WebAuthnConfig;

  beforeAll(async () => {
    db = database();
    admin = (await firstAdmin(db, { now: NOW })).acting;
    vendor = await TestAttestationCa.create("Approved Vendor Root");
    counterfeiter = await TestAttestationCa.create("Counterfeit Vendor Root");
    pinnedConfig = {
      ...TEST_WEBAUTHN_CONFIG,
      aaguidAllowList: [model],
      attestationRoots: [new X509Certificate(vendor.pem)],
    };
  });

  async function invite(config: WebAuthnConfig, token: SoftAuthenticator) {
    const { secret } = await createInvitation(db, {
      actor: admin,
      name: "Grace Hopper",
      roles: ["approver"],
      groups: [],
      ttlMs: 3_600_000,
      now: NOW,
    });
    const options = await beginAcceptInvitation(db, config, { secret, now: NOW });
    const response = token.register(options);
    return {
      options,
      done: completeAcceptInvitation(db, config, { secret, tokenName: "Key", response, now: NOW }),
    };
  }

  async function refusalsOf(aaguid: string) {
    const rows = await db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.action, "token.refused"), eq(auditEvents.subject, `aaguid:${aaguid}`)))
      .orderBy(asc(auditEvents.seq));
    return rows.map((r) => r.data);
  }

  /** A refused invitation: TOKEN_REFUSED with the reason's words, one audit event, nothing stored. */
  async function expectRefused(
    token: SoftAuthenticator,
    config: WebAuthnConfig,
    reason: TokenRefusal,
    words: RegExp,
  ) {
    const before = (await refusalsOf(token.aaguid)).length;
    const { done, options } = await invite(config, token);
    await expect(done).rejects.toMatchObject({ code: "TOKEN_REFUSED", reason });
    await expect(done).rejects.toThrow(words);
    expect(await db.select().from(tokens).where(eq(tokens.id, token.credentialId))).toEqual([]);
    expect(await db.select().from(members).where(eq(members.userHandle, options.user.id))).toEqual([]);
    const refusals = await refusalsOf(token.aaguid);
    expect(refusals).toHaveLength(before + 1);
    expect(refusals.at(-1)).toEqual({ reason, aaguid: token.aaguid, purpose: "invitation" });
  }

  const token = (options: SoftAuthenticatorOptions) =>
    new SoftAuthenticator({ aaguid: model, residentKey: true, ...options });

  it("accepts an approved model whose attestation chain reaches the pinned root", async () => {
    const genuine = token({ attestationIdentity: await vendor.issue(model) });
    const { done } = await invite(pinnedConfig, genuine);
    const { memberId } = await done;
    const [stored] = await db.select().from(tokens).where(eq(tokens.id, genuine.credentialId));
    expect(stored).toMatchObject({ memberId, aaguid: model, attestationFormat: "packed" });
  });

  it("refuses a self-attested token claiming the approved AAGUID (packed, no certificate)", async () => {
    await expectRefused(
      token({ attestation: "packed" }),
      pinnedConfig,
      "self_attestation",
      /self-attestation/,
    );
  });

  it("refuses a token whose chain leads to a root nobody pinned, though it claims the approved AAGUID", async () => {
    const fake = token({ attestationIdentity: await counterfeiter.issue(model) });
    await expectRefused(fake, pinnedConfig, "attestation_root_unknown", /trusted token maker's root/);
  });

  it("refuses a token without attestation (fmt none) claiming the approved AAGUID", async () => {
    await expectRefused(
      token({ attestation: "none" }),
      pinnedConfig,
      "attestation_missing",
      /did not provide an attestation/,
    );
  });

  it("refuses every attested token when an allow-list is set but no root is pinned (never passes silently)", async () => {
    const genuine = token({ attestationIdentity: await vendor.issue(model) });
    await expectRefused(
      genuine,
      { ...pinnedConfig, attestationRoots: [] },
      "attestation_root_unknown",
      /root/,
    );
  });

  it("asks for a resident key with credProps, and refuses a token that reports it cannot keep one", async () => {
    const weak = new SoftAuthenticator({ residentKey: false });
    const { options } = await invite(TEST_WEBAUTHN_CONFIG, new SoftAuthenticator({ residentKey: true }));
    expect(options.authenticatorSelection).toMatchObject({
      residentKey: "required",
      requireResidentKey: true,
    });
    expect(options.extensions).toMatchObject({ credProps: true });
    await expectRefused(weak, TEST_WEBAUTHN_CONFIG, "resident_key_missing", /sign-in without a user name/);
  });
});

describe.each(testEngines())(
  "first-admin setup with a token that cannot keep a resident key on %s",
  (engine) => {
    const database = useTestDatabase(engine);

    it("is refused and audited, and the setup code still works with a proper token", async () => {
      const db = database();
      const issued = await issueSetupCode(db, { now: NOW, ttlMs: 60_000 });
      if (!issued) throw new Error("expected a setup code");
      const code = setupCodeSchema.parse(issued.code);
      const attempt = async (token: SoftAuthenticator) => {
        const options = await beginSetup(db, TEST_WEBAUTHN_CONFIG, { code, name: "Ada Admin", now: NOW });
        return completeSetup(db, TEST_WEBAUTHN_CONFIG, {
          code,
          name: "Ada Admin",
          tokenName: "Key",
          response: token.register(options),
          now: NOW,
        });
      };
      const weak = new SoftAuthenticator({ aaguid: randomUUID(), residentKey: false });
      await expect(attempt(weak)).rejects.toMatchObject({
        code: "TOKEN_REFUSED",
        reason: "resident_key_missing",
      });
      expect(await db.select().from(members)).toEqual([]);
      const [refusal] = await db.select().from(auditEvents).where(eq(auditEvents.action, "token.refused"));
      expect(refusal?.data).toEqual({
        reason: "resident_key_missing",
        aaguid: weak.aaguid,
        purpose: "setup",
      });
      await expect(attempt(new SoftAuthenticator({ residentKey: true }))).resolves.toMatchObject({
        memberId: expect.any(String),
      });
    });
  },
);
