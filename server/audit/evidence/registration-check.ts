// A voter's token registration re-verified offline (issue 15 items 5-6): the attestationObject the token gave when
// it was registered must attest the very credential id and COSE public key the bundle's votes are checked under
// (so an exporter who swaps an approver's key but leaves its registration is caught; only an x5c chain to a
// pinned root proves the key is in a real token: a forged self-, "none"- or unchained registration, or a blank
// one, verifies here as "model not proven" / "not recorded", and is caught by the digests the log recorded at
// registration, registration-event.ts), for the bundle's relying party, from a webauthn.create
// ceremony on an allowed origin; and its attestation statement must verify — "packed" (x5c: by the attestation
// certificate's key; self: by the credential key), "fido-u2f", or "none" (nothing to verify: the model is not
// proven). An x5c chain is followed to the shipped Yubico roots (yubico-roots.ts) or the reader's own, and its
// certificates' dates and revocation are checked at the registration time the log records (certificate-status.ts).
// Pure: no Node built-ins, no clock. Never throws.
import { sha256 } from "@noble/hashes/sha2";
import { isoCBOR } from "@simplewebauthn/server/helpers";
import { base64Decode } from "../log/note";
import type { BundleVote } from "./bundle";
import { type Crl, chainStatus, type RegisteredEvent } from "./certificate-status";
import {
  type Certificate,
  type HashName,
  issuedBy,
  type PublicKey,
  parseCertificate,
  sameBytes,
  verifySignature,
} from "./signatures";
import { base64urlDecode, base64urlEncode, coseKey } from "./vote-check";
import { YUBICO_ATTESTATION_ROOTS } from "./yubico-roots";

const FLAG_UP = 0x01;
const FLAG_UV = 0x04;
const FLAG_AT = 0x40;
const MAX_CHAIN = 5;

/** COSE algorithms an attestation statement may name: the key family and hash they mean. */
const ATTESTATION_ALGS: Record<number, { kind: PublicKey["kind"]; curve?: string; hash: HashName }> = {
  [-7]: { kind: "ec", curve: "P-256", hash: "SHA-256" },
  [-35]: { kind: "ec", curve: "P-384", hash: "SHA-384" },
  [-8]: { kind: "ed25519", hash: "SHA-512" },
  [-257]: { kind: "rsa", hash: "SHA-256" },
  [-258]: { kind: "rsa", hash: "SHA-384" },
  [-259]: { kind: "rsa", hash: "SHA-512" },
};

export type Root = { name: string; cert: Certificate };

let shipped: Root[] | undefined;

/** The shipped Yubico roots, parsed once. */
export function shippedRoots(): Root[] {
  shipped ??= YUBICO_ATTESTATION_ROOTS.flatMap((r) => {
    const der = base64Decode(r.der);
    const cert = der === null ? null : parseCertificate(der);
    return cert === null ? [] : [{ name: r.file, cert }];
  });
  return shipped;
}

/** Roots the reader adds (DER), e.g. another vendor's: unreadable ones are left out and named. */
export function extraRoots(ders: readonly Uint8Array[]): { roots: Root[]; unreadable: number } {
  const roots: Root[] = [];
  let unreadable = 0;
  for (const [i, der] of ders.entries()) {
    const cert = parseCertificate(der);
    if (cert === null) unreadable++;
    else roots.push({ name: `your root ${i + 1} (${cert.subject})`, cert });
  }
  return { roots, unreadable };
}

export type RegistrationResult = { ok: boolean; reason: string };

const hexOf = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const aaguidText = (b: Uint8Array) => {
  const h = hexOf(b);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};

type Chain = {
  proven: boolean;
  text: string;
  /** The certificates followed, leaf first, each issued by the next; ends with the root when one was reached. */
  path: Certificate[];
};

/** Where an x5c chain leads: a root it reaches (proven) or why it does not. */
function followChain(chain: Certificate[], roots: readonly Root[]): Chain {
  for (const [i, cert] of chain.entries()) {
    const path = chain.slice(0, i + 1);
    const pinned = roots.find((r) => sameBytes(r.cert.der, cert.der));
    if (pinned !== undefined)
      return i === 0
        ? { proven: false, text: "its attestation certificate is a root itself", path }
        : { proven: true, text: `chained to ${pinned.cert.subject}`, path };
    const next = chain[i + 1];
    if (next !== undefined) {
      if (!next.ca || !issuedBy(cert, next))
        return {
          proven: false,
          text: `${cert.subject} is not issued by the next certificate of its x5c`,
          path,
        };
      continue;
    }
    const root = roots.find((r) => r.cert.ca && issuedBy(cert, r.cert));
    if (root !== undefined)
      return { proven: true, text: `chained to ${root.cert.subject}`, path: [...path, root.cert] };
    return { proven: false, text: `no shipped root issued ${cert.issuer}`, path };
  }
  return { proven: false, text: "its x5c is empty", path: [] };
}

/** What the registration check knows beyond the token: its registration in the log, the reader's CRLs. */
export type RegistrationContext = {
  /** The token's registration events the bundle proves (normally one): its registration time. */
  registered: readonly RegisteredEvent[];
  crls: readonly Crl[];
};

/** The chain's statement: where it leads, then its certificates' dates and revocation at the registration. */
function chainStatement(leaf: Certificate, chain: Chain, context: RegistrationContext, problems: string[]) {
  const status = chainStatus(chain.path, context.registered, context.crls);
  problems.push(...status.problems);
  return [
    `signed by the attestation certificate ${leaf.subject}, ${
      chain.proven ? chain.text : `${chain.text}: chain not proven, model not proven`
    }`,
    ...status.notes,
  ].join("; ");
}

function certificates(x5c: unknown): Certificate[] | string {
  if (!Array.isArray(x5c) || x5c.length === 0 || x5c.length > MAX_CHAIN)
    return `its x5c is not a list of 1 to ${MAX_CHAIN} certificates`;
  const out: Certificate[] = [];
  for (const [i, der] of x5c.entries()) {
    const cert = der instanceof Uint8Array ? parseCertificate(der) : null;
    if (cert === null) return `certificate ${i + 1} of its x5c cannot be read`;
    out.push(cert);
  }
  return out;
}

/**
 * The registration of `credential` checked against the bundle's relying party. `ok: false` names every
 * problem; `ok: true` says what was proven (and what was not: a model not proven is not a failure, since a
 * Keyward without an AAGUID allow-list accepts any token).
 */
export function checkRegistration(
  credential: BundleVote["credential"],
  webauthn: { rpId: string; origins: readonly string[] },
  roots: readonly Root[],
  context: RegistrationContext,
): RegistrationResult {
  const registration = credential.registration;
  if (registration === null || registration === undefined)
    return {
      ok: true,
      reason:
        "registration attestation not recorded (the token was registered before Keyward kept it): its key is the bundle's word",
    };
  const problems: string[] = [];
  const attestationBytes = base64urlDecode(registration.attestationObject);
  const clientDataBytes = base64urlDecode(registration.clientDataJSON);
  const publicKey = base64urlDecode(credential.publicKey);
  if (attestationBytes === null || clientDataBytes === null || publicKey === null)
    return { ok: false, reason: "its attestationObject, clientDataJSON or public key is not base64url" };

  let clientData: unknown;
  try {
    clientData = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(clientDataBytes));
  } catch {
    problems.push("its registration clientDataJSON is not JSON");
  }
  if (typeof clientData === "object" && clientData !== null) {
    const c = clientData as Record<string, unknown>;
    if (c.type !== "webauthn.create")
      problems.push(`its registration clientDataJSON type is ${String(c.type)}, not webauthn.create`);
    if (typeof c.origin !== "string" || !webauthn.origins.includes(c.origin))
      problems.push(`it was registered on origin ${String(c.origin)}, not ${webauthn.origins.join(" or ")}`);
  } else if (clientData !== undefined) problems.push("its registration clientDataJSON is not an object");

  let attestation: unknown;
  try {
    attestation = isoCBOR.decodeFirst(new Uint8Array(attestationBytes));
  } catch {
    return { ok: false, reason: [...problems, "its attestationObject is not CBOR"].join("; ") };
  }
  const fmt = attestation instanceof Map ? attestation.get("fmt") : undefined;
  const attStmt = attestation instanceof Map ? attestation.get("attStmt") : undefined;
  const authData = attestation instanceof Map ? attestation.get("authData") : undefined;
  if (typeof fmt !== "string" || !(attStmt instanceof Map) || !(authData instanceof Uint8Array))
    return {
      ok: false,
      reason: [...problems, "its attestationObject has no fmt, attStmt and authData"].join("; "),
    };

  // authenticatorData: rpIdHash (32) ‖ flags (1) ‖ signCount (4) ‖ AAGUID (16) ‖ id length (2) ‖ id ‖ COSE key.
  const rpIdHash = sha256(new TextEncoder().encode(webauthn.rpId));
  const flags = authData[32] ?? 0;
  let attestedId: Uint8Array | null = null;
  let aaguid: Uint8Array | null = null;
  let attestedKey: Uint8Array | null = null;
  if (authData.length < 55 || (flags & FLAG_AT) === 0) problems.push("its authData attests no credential");
  else {
    if (!sameBytes(authData.subarray(0, 32), rpIdHash))
      problems.push(`its authData is for another relying party than ${webauthn.rpId}`);
    if ((flags & FLAG_UP) === 0) problems.push("the token did not report user presence at registration");
    if ((flags & FLAG_UV) === 0) problems.push("the token did not report user verification at registration");
    aaguid = authData.subarray(37, 53);
    const idLength = ((authData[53] ?? 0) << 8) | (authData[54] ?? 0);
    attestedId = authData.subarray(55, 55 + idLength);
    if (attestedId.length !== idLength) problems.push("its authData is cut short in the credential id");
    else {
      if (base64urlEncode(attestedId) !== credential.id)
        problems.push(`its authData attests credential ${base64urlEncode(attestedId)}, not ${credential.id}`);
      // The key as the server stored it: the first CBOR item after the id, re-encoded (as SimpleWebAuthn does).
      try {
        attestedKey = isoCBOR.encode(isoCBOR.decodeFirst(new Uint8Array(authData.subarray(55 + idLength))));
      } catch {
        problems.push("its authData's credential public key is not CBOR");
      }
      if (attestedKey !== null && !sameBytes(attestedKey, publicKey))
        problems.push("its authData attests another public key than the credential's in the bundle");
    }
  }

  const signed = new Uint8Array([...authData, ...sha256(clientDataBytes)]);
  let statement: string;
  if (fmt === "none") {
    if (attStmt.size !== 0) problems.push('its "none" attestation statement is not empty');
    statement = 'format "none": no attestation statement, model not proven';
  } else if (fmt === "packed") {
    const alg = attStmt.get("alg");
    const sig = attStmt.get("sig");
    const x5c = attStmt.get("x5c");
    if (typeof alg !== "number" || !(sig instanceof Uint8Array)) {
      problems.push('its "packed" attestation statement has no alg and sig');
      statement = 'format "packed"';
    } else if (x5c !== undefined) {
      const chain = certificates(x5c);
      if (typeof chain === "string") {
        problems.push(chain);
        statement = 'format "packed"';
      } else {
        const leaf = chain[0] as Certificate;
        const a = ATTESTATION_ALGS[alg];
        const key = leaf.publicKey;
        if (a === undefined)
          problems.push(`its attestation uses COSE algorithm ${alg}, which this does not check`);
        else if (key === null || key.kind !== a.kind || (key.kind === "ec" && key.curve !== a.curve))
          problems.push(`its attestation certificate's key is not of COSE algorithm ${alg}`);
        else if (!verifySignature(key, a.hash, sig, signed))
          problems.push(`its attestation signature does not verify under the certificate of ${leaf.subject}`);
        if (leaf.ca) problems.push("its attestation certificate is a CA certificate");
        if (!(leaf.subjectAttributes.OU ?? []).includes("Authenticator Attestation"))
          problems.push('its attestation certificate\'s subject has no OU "Authenticator Attestation"');
        if (leaf.aaguid !== null && aaguid !== null && !sameBytes(leaf.aaguid, aaguid))
          problems.push(
            `its attestation certificate is for AAGUID ${aaguidText(leaf.aaguid)}, the token claims ${aaguidText(aaguid)}`,
          );
        statement = `format "packed", ${chainStatement(leaf, followChain(chain, roots), context, problems)}`;
      }
    } else if (attStmt.has("ecdaaKeyId")) {
      problems.push('its "packed" attestation uses ECDAA, which this does not check');
      statement = 'format "packed" (ECDAA)';
    } else {
      // Self attestation: the attested credential key signs, with its own algorithm (a key other than the
      // bundle's is already named above).
      const own = coseKey(attestedKey ?? publicKey);
      if (typeof own === "string") problems.push(own);
      else if (own.alg !== alg)
        problems.push(`its self attestation names COSE algorithm ${alg}, its key is ${own.alg}`);
      else if (!own.verify(sig, signed))
        problems.push("its self attestation signature does not verify under the credential's key");
      statement = 'format "packed", self attestation (signed by the credential key): model not proven';
    }
  } else if (fmt === "fido-u2f") {
    const sig = attStmt.get("sig");
    const chain = certificates(attStmt.get("x5c"));
    const own = coseKey(attestedKey ?? publicKey);
    statement = 'format "fido-u2f"';
    if (!(sig instanceof Uint8Array)) problems.push('its "fido-u2f" attestation statement has no sig');
    else if (typeof chain === "string") problems.push(chain);
    else if (chain.length !== 1) problems.push('its "fido-u2f" x5c holds more than one certificate');
    else if (typeof own === "string" || own.key.kind !== "ec" || own.key.curve !== "P-256")
      problems.push('its "fido-u2f" credential key is not a P-256 key');
    else {
      const leaf = chain[0] as Certificate;
      const key = leaf.publicKey;
      // verificationData = 0x00 ‖ rpIdHash ‖ clientDataHash ‖ credentialId ‖ 0x04 ‖ x ‖ y (WebAuthn §8.6).
      const data = new Uint8Array([
        0x00,
        ...authData.subarray(0, 32),
        ...sha256(clientDataBytes),
        ...(attestedId ?? []),
        ...own.key.point,
      ]);
      if (key === null || key.kind !== "ec" || key.curve !== "P-256")
        problems.push("its fido-u2f attestation certificate's key is not a P-256 key");
      else if (!verifySignature(key, "SHA-256", sig, data))
        problems.push(`its attestation signature does not verify under the certificate of ${leaf.subject}`);
      statement = `format "fido-u2f", ${chainStatement(leaf, followChain(chain, roots), context, problems)}`;
    }
  } else {
    statement = `format "${fmt}": attestation statement not checked (this verifier checks packed, fido-u2f and none)`;
  }
  if (problems.length > 0) return { ok: false, reason: problems.join("; ") };
  return {
    ok: true,
    reason: `the token's registration attests this id and key for ${webauthn.rpId}${
      aaguid === null ? "" : ` (AAGUID ${aaguidText(aaguid)})`
    }; ${statement}; its registration challenge is not checkable offline`,
  };
}
