// Signature checks the offline verifier needs beyond noble's: RSASSA-PKCS1-v1_5 (RS256 tokens, the Yubico roots'
// RSA keys) with BigInt, and a minimal DER reader for the X.509 attestation certificates (their signed bytes,
// names, key, CA flag, AAGUID extension). Synchronous and pure: no Node built-in, no WebCrypto (verifyBundle is
// synchronous), so the CLI and the browser run the same code. Every function returns null or false on input it
// cannot read; none throws.
import { ed25519 } from "@noble/curves/ed25519";
import { p256, p384 } from "@noble/curves/nist";
import { sha256, sha384, sha512 } from "@noble/hashes/sha2";

export type HashName = "SHA-256" | "SHA-384" | "SHA-512";

const HASHES: Record<HashName, (data: Uint8Array) => Uint8Array> = {
  "SHA-256": sha256,
  "SHA-384": sha384,
  "SHA-512": sha512,
};

// DigestInfo (RFC 8017 §9.2 note 1): the DER prefix before the hash in an EMSA-PKCS1-v1_5 encoding.
const DIGEST_INFO: Record<HashName, Uint8Array> = {
  "SHA-256": hex("3031300d060960864801650304020105000420"),
  "SHA-384": hex("3041300d060960864801650304020205000430"),
  "SHA-512": hex("3051300d060960864801650304020305000440"),
};

function hex(text: string): Uint8Array {
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const toBig = (bytes: Uint8Array): bigint => {
  let n = BigInt(0);
  for (const b of bytes) n = (n << BigInt(8)) | BigInt(b);
  return n;
};

function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = BigInt(1);
  let b = base % modulus;
  let e = exponent;
  const zero = BigInt(0);
  const one = BigInt(1);
  while (e > zero) {
    if ((e & one) === one) result = (result * b) % modulus;
    b = (b * b) % modulus;
    e >>= one;
  }
  return result;
}

/** Strips the leading zero bytes of a big-endian integer (DER INTEGERs and COSE keys may carry one). */
const unsigned = (bytes: Uint8Array) => {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  return bytes.subarray(i);
};

/**
 * RSASSA-PKCS1-v1_5 verification (RFC 8017 §8.2.2): s^e mod n must be exactly 0x00 01 FF…FF 00 ‖ DigestInfo ‖
 * hash(data), k bytes long. The encoding is rebuilt and compared whole, so no parsing of it can be fooled.
 */
export function rsaPkcs1Verify(
  key: { n: Uint8Array; e: Uint8Array },
  hash: HashName,
  signature: Uint8Array,
  data: Uint8Array,
): boolean {
  const nBytes = unsigned(key.n);
  const k = nBytes.length;
  const n = toBig(nBytes);
  const eBytes = unsigned(key.e);
  const e = toBig(eBytes);
  // 1024 bits at least (real tokens and roots use 2048 or more); e of 8 bytes at most (real keys use 65537), so a
  // crafted bundle cannot make one check take seconds.
  if (k < 128 || k > 1024 || eBytes.length > 8 || e < BigInt(3) || signature.length !== k) return false;
  const s = toBig(signature);
  if (s >= n) return false;
  let m = modPow(s, e, n);
  const em = new Uint8Array(k);
  for (let i = k - 1; i >= 0; i--) {
    em[i] = Number(m & BigInt(0xff));
    m >>= BigInt(8);
  }
  const t = new Uint8Array([...DIGEST_INFO[hash], ...HASHES[hash](data)]);
  if (k < t.length + 11) return false;
  const expected = new Uint8Array(k).fill(0xff);
  expected[0] = 0x00;
  expected[1] = 0x01;
  expected[k - t.length - 1] = 0x00;
  expected.set(t, k - t.length);
  let diff = 0;
  for (let i = 0; i < k; i++) diff |= (em[i] ?? 0) ^ (expected[i] ?? 0);
  return diff === 0;
}

/** A public key the verifier can check signatures with. */
export type PublicKey =
  | { kind: "ec"; curve: "P-256" | "P-384"; point: Uint8Array }
  | { kind: "ed25519"; key: Uint8Array }
  | { kind: "rsa"; n: Uint8Array; e: Uint8Array };

/** Does `signature` over `data` verify under `key` with `hash` (ignored for Ed25519)? ECDSA: DER, any S. */
export function verifySignature(
  key: PublicKey,
  hash: HashName,
  signature: Uint8Array,
  data: Uint8Array,
): boolean {
  try {
    if (key.kind === "rsa") return rsaPkcs1Verify(key, hash, signature, data);
    if (key.kind === "ed25519") return ed25519.verify(signature, data, key.key, { zip215: false });
    const curve = key.curve === "P-256" ? p256 : p384;
    // WebAuthn and X.509 ECDSA signatures are DER and may have a high S (signers do not normalise).
    return curve.verify(signature, HASHES[hash](data), key.point, {
      format: "der",
      lowS: false,
      prehash: false,
    });
  } catch {
    return false;
  }
}

// ---- DER ----------------------------------------------------------------------------------------------------

type Tlv = { tag: number; header: number; start: number; content: Uint8Array; end: number };

function readTlv(bytes: Uint8Array, at: number): Tlv | null {
  const tag = bytes[at];
  let len = bytes[at + 1];
  if (tag === undefined || len === undefined || (tag & 0x1f) === 0x1f) return null;
  let p = at + 2;
  if (len & 0x80) {
    const count = len & 0x7f;
    if (count === 0 || count > 4) return null;
    len = 0;
    for (let i = 0; i < count; i++) {
      const b = bytes[p++];
      if (b === undefined) return null;
      len = len * 256 + b;
    }
  }
  if (p + len > bytes.length) return null;
  return { tag, header: p - at, start: at, content: bytes.subarray(p, p + len), end: p + len };
}

/** The TLVs inside a constructed value, or null if they do not exactly fill it. */
function children(content: Uint8Array): Tlv[] | null {
  const out: Tlv[] = [];
  let at = 0;
  while (at < content.length) {
    const t = readTlv(content, at);
    if (t === null) return null;
    out.push(t);
    at = t.end;
  }
  return out;
}

function oidOf(content: Uint8Array): string {
  const parts: number[] = [];
  let v = 0;
  for (const [i, b] of content.entries()) {
    v = v * 128 + (b & 0x7f);
    if ((b & 0x80) === 0) {
      if (parts.length === 0) parts.push(v < 80 ? Math.floor(v / 40) : 2, v < 80 ? v % 40 : v - 80);
      else parts.push(v);
      v = 0;
    } else if (i === content.length - 1) return "";
  }
  return parts.join(".");
}

const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  SEQ: 0x30,
  SET: 0x31,
};

const OID = {
  ecPublicKey: "1.2.840.10045.2.1",
  p256: "1.2.840.10045.3.1.7",
  p384: "1.3.132.0.34",
  rsaEncryption: "1.2.840.113549.1.1.1",
  ed25519: "1.3.101.112",
  basicConstraints: "2.5.29.19",
  fidoAaguid: "1.3.6.1.4.1.45724.1.1.4",
};

const SIGNATURE_ALGORITHMS: Record<string, { family: "ec" | "rsa" | "ed25519"; hash: HashName }> = {
  "1.2.840.10045.4.3.2": { family: "ec", hash: "SHA-256" },
  "1.2.840.10045.4.3.3": { family: "ec", hash: "SHA-384" },
  "1.2.840.10045.4.3.4": { family: "ec", hash: "SHA-512" },
  "1.2.840.113549.1.1.11": { family: "rsa", hash: "SHA-256" },
  "1.2.840.113549.1.1.12": { family: "rsa", hash: "SHA-384" },
  "1.2.840.113549.1.1.13": { family: "rsa", hash: "SHA-512" },
  "1.3.101.112": { family: "ed25519", hash: "SHA-512" },
};

const NAME_ATTRIBUTES: Record<string, string> = {
  "2.5.4.3": "CN",
  "2.5.4.6": "C",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
};

export type Certificate = {
  /** The whole certificate, DER. */
  der: Uint8Array;
  /** tbsCertificate as signed. */
  tbs: Uint8Array;
  signatureAlgorithm: string;
  signature: Uint8Array;
  /** Name DER, compared byte for byte with the issuer's subject. */
  issuerDer: Uint8Array;
  subjectDer: Uint8Array;
  /** "C=SE, O=…, OU=…, CN=…" (the attributes this reader knows). */
  subject: string;
  issuer: string;
  /** Name attribute values by short name ("OU" → ["Authenticator Attestation"]). */
  subjectAttributes: Record<string, string[]>;
  publicKey: PublicKey | null;
  /** basicConstraints cA (false when absent). */
  ca: boolean;
  /** The id-fido-gen-ce-aaguid extension's 16 bytes, when present. */
  aaguid: Uint8Array | null;
};

function readName(der: Uint8Array): { text: string; attributes: Record<string, string[]> } | null {
  const top = readTlv(der, 0);
  const sets = top && top.tag === TAG.SEQ ? children(top.content) : null;
  if (sets === null) return null;
  const parts: string[] = [];
  const attributes: Record<string, string[]> = {};
  for (const set of sets) {
    for (const atv of (set.tag === TAG.SET ? children(set.content) : null) ?? []) {
      const [type, value] = children(atv.content) ?? [];
      if (type?.tag !== TAG.OID || value === undefined) continue;
      const name = NAME_ATTRIBUTES[oidOf(type.content)] ?? oidOf(type.content);
      const text =
        value.tag === 0x1e
          ? Array.from({ length: value.content.length / 2 }, (_, i) =>
              String.fromCharCode(((value.content[2 * i] ?? 0) << 8) | (value.content[2 * i + 1] ?? 0)),
            ).join("")
          : new TextDecoder().decode(value.content);
      parts.push(`${name}=${text}`);
      attributes[name] = [...(attributes[name] ?? []), text];
    }
  }
  return { text: parts.join(", "), attributes };
}

function readSpki(tlv: Tlv): PublicKey | null {
  const [alg, bits] = children(tlv.content) ?? [];
  if (alg?.tag !== TAG.SEQ || bits?.tag !== TAG.BIT_STRING || bits.content[0] !== 0) return null;
  const [algOid, params] = children(alg.content) ?? [];
  if (algOid?.tag !== TAG.OID) return null;
  const key = bits.content.subarray(1);
  const oid = oidOf(algOid.content);
  if (oid === OID.ecPublicKey && params?.tag === TAG.OID) {
    const curve = oidOf(params.content);
    if (curve === OID.p256 && key.length === 65) return { kind: "ec", curve: "P-256", point: key };
    if (curve === OID.p384 && key.length === 97) return { kind: "ec", curve: "P-384", point: key };
    return null;
  }
  if (oid === OID.ed25519 && key.length === 32) return { kind: "ed25519", key };
  if (oid === OID.rsaEncryption) {
    const seq = readTlv(key, 0);
    const [n, e] = (seq?.tag === TAG.SEQ ? children(seq.content) : null) ?? [];
    if (n?.tag !== TAG.INTEGER || e?.tag !== TAG.INTEGER) return null;
    return { kind: "rsa", n: unsigned(n.content), e: unsigned(e.content) };
  }
  return null;
}

/** An X.509 certificate's parts the attestation checks use, or null when it is not one this reader can read. */
export function parseCertificate(der: Uint8Array): Certificate | null {
  const signed = signedParts(der);
  const tbs = signed === null ? null : readTlv(signed.tbs, 0);
  if (signed === null || tbs === null) return null;
  const fields = children(tbs.content);
  if (fields === null) return null;
  // [0] version is optional (v1); then serial, signature, issuer, validity, subject, subjectPublicKeyInfo.
  const rest = fields[0]?.tag === 0xa0 ? fields.slice(1) : fields;
  const [, , issuer, , subject, spki, ...optional] = rest;
  if (issuer?.tag !== TAG.SEQ || subject?.tag !== TAG.SEQ || spki?.tag !== TAG.SEQ) return null;
  const tlvBytes = (t: Tlv, within: Uint8Array) => within.subarray(t.start, t.end);
  const issuerDer = tlvBytes(issuer, tbs.content);
  const subjectDer = tlvBytes(subject, tbs.content);
  const issuerName = readName(issuerDer);
  const subjectName = readName(subjectDer);
  if (issuerName === null || subjectName === null) return null;
  let ca = false;
  let aaguid: Uint8Array | null = null;
  const extensions = optional.find((t) => t.tag === 0xa3);
  if (extensions !== undefined) {
    const [list] = children(extensions.content) ?? [];
    for (const ext of (list?.tag === TAG.SEQ ? children(list.content) : null) ?? []) {
      const parts = children(ext.content) ?? [];
      const oid = parts[0]?.tag === TAG.OID ? oidOf(parts[0].content) : "";
      const value = parts.at(-1);
      if (value?.tag !== TAG.OCTET_STRING) continue;
      if (oid === OID.basicConstraints) {
        const seq = readTlv(value.content, 0);
        const [first] = (seq?.tag === TAG.SEQ ? children(seq.content) : null) ?? [];
        ca = first?.tag === TAG.BOOLEAN && first.content[0] !== 0;
      }
      if (oid === OID.fidoAaguid) {
        const inner = readTlv(value.content, 0);
        aaguid = inner?.tag === TAG.OCTET_STRING && inner.content.length === 16 ? inner.content : null;
      }
    }
  }
  return {
    der,
    ...signed,
    issuerDer,
    subjectDer,
    subject: subjectName.text,
    issuer: issuerName.text,
    subjectAttributes: subjectName.attributes,
    publicKey: readSpki(spki),
    ca,
    aaguid,
  };
}

/** Did `issuer`'s key sign `cert` (and is it named as its issuer)? */
export function issuedBy(cert: Certificate, issuer: Certificate): boolean {
  if (!sameBytes(cert.issuerDer, issuer.subjectDer)) return false;
  return signedWithKeyOf(issuer, cert);
}

/** A SIGNED{} structure (a certificate, a CRL): its to-be-signed bytes exactly as signed, algorithm and signature. */
export type Signed = { tbs: Uint8Array; signatureAlgorithm: string; signature: Uint8Array };

/** The signed parts of a DER SIGNED{} (SEQUENCE { tbs, AlgorithmIdentifier, BIT STRING }), or null. */
export function signedParts(der: Uint8Array): Signed | null {
  const top = readTlv(der, 0);
  if (top === null || top.tag !== TAG.SEQ || top.end !== der.length) return null;
  const [tbs, sigAlg, sig] = children(top.content) ?? [];
  if (tbs?.tag !== TAG.SEQ || sigAlg?.tag !== TAG.SEQ || sig?.tag !== TAG.BIT_STRING || sig.content[0] !== 0)
    return null;
  const [sigOid] = children(sigAlg.content) ?? [];
  if (sigOid?.tag !== TAG.OID) return null;
  return {
    tbs: top.content.subarray(tbs.start, tbs.end),
    signatureAlgorithm: oidOf(sigOid.content),
    signature: sig.content.subarray(1),
  };
}

/** Does `signed`'s signature verify under `issuer`'s certificate key (names not compared)? */
export function signedWithKeyOf(issuer: Certificate, signed: Signed): boolean {
  const alg = SIGNATURE_ALGORITHMS[signed.signatureAlgorithm];
  const key = issuer.publicKey;
  if (alg === undefined || key === null || key.kind !== alg.family) return false;
  return verifySignature(key, alg.hash, signed.signature, signed.tbs);
}

export const sameBytes = (a: Uint8Array, b: Uint8Array) =>
  a.length === b.length && a.every((x, i) => x === b[i]);
