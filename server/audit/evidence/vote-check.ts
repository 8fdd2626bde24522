// One vote re-verified offline: the voter's token signed, with the credential key it registered, a WebAuthn
// assertion whose challenge is SHA-256(JCS({ v: 1, op: digest, decision, voter, nonce })) for the exact operation
// digest (recomputed from the operation's content) and decision. The same checks server/auth/assertion.ts makes
// with @simplewebauthn/server, written out so nothing of ours is trusted: signature over authenticatorData ‖
// SHA-256(clientDataJSON), ES256 (DER, any S), EdDSA or RS256, rpIdHash, user presence and verification, type, origin.
// Pure: no Node built-ins. Returns the reasons a vote fails (empty: it verifies); never throws.
import { sha256 } from "@noble/hashes/sha2";
import { bytesToHex } from "@noble/hashes/utils";
import { isoCBOR } from "@simplewebauthn/server/helpers";
import { base64Decode, base64Encode } from "../log/note";
import type { BundleOperation, BundleVote } from "./bundle";
import { sha256OfCanonical } from "./entry";
import { type HashName, type PublicKey, verifySignature } from "./signatures";

const FLAG_UP = 0x01;
const FLAG_UV = 0x04;
// COSE (RFC 9053): key parameters and the algorithms WebAuthn tokens use here.
const COSE_KTY = 1;
const COSE_ALG = 3;
const COSE_CRV = -1;
const COSE_X = -2;
const COSE_Y = -3;
const KTY_OKP = 1;
const KTY_EC2 = 2;
const ALG_ES256 = -7;
const ALG_EDDSA = -8;
const ALG_RS256 = -257;
const ALG_RS384 = -258;
const ALG_RS512 = -259;
const KTY_RSA = 3;
const COSE_RSA_N = -1;
const COSE_RSA_E = -2;
const CRV_P256 = 1;
const CRV_ED25519 = 6;

export function base64urlDecode(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return null;
  const std = text.replace(/-/g, "+").replace(/_/g, "/");
  return base64Decode(std + "=".repeat((4 - (std.length % 4)) % 4));
}

export function base64urlEncode(bytes: Uint8Array): string {
  return base64Encode(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

/** operationDigest (server/operations/digest.ts) recomputed from the operation's content. */
export function recomputeOperationDigest(op: BundleOperation): string {
  const initiator =
    op.initiatorId ??
    (op.serviceAccountId !== null
      ? `service:${op.serviceAccountId}`
      : op.systemInitiator !== null
        ? `system:${op.systemInitiator}`
        : null);
  if (initiator === null) throw new TypeError("the operation names no initiator");
  return bytesToHex(
    sha256OfCanonical({
      v: 1,
      id: op.id,
      kind: op.kind,
      payload: op.payload,
      initiator,
      createdAt: new Date(op.createdAt).toISOString(),
      expiresAt: new Date(op.expiresAt).toISOString(),
      policyVersion: op.policyVersion,
      ruleId: op.ruleId,
    }),
  );
}

/** voteChallenge (server/operations/digest.ts): base64url of SHA-256(JCS({ v, op, decision, voter, nonce })). */
export function recomputeVoteChallenge(v: {
  digest: string;
  decision: string;
  voterId: string;
  nonce: string;
}): string {
  return base64urlEncode(
    sha256OfCanonical({ v: 1, op: v.digest, decision: v.decision, voter: v.voterId, nonce: v.nonce }),
  );
}

export type CoseKey = {
  alg: number;
  key: PublicKey;
  /** Does `signature` over `data` verify under this key with its COSE algorithm? */
  verify: (signature: Uint8Array, data: Uint8Array) => boolean;
};

const RSA_ALGS: Record<number, HashName> = {
  [ALG_RS256]: "SHA-256",
  [ALG_RS384]: "SHA-384",
  [ALG_RS512]: "SHA-512",
};

/** A COSE_Key (ES256, EdDSA or RS256/384/512 RSASSA-PKCS1-v1_5), or the reason it is not one this checks. */
export function coseKey(bytes: Uint8Array): CoseKey | string {
  let decoded: unknown;
  try {
    decoded = isoCBOR.decodeFirst(new Uint8Array(bytes));
  } catch {
    return "its credential public key is not CBOR";
  }
  if (!(decoded instanceof Map)) return "its credential public key is not a COSE key";
  const get = (k: number): unknown => decoded.get(k);
  const kty = get(COSE_KTY);
  const alg = get(COSE_ALG);
  const x = get(COSE_X);
  const withKey = (algorithm: number, key: PublicKey, hash: HashName): CoseKey => ({
    alg: algorithm,
    key,
    verify: (signature, data) => verifySignature(key, hash, signature, data),
  });
  if (kty === KTY_EC2 && alg === ALG_ES256 && get(COSE_CRV) === CRV_P256) {
    const y = get(COSE_Y);
    if (!(x instanceof Uint8Array) || !(y instanceof Uint8Array) || x.length !== 32 || y.length !== 32)
      return "its credential public key is not a P-256 point";
    // WebAuthn ES256 signatures are DER and may have a high S (authenticators do not normalise).
    return withKey(alg, { kind: "ec", curve: "P-256", point: new Uint8Array([0x04, ...x, ...y]) }, "SHA-256");
  }
  if (kty === KTY_OKP && alg === ALG_EDDSA && get(COSE_CRV) === CRV_ED25519) {
    if (!(x instanceof Uint8Array) || x.length !== 32)
      return "its credential public key is not an Ed25519 key";
    return withKey(alg, { kind: "ed25519", key: x }, "SHA-512");
  }
  const rsaHash = typeof alg === "number" ? RSA_ALGS[alg] : undefined;
  if (kty === KTY_RSA && typeof alg === "number" && rsaHash !== undefined) {
    const n = get(COSE_RSA_N);
    const e = get(COSE_RSA_E);
    if (!(n instanceof Uint8Array) || !(e instanceof Uint8Array) || n.length < 128 || e.length === 0)
      return "its credential public key is not an RSA key of 1024 bits or more";
    // RSASSA-PKCS1-v1_5 (RFC 8812 §2): s^e mod n rebuilt and compared with the whole encoding.
    return withKey(alg, { kind: "rsa", n, e }, rsaHash);
  }
  return `its credential public key uses COSE algorithm ${String(alg)}, which this verifier does not check (ES256, EdDSA and RS256 only)`;
}

/**
 * Every reason the vote does not verify (empty when it does): binding to the operation and decision, the
 * credential, and the token's signature.
 */
export function voteProblems(
  vote: BundleVote,
  operation: BundleOperation | undefined,
  webauthn: { rpId: string; origins: readonly string[] },
): string[] {
  const problems: string[] = [];
  if (operation === undefined) problems.push("its operation is not in the bundle");
  else {
    let digest: string | null = null;
    try {
      digest = recomputeOperationDigest(operation);
    } catch (e) {
      problems.push(`its operation's digest cannot be recomputed (${e instanceof Error ? e.message : "?"})`);
    }
    if (digest !== null && digest !== operation.digest)
      problems.push(`its operation's content gives digest ${digest}, not the ${operation.digest} it claims`);
    const expected = recomputeVoteChallenge({ ...vote, digest: operation.digest });
    if (vote.challenge !== expected)
      problems.push(
        `its challenge is not SHA-256 of the operation digest, decision "${vote.decision}", voter and nonce`,
      );
  }
  if (vote.credential.memberId !== vote.voterId) problems.push("its token belongs to another member");
  if (vote.assertion.id !== vote.credential.id || vote.assertion.rawId !== vote.credential.id)
    problems.push("the assertion was made by another token than the credential given");

  const r = vote.assertion.response;
  const authData = base64urlDecode(r.authenticatorData);
  const clientDataBytes = base64urlDecode(r.clientDataJSON);
  const signature = base64urlDecode(r.signature);
  const publicKey = base64urlDecode(vote.credential.publicKey);
  if (authData === null || clientDataBytes === null || signature === null || publicKey === null) {
    problems.push("its assertion or credential key is not base64url");
    return problems;
  }
  let clientData: unknown;
  try {
    clientData = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(clientDataBytes));
  } catch {
    problems.push("its clientDataJSON is not JSON");
  }
  if (typeof clientData === "object" && clientData !== null) {
    const c = clientData as Record<string, unknown>;
    if (c.type !== "webauthn.get")
      problems.push(`its clientDataJSON type is ${String(c.type)}, not webauthn.get`);
    if (c.challenge !== vote.challenge) problems.push("the token signed another challenge than the vote's");
    if (typeof c.origin !== "string" || !webauthn.origins.includes(c.origin))
      problems.push(`it was made on origin ${String(c.origin)}, not ${webauthn.origins.join(" or ")}`);
  } else if (clientData !== undefined) problems.push("its clientDataJSON is not an object");

  if (authData.length < 37) problems.push("its authenticatorData is too short");
  else {
    if (!sameBytes(authData.slice(0, 32), sha256(new TextEncoder().encode(webauthn.rpId))))
      problems.push(`its authenticatorData is for another relying party than ${webauthn.rpId}`);
    const flags = authData[32] ?? 0;
    if ((flags & FLAG_UP) === 0) problems.push("the token did not report user presence");
    if ((flags & FLAG_UV) === 0) problems.push("the token did not report user verification");
  }
  const key = coseKey(publicKey);
  if (typeof key === "string") problems.push(key);
  else {
    const signed = new Uint8Array([...authData, ...sha256(clientDataBytes)]);
    if (!key.verify(signature, signed))
      problems.push("its signature does not verify under the credential's public key");
  }
  return problems;
}
