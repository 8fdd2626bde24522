// The WebAuthn registration ceremony, shared by first-admin setup, invitation acceptance and adding a token:
// options -> challenge kept server-side -> verify attestation -> allow-list and chain to a pinned root -> user
// verification -> resident key -> consume.
import "server-only";
import { createHash, randomBytes } from "node:crypto";
import { generateRegistrationOptions, verifyRegistrationResponse } from "@simplewebauthn/server";
import { decodeAttestationObject } from "@simplewebauthn/server/helpers";
import type { PublicKeyCredentialCreationOptionsJSON } from "@simplewebauthn/server";
import { eq } from "drizzle-orm";
import type { Db, Tx } from "@/db/client";
import { type ChallengePurpose, tokens } from "@/db/schema";
import { appendAudit } from "@/server/audit/append";
import type { Actor } from "@/server/audit/events";
import { AppError } from "@/server/errors";
import { verifyAttestationChain } from "./attestation-roots";
import { burnChallenge, challengeFromClientData, consumeChallenge, storeChallenge } from "./challenges";
import type { WebAuthnConfig } from "./config";
import { TOKEN_REFUSAL_MESSAGES, type TokenRefusal } from "./refusals";
import type { RegistrationResponse } from "./schemas";

/** A random, opaque WebAuthn user handle (never the member id or name). */
export function newUserHandle(): string {
  return randomBytes(32).toString("base64url");
}

export async function beginRegistration(
  db: Db | Tx,
  config: WebAuthnConfig,
  input: {
    purpose: Exclude<ChallengePurpose, "sign-in">;
    subject: string;
    userHandle: string;
    userName: string;
    excludeCredentialIds?: string[];
    now: Date;
  },
): Promise<PublicKeyCredentialCreationOptionsJSON> {
  const options = await generateRegistrationOptions({
    rpName: config.rpName,
    rpID: config.rpId,
    userName: input.userName,
    userDisplayName: input.userName,
    userID: Buffer.from(input.userHandle, "base64url"),
    attestationType: "direct",
    excludeCredentials: (input.excludeCredentialIds ?? []).map((id) => ({ id })),
    // Sign-in is username-less: the token must keep the credential (a discoverable credential, or passkey).
    authenticatorSelection: {
      residentKey: "required",
      requireResidentKey: true,
      userVerification: "required",
    },
    extensions: { credProps: true },
    preferredAuthenticatorType: "securityKey",
    timeout: config.challengeTtlMs,
  });
  await storeChallenge(db, {
    purpose: input.purpose,
    challenge: options.challenge,
    subject: input.subject,
    userHandle: input.userHandle,
    expiresAt: new Date(input.now.getTime() + config.challengeTtlMs),
  });
  return options;
}

export type VerifiedToken = {
  id: string;
  publicKey: string;
  counter: number;
  aaguid: string;
  attestationFormat: string;
  transports: string[];
  deviceType: string;
  backedUp: boolean;
  /** The user handle the challenge was issued for. */
  userHandle: string;
  /** The registration response's attestationObject and clientDataJSON (base64url), kept as evidence. */
  attestationObject: string;
  clientDataJSON: string;
};

/** A refusal the caller must record in the audit trail even though its own transaction rolls back. */
export class TokenRefusedError extends AppError {
  /** The challenge the refused response answered: burned with the refusal so it cannot be tried again. */
  challenge: string | null = null;
  constructor(
    readonly reason: TokenRefusal,
    readonly aaguid: string | null,
  ) {
    // The AAGUID is 16 bytes of hex from the authenticator data: it tells an admin which model to approve.
    const model = reason === "aaguid_not_allowed" && aaguid ? ` (AAGUID ${aaguid})` : "";
    super("TOKEN_REFUSED", `${TOKEN_REFUSAL_MESSAGES[reason]}${model}`);
  }
}

/**
 * Consumes the challenge for `purpose`/`subject` and verifies the attestation. Checks, in order:
 * signature and origin, AAGUID allow-list, a real attestation when a list is set, user verification,
 * and that the credential is new.
 */
export async function verifyRegistration(
  tx: Tx,
  config: WebAuthnConfig,
  input: {
    purpose: Exclude<ChallengePurpose, "sign-in">;
    subject: string;
    response: RegistrationResponse;
    now: Date;
  },
): Promise<VerifiedToken> {
  const challenge = challengeFromClientData(input.response.response.clientDataJSON);
  const row = await consumeChallenge(tx, input.purpose, challenge, input.now);
  const userHandle = row.userHandle;
  if (row.subject !== input.subject || !userHandle) {
    throw new AppError("BAD_INPUT", "This token response belongs to another request. Start again.");
  }
  try {
    return await checkAttestation(
      tx,
      config,
      { challenge: row.challenge, userHandle },
      input.response,
      input.now,
    );
  } catch (e) {
    if (e instanceof TokenRefusedError) e.challenge = row.challenge;
    throw e;
  }
}

async function checkAttestation(
  tx: Tx,
  config: WebAuthnConfig,
  row: { challenge: string; userHandle: string },
  response: RegistrationResponse,
  now: Date,
): Promise<VerifiedToken> {
  let verification: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
  try {
    verification = await verifyRegistrationResponse({
      response,
      expectedChallenge: row.challenge,
      expectedOrigin: config.origin,
      expectedRPID: config.rpId,
      // Checked below, after the allow-list, so each refusal names its real reason.
      requireUserVerification: false,
    });
  } catch {
    // The library's words stay on the server: the person gets the fixed message for the reason.
    throw new TokenRefusedError("attestation_invalid", null);
  }
  if (!verification.verified) throw new TokenRefusedError("attestation_invalid", null);
  const info = verification.registrationInfo;
  const aaguid = info.aaguid.toLowerCase();
  if (config.aaguidAllowList.length > 0) {
    if (!config.aaguidAllowList.includes(aaguid)) throw new TokenRefusedError("aaguid_not_allowed", aaguid);
    checkAttestationChain(config, response, aaguid, now);
  }
  if (!info.userVerified) throw new TokenRefusedError("user_verification_missing", aaguid);
  // credProps is the browser's report (unsigned): it can only tell us the token could NOT keep the key.
  if (response.clientExtensionResults.credProps?.rk === false) {
    throw new TokenRefusedError("resident_key_missing", aaguid);
  }
  const [existing] = await tx.select({ id: tokens.id }).from(tokens).where(eq(tokens.id, info.credential.id));
  if (existing) {
    throw new AppError("CONFLICT", "This token is already registered.");
  }
  return {
    id: info.credential.id,
    publicKey: Buffer.from(info.credential.publicKey).toString("base64url"),
    counter: info.credential.counter,
    aaguid,
    attestationFormat: info.fmt,
    transports: info.credential.transports ?? response.response.transports ?? [],
    deviceType: info.credentialDeviceType,
    backedUp: info.credentialBackedUp,
    userHandle: row.userHandle,
    attestationObject: response.response.attestationObject,
    clientDataJSON: response.response.clientDataJSON,
  };
}

/**
 * With an allow-list the AAGUID must be proven: the attestation statement carries a certificate chain (x5c)
 * that reaches a pinned root. `none` and self-attestation (packed without x5c) prove nothing about the model.
 */
function checkAttestationChain(
  config: WebAuthnConfig,
  response: RegistrationResponse,
  aaguid: string,
  now: Date,
) {
  const attestation = decodeAttestationObject(Buffer.from(response.response.attestationObject, "base64url"));
  if (attestation.get("fmt") === "none") throw new TokenRefusedError("attestation_missing", aaguid);
  const x5c = attestation.get("attStmt").get("x5c");
  if (!x5c || x5c.length === 0) throw new TokenRefusedError("self_attestation", aaguid);
  const chain = verifyAttestationChain(x5c, config.attestationRoots, now);
  if (!chain.ok) {
    console.warn(`[auth] token ${aaguid} refused (${chain.reason}): ${chain.detail}`);
    throw new TokenRefusedError(chain.reason, aaguid);
  }
}

export async function insertCredential(tx: Tx, memberId: string, nickname: string, token: VerifiedToken) {
  await tx.insert(tokens).values({
    id: token.id,
    memberId,
    nickname,
    publicKey: token.publicKey,
    counter: token.counter,
    aaguid: token.aaguid,
    attestationFormat: token.attestationFormat,
    transports: token.transports,
    deviceType: token.deviceType,
    backedUp: token.backedUp,
    attestationObject: token.attestationObject,
    registrationClientData: token.clientDataJSON,
  });
}

/**
 * Runs a registration in one transaction; when the token is refused, the refusal is recorded in its own
 * transaction (the change itself rolled back) and the error is rethrown for the caller to show.
 */
export async function withRefusalAudit<T>(
  db: Db,
  meta: { actor: Actor; purpose: string; now: Date },
  work: (tx: Tx) => Promise<T>,
): Promise<T> {
  try {
    return await db.transaction(work);
  } catch (e) {
    if (e instanceof TokenRefusedError) {
      const { challenge } = e;
      await db.transaction(async (tx) => {
        if (challenge) await burnChallenge(tx, challenge, meta.now);
        await appendAudit(tx, {
          action: "token.refused",
          actor: meta.actor,
          subject: e.aaguid ? `aaguid:${e.aaguid}` : "token",
          at: meta.now,
          data: { reason: e.reason, aaguid: e.aaguid, purpose: meta.purpose },
        });
      });
    }
    throw e;
  }
}

const sha256Hex = (base64url: string) =>
  createHash("sha256").update(Buffer.from(base64url, "base64url")).digest("hex");

/**
 * What the token's audit event (token.registered, token.added) records of its key and registration: SHA-256 of
 * each as stored, so an evidence bundle's key and registration are shown to be the ones logged when the token
 * was registered (server/audit/evidence), not ones put in the database since.
 */
export function registrationDigests(token: VerifiedToken) {
  return {
    publicKeyDigest: sha256Hex(token.publicKey),
    attestationObjectDigest: sha256Hex(token.attestationObject),
    clientDataDigest: sha256Hex(token.clientDataJSON),
  };
}

/** Stores a verified token for a member and records it in the audit trail, in the caller's transaction. */
export async function addVerifiedToken(
  tx: Tx,
  input: { memberId: string; nickname: string; token: VerifiedToken; actor: Actor; now: Date },
) {
  const { memberId, token } = input;
  await insertCredential(tx, memberId, input.nickname, token);
  await appendAudit(tx, {
    action: "token.registered",
    actor: input.actor,
    subject: `token:${token.id}`,
    at: input.now,
    data: {
      memberId,
      credentialId: token.id,
      aaguid: token.aaguid,
      attestationFormat: token.attestationFormat,
      transports: token.transports,
      ...registrationDigests(token),
    },
  });
}
