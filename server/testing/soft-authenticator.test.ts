// The software authenticator must produce what a real security key produces: SimpleWebAuthn itself is the judge.
import { X509Certificate } from "node:crypto";
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type WebAuthnCredential,
} from "@simplewebauthn/server";
import { decodeAttestationObject, isoCBOR } from "@simplewebauthn/server/helpers";
import { describe, expect, it } from "vitest";
import {
  AuthenticatorRefusedError,
  DEFAULT_AAGUID,
  DEFAULT_ORIGIN,
  SoftAuthenticator,
  TestAttestationCa,
} from "./soft-authenticator";

const RP_ID = "localhost";

type CBOR = Parameters<typeof isoCBOR.encode>[0];

/** A copy with the last byte changed: for a DER signature that keeps the encoding valid but the value wrong. */
function flipLastByte(bytes: Uint8Array): Uint8Array {
  const copy = Uint8Array.from(bytes);
  copy[copy.length - 1] = (copy[copy.length - 1] ?? 0) ^ 0x01;
  return copy;
}

async function registrationOptions(excludeCredentialIds: string[] = []) {
  return generateRegistrationOptions({
    rpName: "Keyward",
    rpID: RP_ID,
    userName: "Ada",
    userID: new Uint8Array([1, 2, 3, 4]),
    attestationType: "direct",
    excludeCredentials: excludeCredentialIds.map((id) => ({ id })),
    authenticatorSelection: { userVerification: "required" },
  });
}

/** Registers `token` and returns what a relying party stores, plus the verification result. */
async function registered(token: SoftAuthenticator) {
  const options = await registrationOptions();
  const result = await verifyRegistrationResponse({
    response: token.register(options),
    expectedChallenge: options.challenge,
    expectedOrigin: DEFAULT_ORIGIN,
    expectedRPID: RP_ID,
  });
  if (!result.verified) throw new Error("registration not verified");
  return { options, info: result.registrationInfo };
}

async function verifyAssertion(
  token: SoftAuthenticator,
  credential: Pick<WebAuthnCredential, "publicKey" | "counter">,
  tamper: (r: ReturnType<SoftAuthenticator["authenticate"]>) => void = () => {},
) {
  const options = await generateAuthenticationOptions({ rpID: RP_ID, userVerification: "required" });
  const response = token.authenticate(options);
  tamper(response);
  return verifyAuthenticationResponse({
    response,
    expectedChallenge: options.challenge,
    expectedOrigin: DEFAULT_ORIGIN,
    expectedRPID: RP_ID,
    credential: { id: token.credentialId, publicKey: credential.publicKey, counter: credential.counter },
  }).catch((e: unknown) => ({ verified: false as const, error: e }));
}

describe("registration", () => {
  it("is accepted by verifyRegistrationResponse as packed self-attestation with ES256, UV and the AAGUID", async () => {
    const token = new SoftAuthenticator();
    const { options, info } = await registered(token);
    expect(info).toMatchObject({
      fmt: "packed",
      aaguid: DEFAULT_AAGUID,
      userVerified: true,
      credentialDeviceType: "singleDevice",
      credentialBackedUp: false,
    });
    expect(info.credential.id).toBe(token.credentialId);
    expect(info.credential.counter).toBe(0);
    expect(Buffer.from(info.credential.publicKey)).toEqual(Buffer.from(token.publicKeyCose));
    expect(token.userHandle).toBe(options.user.id);
  });

  it("makes full packed attestation (x5c) with a TestAttestationCa's certificate, which SimpleWebAuthn accepts", async () => {
    const ca = await TestAttestationCa.create();
    const aaguid = "cb69481e-8ff7-4039-93ec-0a2729a154a8";
    const identity = await ca.issue(aaguid);
    const token = new SoftAuthenticator({ aaguid, attestationIdentity: identity });
    const options = await registrationOptions();
    const response = token.register(options);
    const attestation = decodeAttestationObject(
      Buffer.from(response.response.attestationObject, "base64url"),
    );
    expect(attestation.get("attStmt").get("x5c")).toEqual(identity.x5c);
    const leaf = new X509Certificate(identity.x5c[0] ?? new Uint8Array());
    expect(
      leaf.checkIssued(new X509Certificate(ca.pem)) && leaf.verify(new X509Certificate(ca.pem).publicKey),
    ).toBe(true);
    const result = await verifyRegistrationResponse({
      response,
      expectedChallenge: options.challenge,
      expectedOrigin: DEFAULT_ORIGIN,
      expectedRPID: RP_ID,
    });
    expect(result).toMatchObject({ verified: true, registrationInfo: { fmt: "packed", aaguid } });

    // The attestation is signed with the attestation key: another token's key under the same chain fails.
    const impostor = new SoftAuthenticator({
      aaguid,
      attestationIdentity: { ...identity, key: (await ca.issue(aaguid)).key },
    });
    const again = await registrationOptions();
    await expect(
      verifyRegistrationResponse({
        response: impostor.register(again),
        expectedChallenge: again.challenge,
        expectedOrigin: DEFAULT_ORIGIN,
        expectedRPID: RP_ID,
      }).catch(() => ({ verified: false })),
    ).resolves.toMatchObject({ verified: false });
  });

  it("reports credProps.rk as configured, only when the options ask for credProps", async () => {
    // SimpleWebAuthn asks for credProps by default; without the request, a browser reports nothing.
    const options = { ...(await registrationOptions()), extensions: {} };
    expect(new SoftAuthenticator({ residentKey: false }).register(options).clientExtensionResults).toEqual(
      {},
    );
    const asking = { ...options, extensions: { credProps: true } };
    expect(new SoftAuthenticator({ residentKey: false }).register(asking).clientExtensionResults).toEqual({
      credProps: { rk: false },
    });
    expect(new SoftAuthenticator({ residentKey: true }).register(asking).clientExtensionResults).toEqual({
      credProps: { rk: true },
    });
    expect(new SoftAuthenticator().register(asking).clientExtensionResults).toEqual({});
  });

  it("can register with `none` attestation, another AAGUID, no UV and a starting counter", async () => {
    const token = new SoftAuthenticator({
      attestation: "none",
      aaguid: "AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE",
      userVerification: false,
      counter: 41,
    });
    const options = await registrationOptions();
    const result = await verifyRegistrationResponse({
      response: token.register(options),
      expectedChallenge: options.challenge,
      expectedOrigin: DEFAULT_ORIGIN,
      expectedRPID: RP_ID,
      requireUserVerification: false,
    });
    expect(result.verified).toBe(true);
    expect(result.registrationInfo).toMatchObject({
      fmt: "none",
      aaguid: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
      userVerified: false,
      credential: { counter: 41 },
    });
  });

  it("is refused by a relying party that requires UV when the token did not verify its holder", async () => {
    const token = new SoftAuthenticator({ userVerification: false });
    const options = await registrationOptions();
    await expect(
      verifyRegistrationResponse({
        response: token.register(options),
        expectedChallenge: options.challenge,
        expectedOrigin: DEFAULT_ORIGIN,
        expectedRPID: RP_ID,
      }),
    ).rejects.toThrow(/user could not be verified/i);
  });

  it("is refused when its self-attestation signature is tampered with", async () => {
    const token = new SoftAuthenticator();
    const options = await registrationOptions();
    const response = token.register(options);
    const attestation = isoCBOR.decodeFirst<Map<string, CBOR>>(
      Buffer.from(response.response.attestationObject, "base64url"),
    );
    const attStmt = attestation.get("attStmt");
    const sig = attStmt instanceof Map ? attStmt.get("sig") : undefined;
    if (!(attStmt instanceof Map) || !(sig instanceof Uint8Array)) throw new Error("no packed signature");
    attStmt.set("sig", flipLastByte(sig));
    const tampered = Buffer.from(isoCBOR.encode(attestation)).toString("base64url");
    const result = await verifyRegistrationResponse({
      response: { ...response, response: { ...response.response, attestationObject: tampered } },
      expectedChallenge: options.challenge,
      expectedOrigin: DEFAULT_ORIGIN,
      expectedRPID: RP_ID,
    }).catch((e: unknown) => ({ verified: false as const, error: e }));
    expect(result.verified).toBe(false);
  });

  it("reports the origin it is told to, which a relying party rejects", async () => {
    const token = new SoftAuthenticator({ origin: "https://keyward.example.evil" });
    const options = await registrationOptions();
    await expect(
      verifyRegistrationResponse({
        response: token.register(options),
        expectedChallenge: options.challenge,
        expectedOrigin: DEFAULT_ORIGIN,
        expectedRPID: RP_ID,
      }),
    ).rejects.toThrow(/origin/);
  });

  it("refuses, like a browser, to register a credential the options exclude", async () => {
    const token = new SoftAuthenticator();
    const options = await registrationOptions([token.credentialId]);
    expect(() => token.register(options)).toThrow(AuthenticatorRefusedError);
  });
});

describe("authentication", () => {
  it("is accepted by verifyAuthenticationResponse, with UV, the next counter and the user handle", async () => {
    const token = new SoftAuthenticator();
    const { options: creation, info } = await registered(token);
    const options = await generateAuthenticationOptions({ rpID: RP_ID, userVerification: "required" });
    const response = token.authenticate(options);
    const result = await verifyAuthenticationResponse({
      response,
      expectedChallenge: options.challenge,
      expectedOrigin: DEFAULT_ORIGIN,
      expectedRPID: RP_ID,
      credential: { id: token.credentialId, publicKey: info.credential.publicKey, counter: 0 },
    });
    expect(result.verified).toBe(true);
    expect(result.authenticationInfo).toMatchObject({ newCounter: 1, userVerified: true });
    expect(response.response.userHandle).toBe(creation.user.id);
    // A signature is DER: SEQUENCE (0x30) of two INTEGERs, not the raw 64-byte r||s.
    expect(Buffer.from(response.response.signature, "base64url").readUInt8(0)).toBe(0x30);
  });

  it("is refused when the signature is tampered with", async () => {
    const token = new SoftAuthenticator();
    const { info } = await registered(token);
    const result = await verifyAssertion(token, { publicKey: info.credential.publicKey, counter: 0 }, (r) => {
      r.response.signature = Buffer.from(
        flipLastByte(Buffer.from(r.response.signature, "base64url")),
      ).toString("base64url");
    });
    expect(result.verified).toBe(false);
  });

  it("is refused when signed by another token's key", async () => {
    const token = new SoftAuthenticator();
    const other = new SoftAuthenticator();
    const { info } = await registered(other);
    const result = await verifyAssertion(token, { publicKey: info.credential.publicKey, counter: 0 });
    expect(result.verified).toBe(false);
  });

  it("lets the test set the counter, drop UV and omit the user handle", async () => {
    const token = new SoftAuthenticator();
    const { info } = await registered(token);
    const options = await generateAuthenticationOptions({ rpID: RP_ID });
    const response = token.authenticate(options, { counter: 7, userVerified: false, userHandle: null });
    expect(response.response.userHandle).toBeUndefined();
    const result = await verifyAuthenticationResponse({
      response,
      expectedChallenge: options.challenge,
      expectedOrigin: DEFAULT_ORIGIN,
      expectedRPID: RP_ID,
      credential: { id: token.credentialId, publicKey: info.credential.publicKey, counter: 8 },
      requireUserVerification: false,
    }).catch((e: unknown) => e);
    // SimpleWebAuthn's own counter rule sees the regression (stored 8, received 7).
    expect(result).toBeInstanceOf(Error);
    expect(String(result)).toMatch(/counter value 7 was lower than expected 8/);
    expect(token.counter).toBe(7);
    const next = token.authenticate(options);
    expect(Buffer.from(next.response.authenticatorData, "base64url").readUInt32BE(33)).toBe(8);
    expect(Buffer.from(next.response.authenticatorData, "base64url").readUInt8(32) & 0x04).toBe(0x04);
  });

  it("refuses, like a browser, when the options allow only other credentials", async () => {
    const token = new SoftAuthenticator();
    const options = await generateAuthenticationOptions({
      rpID: RP_ID,
      allowCredentials: [{ id: "b3RoZXI" }],
    });
    expect(() => token.authenticate(options)).toThrow(AuthenticatorRefusedError);
  });
});
