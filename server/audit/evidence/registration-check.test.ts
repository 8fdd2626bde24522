// Each voter token's registration in the bundle (issue 15 items 5-6) and RS256 votes, checked by the offline
// verifier: real registrations made by the SoftAuthenticator (packed with an x5c, packed self attestation, none),
// a fido-u2f and an RS256 token made here with node:crypto, each verifies; a swapped key, an altered attestation
// signature, another token's attestationObject, a webauthn.get clientDataJSON, a chain to no trusted root, a
// flipped bit in an RS256 vote are each caught and named. The pure RSA and X.509 code is held to node:crypto.
import {
  createHash,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
  X509Certificate,
} from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { isoCBOR } from "@simplewebauthn/server/helpers";
import { beforeAll, describe, expect, it } from "vitest";
import { SoftAuthenticator, TestAttestationCa } from "@/server/testing/soft-authenticator";
import { type Bundle, type BundleVote, bundleAssertionSchema } from "./bundle";
import { parseCertificate, issuedBy, rsaPkcs1Verify } from "./signatures";
import { memoryLog, PAGE_ORIGIN, RP_ID, type Signer } from "./testing/memory-bundle";
import { softSigner } from "./testing/soft-signers";
import { type VerifyOptions, verifyBundle } from "./verify";
import { YUBICO_ATTESTATION_ROOTS } from "./yubico-roots";

const sha256 = (b: Uint8Array) => new Uint8Array(createHash("sha256").update(b).digest());
const b64u = (b: Uint8Array) => Buffer.from(b).toString("base64url");
const fromB64u = (s: string) => new Uint8Array(Buffer.from(s, "base64url"));
const copy = (b: Bundle): Bundle => structuredClone(b);

const clientData = (type: string, challenge: string) =>
  new TextEncoder().encode(JSON.stringify({ type, challenge, origin: PAGE_ORIGIN, crossOrigin: false }));

function authDataFor(id: Uint8Array, cose: Uint8Array, aaguid = new Uint8Array(16)) {
  return new Uint8Array([
    ...sha256(new TextEncoder().encode(RP_ID)),
    0x45,
    0,
    0,
    0,
    0,
    ...aaguid,
    id.length >> 8,
    id.length & 0xff,
    ...id,
    ...cose,
  ]);
}

/** Votes signed by a node:crypto key (EC: DER ECDSA; RSA: RSASSA-PKCS1-v1_5), as memory-bundle's assertion(). */
function nodeAssert(id: string, key: KeyObject) {
  return (challenge: string): BundleVote["assertion"] => {
    const authData = new Uint8Array([...sha256(new TextEncoder().encode(RP_ID)), 0x05, 0, 0, 0, 9]);
    const cd = clientData("webauthn.get", challenge);
    const signature = sign("sha256", new Uint8Array([...authData, ...sha256(cd)]), key);
    return {
      id,
      rawId: id,
      type: "public-key",
      response: { authenticatorData: b64u(authData), clientDataJSON: b64u(cd), signature: b64u(signature) },
    };
  };
}

/** An RS256 token (COSE kty 3), registered with packed self attestation under its own RSA key. */
function rs256Signer(): Signer & { privateKey: KeyObject } {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const jwk = publicKey.export({ format: "jwk" });
  const cose = isoCBOR.encode(
    new Map<number, number | Uint8Array>([
      [1, 3],
      [3, -257],
      [-1, fromB64u(jwk.n ?? "")],
      [-2, fromB64u(jwk.e ?? "")],
    ]),
  );
  const idBytes = new Uint8Array(randomBytes(16));
  const id = b64u(idBytes);
  const authData = authDataFor(idBytes, cose);
  const cd = clientData("webauthn.create", b64u(randomBytes(32)));
  const sig = sign("sha256", new Uint8Array([...authData, ...sha256(cd)]), privateKey);
  const attestationObject = isoCBOR.encode(
    new Map<string, unknown>([
      ["fmt", "packed"],
      [
        "attStmt",
        new Map<string, unknown>([
          ["alg", -257],
          ["sig", new Uint8Array(sig)],
        ]),
      ],
      ["authData", authData],
    ]) as never,
  );
  return {
    id,
    cose: b64u(cose),
    registration: { attestationObject: b64u(attestationObject), clientDataJSON: b64u(cd) },
    assert: nodeAssert(id, privateKey),
    privateKey,
  };
}

/** A U2F token (fido-u2f attestation, x5c from `ca`), as WebAuthn §8.6 describes it. */
async function u2fSigner(ca: TestAttestationCa): Promise<Signer> {
  const identity = await ca.issue("00000000-0000-0000-0000-000000000000");
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const jwk = publicKey.export({ format: "jwk" });
  const x = fromB64u(jwk.x ?? "");
  const y = fromB64u(jwk.y ?? "");
  const cose = isoCBOR.encode(
    new Map<number, number | Uint8Array>([
      [1, 2],
      [3, -7],
      [-1, 1],
      [-2, x],
      [-3, y],
    ]),
  );
  const idBytes = new Uint8Array(randomBytes(64));
  const id = b64u(idBytes);
  const authData = authDataFor(idBytes, cose);
  const cd = clientData("webauthn.create", b64u(randomBytes(32)));
  const verificationData = new Uint8Array([
    0x00,
    ...authData.subarray(0, 32),
    ...sha256(cd),
    ...idBytes,
    0x04,
    ...x,
    ...y,
  ]);
  const sig = new Uint8Array(sign("sha256", verificationData, identity.key));
  const attestationObject = isoCBOR.encode(
    new Map<string, unknown>([
      ["fmt", "fido-u2f"],
      [
        "attStmt",
        new Map<string, unknown>([
          ["sig", sig],
          ["x5c", identity.x5c],
        ]),
      ],
      ["authData", authData],
    ]) as never,
  );
  return {
    id,
    cose: b64u(cose),
    registration: { attestationObject: b64u(attestationObject), clientDataJSON: b64u(cd) },
    assert: nodeAssert(id, privateKey),
  };
}

function bundleWith(signers: Signer[]) {
  return memoryLog({
    size: 12,
    checkpointSizes: [12],
    fromSeq: 1,
    toSeq: 11,
    signers: (_voterId, i) => signers[i] as Signer,
  });
}

const registrations = (report: ReturnType<typeof verifyBundle>) =>
  report.checks.filter((c) => c.kind === "registration");
const failed = (report: ReturnType<typeof verifyBundle>) =>
  report.failures.map((f) => `${f.item}: ${f.reason}`);

/** Re-encodes a registration's attestationObject after `change` to its decoded map. */
function editAttestation(vote: BundleVote, change: (m: Map<string, unknown>) => void) {
  const registration = vote.credential.registration;
  if (!registration) throw new Error("no registration");
  const m = isoCBOR.decodeFirst<Map<string, unknown>>(fromB64u(registration.attestationObject));
  change(m);
  registration.attestationObject = b64u(isoCBOR.encode(m as never));
}

describe("token registrations in the evidence bundle", () => {
  let ca: TestAttestationCa;
  let caRoot: Uint8Array;
  let x5cToken: SoftAuthenticator;
  beforeAll(async () => {
    ca = await TestAttestationCa.create();
    caRoot = new Uint8Array(new X509Certificate(ca.pem).raw);
    const aaguid = "2fc0579f-8113-47ea-b116-bb5a8db9202a";
    x5cToken = new SoftAuthenticator({ aaguid, attestationIdentity: await ca.issue(aaguid) });
  });
  const trusting = (): VerifyOptions => ({ attestationRoots: [caRoot] });

  it("verifies real registrations: packed with an x5c chained to a trusted root, and self attestation", () => {
    const { bundle } = bundleWith([softSigner(x5cToken), softSigner(new SoftAuthenticator())]);
    const report = verifyBundle(JSON.parse(JSON.stringify(bundle)), trusting());
    expect(failed(report)).toEqual([]);
    const [x5c, self] = registrations(report);
    expect(x5c?.item).toBe(`registration of token ${x5cToken.credentialId}`);
    expect(x5c?.reason).toMatch(
      /attests this id and key for localhost \(AAGUID 2fc0579f-8113-47ea-b116-bb5a8db9202a\)/,
    );
    expect(x5c?.reason).toMatch(
      /format "packed", signed by the attestation certificate .*CN=Soft Token, chained to .*CN=Keyward Test Attestation Root/,
    );
    expect(self?.reason).toMatch(/self attestation \(signed by the credential key\): model not proven/);
  });

  it("says an x5c that reaches no trusted root does not prove the model (not a failure), and checks the shipped Yubico roots", () => {
    const { bundle } = bundleWith([softSigner(x5cToken), softSigner(new SoftAuthenticator())]);
    const report = verifyBundle(bundle);
    expect(failed(report)).toEqual([]);
    expect(registrations(report)[0]?.reason).toMatch(
      /no shipped root issued C=SE, O=Keyward Tests, CN=Keyward Test Attestation Root: chain not proven, model not proven/,
    );
  });

  it('says "none" proves no model, and a token registered before Keyward kept it is "not recorded"', () => {
    const none = new SoftAuthenticator({ attestation: "none" });
    const { bundle } = bundleWith([softSigner(none), softSigner(new SoftAuthenticator())]);
    const v = bundle.votes[1];
    if (v) v.credential.registration = null;
    const report = verifyBundle(bundle);
    expect(failed(report)).toEqual([]);
    const [first, second] = registrations(report);
    expect(first?.reason).toMatch(/format "none": no attestation statement, model not proven/);
    expect(second?.reason).toMatch(/registration attestation not recorded/);
    // A bundle exported before the field existed reads as not recorded.
    const old = JSON.parse(JSON.stringify(bundle));
    delete old.votes[0].credential.registration;
    const oldReport = verifyBundle(old);
    expect(failed(oldReport)).toEqual([]);
    expect(registrations(oldReport)[0]?.reason).toMatch(/not recorded/);
  });

  it("verifies a fido-u2f registration and its chain", async () => {
    const { bundle } = bundleWith([await u2fSigner(ca), softSigner(new SoftAuthenticator())]);
    const report = verifyBundle(bundle, trusting());
    expect(failed(report)).toEqual([]);
    expect(registrations(report)[0]?.reason).toMatch(
      /format "fido-u2f", signed by .*CN=Soft Token, chained to/,
    );
    const bad = copy(bundle);
    editAttestation(bad.votes[0] as BundleVote, (m) => {
      const stmt = m.get("attStmt") as Map<string, Uint8Array>;
      const sig = stmt.get("sig") as Uint8Array;
      sig[sig.length - 3] = (sig[sig.length - 3] ?? 0) ^ 1;
    });
    expect(failed(verifyBundle(bad, trusting()))).toEqual([
      `registration of token ${bad.votes[0]?.credential.id}: member ${bad.votes[0]?.voterId}: its attestation signature does not verify under the certificate of C=SE, O=Keyward Tests, OU=Authenticator Attestation, CN=Soft Token`,
    ]);
  });

  it("names an approver's key swapped for another, even with the vote re-signed by the new key", () => {
    const victim = softSigner(x5cToken);
    const other = new SoftAuthenticator();
    const { bundle } = bundleWith([victim, softSigner(new SoftAuthenticator())]);
    const b = copy(bundle);
    const vote = b.votes[0] as BundleVote;
    vote.credential.publicKey = b64u(other.publicKeyCose);
    // The insider's key signs the vote's real challenge: the vote itself verifies under the swapped key.
    const forged = other.authenticate({ challenge: vote.challenge, rpId: RP_ID, allowCredentials: [] });
    vote.assertion = bundleAssertionSchema.parse({
      ...forged,
      id: vote.credential.id,
      rawId: vote.credential.id,
    });
    const report = verifyBundle(b, trusting());
    expect(failed(report)).toEqual([
      `registration of token ${vote.credential.id}: member ${vote.voterId}: its authData attests another public key than the credential's in the bundle`,
    ]);
  });

  it("names an altered attestation signature, another token's attestationObject and a webauthn.get clientDataJSON", () => {
    const { bundle } = bundleWith([softSigner(x5cToken), softSigner(new SoftAuthenticator())]);
    const [first, second] = bundle.votes as [BundleVote, BundleVote];
    const item = `registration of token ${first.credential.id}: member ${first.voterId}`;

    const altered = copy(bundle);
    editAttestation(altered.votes[0] as BundleVote, (m) => {
      const sig = (m.get("attStmt") as Map<string, Uint8Array>).get("sig") as Uint8Array;
      sig[10] = (sig[10] ?? 0) ^ 0x40;
    });
    expect(failed(verifyBundle(altered, trusting()))).toEqual([
      `${item}: its attestation signature does not verify under the certificate of C=SE, O=Keyward Tests, OU=Authenticator Attestation, CN=Soft Token`,
    ]);

    const selfAltered = copy(bundle);
    editAttestation(selfAltered.votes[1] as BundleVote, (m) => {
      const sig = (m.get("attStmt") as Map<string, Uint8Array>).get("sig") as Uint8Array;
      sig[12] = (sig[12] ?? 0) ^ 0x02;
    });
    expect(failed(verifyBundle(selfAltered, trusting()))).toEqual([
      `registration of token ${second.credential.id}: member ${second.voterId}: its self attestation signature does not verify under the credential's key`,
    ]);

    const swapped = copy(bundle);
    (swapped.votes[0] as BundleVote).credential.registration = second.credential.registration;
    expect(failed(verifyBundle(swapped, trusting()))).toEqual([
      `${item}: its authData attests credential ${second.credential.id}, not ${first.credential.id}; its authData attests another public key than the credential's in the bundle`,
    ]);

    const get = copy(bundle);
    const registration = (get.votes[0] as BundleVote).credential.registration;
    if (!registration) throw new Error("no registration");
    const cd = JSON.parse(Buffer.from(registration.clientDataJSON, "base64url").toString("utf8"));
    registration.clientDataJSON = b64u(
      new TextEncoder().encode(JSON.stringify({ ...cd, type: "webauthn.get" })),
    );
    const reason = verifyBundle(get, trusting()).failures[0]?.reason ?? "";
    expect(reason).toMatch(/its registration clientDataJSON type is webauthn\.get, not webauthn\.create/);
    // It is also no longer what the token signed.
    expect(reason).toMatch(/its attestation signature does not verify/);

    const rp = copy(bundle);
    rp.webauthn.rpId = "evil.example";
    expect(failed(verifyBundle(rp)).filter((f) => f.startsWith("registration"))).toEqual([
      expect.stringMatching(/its authData is for another relying party than evil\.example/),
      expect.stringMatching(/its authData is for another relying party than evil\.example/),
    ]);

    const twice = copy(bundle);
    const later = twice.votes[1] as BundleVote;
    later.credential = { ...(twice.votes[0] as BundleVote).credential, registration: null };
    expect(failed(verifyBundle(twice, trusting()))).toContain(
      `registration of token ${first.credential.id}: the bundle gives this token 2 different owners, keys or registrations`,
    );
  });

  it("names, never throws on, registrations that are not what they claim to be", () => {
    const { bundle } = bundleWith([softSigner(x5cToken), softSigner(new SoftAuthenticator())]);
    const id = bundle.votes[0]?.credential.id;
    const garbage: [string, (m: Map<string, unknown>) => void][] = [
      ["no authData", (m) => m.delete("authData")],
      ["authData cut", (m) => m.set("authData", (m.get("authData") as Uint8Array).subarray(0, 60))],
      [
        "x5c junk",
        (m) => (m.get("attStmt") as Map<string, unknown>).set("x5c", [new Uint8Array([0x30, 0x82, 9])]),
      ],
      ["x5c empty", (m) => (m.get("attStmt") as Map<string, unknown>).set("x5c", [])],
      ["x5c not a list", (m) => (m.get("attStmt") as Map<string, unknown>).set("x5c", 7)],
      ["unknown alg", (m) => (m.get("attStmt") as Map<string, unknown>).set("alg", -999)],
      ["fmt tpm", (m) => m.set("fmt", "tpm")],
      ["fmt none with a statement", (m) => m.set("fmt", "none")],
      [
        "fido-u2f without x5c",
        (m) => {
          m.set("fmt", "fido-u2f");
          (m.get("attStmt") as Map<string, unknown>).delete("x5c");
        },
      ],
    ];
    for (const [what, change] of garbage) {
      const b = copy(bundle);
      editAttestation(b.votes[0] as BundleVote, change);
      const report = verifyBundle(b, trusting());
      const check = registrations(report).find((c) => c.item === `registration of token ${id}`);
      expect(
        report.checks.filter((c) => c.item === "bundle" && !c.ok),
        what,
      ).toEqual([]);
      if (what === "fmt tpm")
        expect(check?.reason, what).toMatch(/format "tpm": attestation statement not checked/);
      else expect(check?.ok, what).toBe(false);
    }
    for (const attestationObject of ["", "AAAA", b64u(isoCBOR.encode([1, 2] as never)), "%%%"]) {
      const b = copy(bundle);
      const registration = (b.votes[0] as BundleVote).credential.registration;
      if (registration) registration.attestationObject = attestationObject;
      const report = verifyBundle(b);
      if (attestationObject === "%%%") expect(report.failures[0]?.item).toBe("bundle");
      else
        expect(registrations(report).find((c) => c.item === `registration of token ${id}`)?.ok).toBe(false);
    }
  });

  it("verifies an RS256 vote and its registration, and names a flipped bit in the vote's signature", () => {
    const rsa = rs256Signer();
    const { bundle } = bundleWith([rsa, softSigner(new SoftAuthenticator())]);
    const report = verifyBundle(bundle);
    expect(failed(report)).toEqual([]);
    const vote = bundle.votes[0] as BundleVote;
    expect(
      report.checks.find((c) => c.item === `vote on operation ${vote.operationId} by ${vote.voterId}`)?.ok,
    ).toBe(true);
    expect(registrations(report)[0]?.reason).toMatch(/self attestation/);

    const flipped = copy(bundle);
    const sig = fromB64u((flipped.votes[0] as BundleVote).assertion.response.signature);
    sig[100] = (sig[100] ?? 0) ^ 0x01;
    (flipped.votes[0] as BundleVote).assertion.response.signature = b64u(sig);
    expect(failed(verifyBundle(flipped))).toEqual([
      `vote on operation ${vote.operationId} by ${vote.voterId}: its signature does not verify under the credential's public key`,
    ]);
  });
});

describe("the pure RSA and X.509 checks", () => {
  it("verify RSASSA-PKCS1-v1_5 as node:crypto signs it, and nothing else", () => {
    for (const [bits, hash, node] of [
      [2048, "SHA-256", "sha256"],
      [3072, "SHA-384", "sha384"],
      [2048, "SHA-512", "sha512"],
    ] as const) {
      const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: bits });
      const jwk = publicKey.export({ format: "jwk" });
      const key = { n: fromB64u(jwk.n ?? ""), e: fromB64u(jwk.e ?? "") };
      const data = new Uint8Array(randomBytes(100));
      const sig = new Uint8Array(sign(node, data, privateKey));
      expect(rsaPkcs1Verify(key, hash, sig, data)).toBe(true);
      expect(rsaPkcs1Verify(key, hash === "SHA-256" ? "SHA-512" : "SHA-256", sig, data)).toBe(false);
      const other = data.slice();
      other[0] = (other[0] ?? 0) ^ 1;
      expect(rsaPkcs1Verify(key, hash, sig, other)).toBe(false);
      const bad = sig.slice();
      bad[7] = (bad[7] ?? 0) ^ 0x80;
      expect(rsaPkcs1Verify(key, hash, bad, data)).toBe(false);
      // RSA-PSS over the same data is another encoding.
      const pss = new Uint8Array(sign(node, data, { key: privateKey, padding: 6 }));
      expect(rsaPkcs1Verify(key, hash, pss, data)).toBe(false);
      expect(rsaPkcs1Verify(key, hash, sig.subarray(1), data)).toBe(false);
    }
  });

  it("ship exactly the Yubico roots of server/auth/attestation-roots, each a CA whose RSA self-signature verifies", () => {
    const folder = path.join(import.meta.dirname, "../../auth/attestation-roots");
    const files = [
      "yubico-attestation-root-1.pem",
      "yubico-fido-root-ca-serial-450203556.pem",
      "yubico-u2f-root-ca-serial-457200631.pem",
    ];
    expect(YUBICO_ATTESTATION_ROOTS.map((r) => r.file)).toEqual(files);
    for (const r of YUBICO_ATTESTATION_ROOTS) {
      const der = new Uint8Array(Buffer.from(r.der, "base64"));
      const onDisk = new X509Certificate(readFileSync(path.join(folder, r.file)));
      expect(Buffer.from(der).equals(onDisk.raw)).toBe(true);
      const cert = parseCertificate(der);
      expect(cert?.ca).toBe(true);
      expect(cert?.subject).toBe(onDisk.subject.replace(/^CN=/, "CN="));
      expect(cert && issuedBy(cert, cert)).toBe(true);
      const tampered = der.slice();
      tampered[200] = (tampered[200] ?? 0) ^ 1;
      const t = parseCertificate(tampered);
      expect(t !== null && issuedBy(t, t)).toBe(false);
    }
  });
});
