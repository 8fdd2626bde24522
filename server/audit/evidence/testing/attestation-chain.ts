// Attestation chains and CRLs for the evidence tests, made with @peculiar/x509 and WebCrypto keys: a root, an
// intermediate and a FIDO attestation leaf with the validity each test asks for, a SoftAuthenticator registered
// with that chain into a memory bundle whose log records its token.registered event (event 2, T0 + 2 s), and
// CRLs in an issuer's name signed by its key (or another, to forge one).
import "reflect-metadata";
import { KeyObject } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { SoftAuthenticator } from "@/server/testing/soft-authenticator";
import { type VerifyOptions, verifyBundle } from "../verify";
import { memoryLog, type Signer } from "./memory-bundle";
import { softSigner } from "./soft-signers";

const ECDSA = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const AAGUID = "2fc0579f-8113-47ea-b116-bb5a8db9202a";
const FIDO_GEN_CE_AAGUID = "1.3.6.1.4.1.45724.1.1.4";
/** The memory log's event 2 (the x5c token's token.registered), T0 + 2 s. */
export const REGISTERED = "2026-10-01T00:00:02Z";
export const LEAF = "C=SE, O=Keyward Tests, OU=Authenticator Attestation, CN=Soft Token";
export const INTERMEDIATE = "C=SE, O=Keyward Tests, CN=Keyward Test Attestation Intermediate";
export const ROOT = "C=SE, O=Keyward Tests, CN=Keyward Test Attestation Root";

export type Validity = { notBefore: Date; notAfter: Date };
export const LONG: Validity = {
  notBefore: new Date("2020-01-01T00:00:00Z"),
  notAfter: new Date("2099-12-31T00:00:00Z"),
};
export type Ca = { cert: x509.X509Certificate; keys: CryptoKeyPair };

export const newKeys = () => crypto.subtle.generateKey(ECDSA, true, ["sign", "verify"]);

export async function makeCa(name: string, issuer: Ca | null, validity = LONG): Promise<Ca> {
  const keys = await newKeys();
  const extensions = [
    new x509.BasicConstraintsExtension(true, issuer === null ? 1 : 0, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
  ];
  const cert =
    issuer === null
      ? await x509.X509CertificateGenerator.createSelfSigned(
          { serialNumber: "3003", name, keys, signingAlgorithm: ECDSA, ...validity, extensions },
          crypto,
        )
      : await x509.X509CertificateGenerator.create(
          {
            serialNumber: "2002",
            subject: name,
            issuer: issuer.cert.subject,
            publicKey: keys.publicKey,
            signingKey: issuer.keys.privateKey,
            signingAlgorithm: ECDSA,
            ...validity,
            extensions,
          },
          crypto,
        );
  return { cert, keys };
}

/** The FIDO attestation leaf (OU "Authenticator Attestation", CA false, the AAGUID extension), serial 1001. */
async function makeLeaf(issuer: Ca, validity: Validity) {
  const keys = await newKeys();
  const aaguid = Buffer.from(AAGUID.replaceAll("-", ""), "hex");
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: "1001",
      subject: LEAF,
      issuer: issuer.cert.subject,
      publicKey: keys.publicKey,
      signingKey: issuer.keys.privateKey,
      signingAlgorithm: ECDSA,
      ...validity,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.Extension(FIDO_GEN_CE_AAGUID, false, Buffer.concat([Buffer.from([0x04, 0x10]), aaguid])),
      ],
    },
    crypto,
  );
  return { cert, keys };
}

/** A CRL in `issuer`'s name listing `entries`, signed by `signingKey` (default the issuer's own key), DER. */
export async function makeCrl(
  issuer: Ca,
  entries: { serial: string; at: string }[],
  o: { signingKey?: CryptoKey; thisUpdate?: string } = {},
): Promise<Uint8Array<ArrayBuffer>> {
  const crl = await x509.X509CrlGenerator.create(
    {
      issuer: issuer.cert.subject,
      thisUpdate: new Date(o.thisUpdate ?? "2026-12-01T00:00:00Z"),
      nextUpdate: new Date("2027-01-01T00:00:00Z"),
      entries: entries.map((e) => ({ serialNumber: e.serial, revocationDate: new Date(e.at) })),
      signingKey: o.signingKey ?? issuer.keys.privateKey,
      signingAlgorithm: ECDSA,
    },
    crypto,
  );
  return new Uint8Array(crl.rawData);
}

/**
 * A period (events 1-11, or `fromSeq`-11) with two voters: the first's token attested by x5c [leaf,
 * intermediate] under `root` (pinned with attestationRoots), the second's (`selfAttested`) self-attested; their token.registered
 * events are 2 and 3 (none with `registered: false`), in the bundle's registrationEvents with their proofs (with
 * `fromSeq` 4 or more, before the period). `memory` changes the memory log's other options.
 */
export async function chainedBundle(
  o: {
    leaf?: Validity;
    intermediate?: Validity;
    registered?: boolean;
    fromSeq?: number;
    memory?: Pick<Parameters<typeof memoryLog>[0], "digestsLogged">;
  } = {},
) {
  const root = await makeCa(ROOT, null);
  const intermediate = await makeCa(INTERMEDIATE, root, o.intermediate);
  const leaf = await makeLeaf(intermediate, o.leaf ?? LONG);
  const token = new SoftAuthenticator({
    aaguid: AAGUID,
    attestationIdentity: {
      key: KeyObject.from(leaf.keys.privateKey),
      x5c: [new Uint8Array(leaf.cert.rawData), new Uint8Array(intermediate.cert.rawData)],
    },
  });
  const selfAttested = new SoftAuthenticator();
  const signers = [softSigner(token), softSigner(selfAttested)];
  const log = memoryLog({
    size: 12,
    checkpointSizes: [12],
    fromSeq: o.fromSeq ?? 1,
    toSeq: 11,
    signers: (_, i) => signers[i] as Signer,
    registeredSeqs: o.registered === false ? [] : [2, 3],
    ...o.memory,
  });
  const verify = (options: VerifyOptions = {}) => {
    const report = verifyBundle(log.bundle, {
      attestationRoots: [new Uint8Array(root.cert.rawData)],
      ...options,
    });
    const check = report.checks.find((c) => c.item === `registration of token ${token.credentialId}`);
    return { report, check, reason: check?.reason ?? "" };
  };
  return { root, intermediate, leaf, token, selfAttested, bundle: log.bundle, verify };
}
