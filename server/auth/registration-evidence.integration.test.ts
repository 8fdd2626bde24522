// Every registration path keeps the token's attestation as evidence (issue 15 items 5-6): the registration
// response's attestationObject and clientDataJSON, exactly as the token gave them, in tokens.attestation_object
// and tokens.registration_client_data (the evidence bundle carries them to the offline verifier).
import { eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import type { Db } from "@/db/client";
import { tokens } from "@/db/schema";
import { completeAddToken } from "@/server/members/tokens";
import { approvedAddition } from "@/server/testing/add-token";
import {
  firstAdmin,
  invitedMember,
  type Person,
  TEST_WEBAUTHN_CONFIG,
} from "@/server/testing/identity-fixtures";
import { SoftAuthenticator } from "@/server/testing/soft-authenticator";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";
import { decodeAttestationObject } from "@simplewebauthn/server/helpers";

const NOW = new Date("2026-04-02T09:00:00.000Z");

describe.each(testEngines())("registration attestation kept on %s", (engine) => {
  const database = useTestDatabase(engine);
  let db: Db;
  let admin: Person;

  beforeAll(async () => {
    db = database();
    admin = await firstAdmin(db, { now: NOW });
  });

  const stored = async (id: string) => {
    const [row] = await db.select().from(tokens).where(eq(tokens.id, id));
    if (!row) throw new Error(`token ${id} not stored`);
    return row;
  };

  /** The stored attestation is the token's registration of this credential (id and key), for webauthn.create. */
  async function expectKept(token: SoftAuthenticator) {
    const row = await stored(token.credentialId);
    expect(row.attestationObject).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(row.registrationClientData).toMatch(/^[A-Za-z0-9_-]+$/);
    const attestation = decodeAttestationObject(Buffer.from(row.attestationObject ?? "", "base64url"));
    expect(attestation.get("fmt")).toBe("packed");
    const authData = Buffer.from(attestation.get("authData"));
    const idLength = authData.readUInt16BE(53);
    expect(authData.subarray(55, 55 + idLength).toString("base64url")).toBe(token.credentialId);
    expect(Buffer.from(authData.subarray(55 + idLength)).equals(Buffer.from(token.publicKeyCose))).toBe(true);
    expect(row.publicKey).toBe(Buffer.from(token.publicKeyCose).toString("base64url"));
    const clientData = JSON.parse(
      Buffer.from(row.registrationClientData ?? "", "base64url").toString("utf8"),
    );
    expect(clientData.type).toBe("webauthn.create");
  }

  it("first-admin setup keeps it", async () => {
    await expectKept(admin.token);
  });

  it("accepting an invitation keeps it", async () => {
    const member = await invitedMember(db, admin.acting, { now: NOW, roles: ["approver"] });
    await expectKept(member.token);
  });

  it("adding a token keeps exactly the response's attestationObject and clientDataJSON", async () => {
    const { additionId, registration } = await approvedAddition(db, TEST_WEBAUTHN_CONFIG, {
      memberId: admin.acting.id,
      approver: admin.token,
      now: NOW,
    });
    const token = new SoftAuthenticator();
    const response = token.register(registration);
    await completeAddToken(db, TEST_WEBAUTHN_CONFIG, {
      memberId: admin.acting.id,
      additionId,
      nickname: "Spare",
      response,
      now: NOW,
    });
    const row = await stored(token.credentialId);
    expect(row.attestationObject).toBe(response.response.attestationObject);
    expect(row.registrationClientData).toBe(response.response.clientDataJSON);
    await expectKept(token);
  });
});
