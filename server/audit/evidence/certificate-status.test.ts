// A token's attestation chain judged at the time the log says the token was registered (issue 15): real chains
// (root → intermediate → leaf) and CRLs made here with @peculiar/x509 and WebCrypto keys, a SoftAuthenticator
// registered with that chain, and the memory log's token.registered event at 2026-10-01T00:00:02Z. A leaf expired
// or an intermediate not yet valid at that time fails and is named; a leaf that expired since (before the
// verifier's clock) does not; a CRL signed by the issuer that lists a certificate revoked by then fails it,
// revoked later is a warning note; a CRL with a bad signature is refused; no CRL says revocation was not checked.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { describe, expect, it } from "vitest";
import { crlDers, readCrls } from "./certificate-status";
import {
  chainedBundle,
  INTERMEDIATE,
  LEAF,
  makeCa,
  makeCrl,
  newKeys,
  REGISTERED,
  ROOT,
} from "./testing/attestation-chain";

describe("attestation certificates at the token's registration", () => {
  it("passes a chain valid when the token was registered, even if its leaf has expired since (by the verifier's clock)", async () => {
    const chain = await chainedBundle({
      // Expired 8 s after the registration: long before any clock this test runs on.
      leaf: { notBefore: new Date("2024-01-01T00:00:00Z"), notAfter: new Date("2026-10-01T00:00:10Z") },
    });
    const { report, check, reason } = chain.verify();
    expect(report.failures).toEqual([]);
    expect(report.ok).toBe(true);
    expect(check?.ok).toBe(true);
    expect(reason).toContain(`chained to ${ROOT}`);
    expect(reason).toContain(
      `each of its 3 certificates was valid at its registration (${REGISTERED}, event 2)`,
    );
    // No CRL given: said, for the leaf and the intermediate (the root issues itself).
    expect(reason).toContain(
      `revocation not checked for ${LEAF} and ${INTERMEDIATE}: no CRL of its issuer given (the verifier fetches nothing, by design`,
    );
  });

  it("fails a leaf that had expired before the registration, naming the token, the certificate and its window", async () => {
    const chain = await chainedBundle({
      leaf: { notBefore: new Date("2020-01-01T00:00:00Z"), notAfter: new Date("2026-09-30T00:00:00Z") },
    });
    const { report, check } = chain.verify();
    expect(report.ok).toBe(false);
    expect(report.failures).toEqual([check]);
    expect(check?.item).toBe(`registration of token ${chain.token.credentialId}`);
    expect(check?.reason).toContain(
      `its certificate ${LEAF} was not valid when the token was registered (${REGISTERED}, event 2): valid 2020-01-01T00:00:00Z to 2026-09-30T00:00:00Z`,
    );
  });

  it("fails an intermediate not yet valid at the registration", async () => {
    const chain = await chainedBundle({
      intermediate: {
        notBefore: new Date("2026-10-02T00:00:00Z"),
        notAfter: new Date("2036-01-01T00:00:00Z"),
      },
    });
    const { report, check } = chain.verify();
    expect(report.failures).toEqual([check]);
    expect(check?.reason).toContain(
      `its certificate ${INTERMEDIATE} was not valid when the token was registered (${REGISTERED}, event 2): valid 2026-10-02T00:00:00Z to 2036-01-01T00:00:00Z`,
    );
    expect(check?.reason).not.toContain(`its certificate ${LEAF} was not valid`);
  });

  it("says the registration time is unknown when the bundle proves no registration event of the token", async () => {
    const chain = await chainedBundle({
      registered: false,
      leaf: { notBefore: new Date("2020-01-01T00:00:00Z"), notAfter: new Date("2026-09-30T00:00:00Z") },
    });
    const { check } = chain.verify();
    expect(check?.ok).toBe(true);
    expect(check?.reason).toContain(
      "registration time unknown (no registration event of this token proven in the bundle): certificate dates not checked",
    );
    // A certificate listed as revoked cannot be shown to have been in force at an unknown time.
    const crl = await makeCrl(chain.intermediate, [{ serial: "1001", at: "2026-11-01T00:00:00Z" }]);
    const revoked = chain.verify({ crls: [crl] }).check;
    expect(revoked?.ok).toBe(false);
    expect(revoked?.reason).toContain(
      `its certificate ${LEAF} (serial 1001) was revoked at 2026-11-01T00:00:00Z (per ${INTERMEDIATE}'s CRL of 2026-12-01T00:00:00Z) and the registration time is unknown`,
    );
  });
});

describe("revocation from the CRLs the reader gives (offline)", () => {
  it("fails a leaf its issuer's CRL lists as revoked before the registration, naming it", async () => {
    const chain = await chainedBundle();
    const crl = await makeCrl(chain.intermediate, [{ serial: "1001", at: "2026-09-01T00:00:00Z" }]);
    const { report, check } = chain.verify({ crls: [crl] });
    expect(report.failures).toEqual([check]);
    expect(check?.reason).toContain(
      `its certificate ${LEAF} (serial 1001) was revoked at 2026-09-01T00:00:00Z, before the token was registered (${REGISTERED}, event 2), per ${INTERMEDIATE}'s CRL of 2026-12-01T00:00:00Z`,
    );
    // Revoked at the very time of the registration: not in force then either.
    const atOnce = await makeCrl(chain.intermediate, [{ serial: "1001", at: REGISTERED }]);
    expect(chain.verify({ crls: [atOnce] }).check?.ok).toBe(false);
    // The root's CRL listing the intermediate: named too.
    const rootCrl = await makeCrl(chain.root, [{ serial: "2002", at: "2025-01-01T00:00:00Z" }]);
    const inter = chain.verify({ crls: [rootCrl] }).check;
    expect(inter?.ok).toBe(false);
    expect(inter?.reason).toContain(
      `its certificate ${INTERMEDIATE} (serial 2002) was revoked at 2025-01-01T00:00:00Z`,
    );
  });

  it("passes a leaf revoked after the registration, with a warning that the registration stays proven at its time", async () => {
    const chain = await chainedBundle();
    const leafCrl = await makeCrl(chain.intermediate, [{ serial: "1001", at: "2026-11-15T00:00:00Z" }]);
    const rootCrl = await makeCrl(chain.root, []);
    const { report, check } = chain.verify({ crls: [leafCrl, rootCrl] });
    expect(report.failures).toEqual([]);
    expect(check?.ok).toBe(true);
    expect(check?.reason).toContain(
      `warning: its certificate ${LEAF} (serial 1001) was revoked at 2026-11-15T00:00:00Z, after the token was registered (${REGISTERED}, event 2), per ${INTERMEDIATE}'s CRL of 2026-12-01T00:00:00Z: the registration stays proven as of its time`,
    );
    expect(check?.reason).toContain(`${INTERMEDIATE} not revoked per ${ROOT}'s CRL of 2026-12-01T00:00:00Z`);
    expect(check?.reason).not.toContain("revocation not checked");
  });

  it("refuses a CRL whose signature does not verify under the issuer's key: not used, even listing the leaf", async () => {
    const chain = await chainedBundle();
    const impostor = await newKeys();
    const forged = await makeCrl(chain.intermediate, [{ serial: "1001", at: "2026-09-01T00:00:00Z" }], {
      signingKey: impostor.privateKey,
    });
    const { report, check } = chain.verify({ crls: [forged] });
    expect(report.failures).toEqual([]);
    expect(check?.reason).toContain(
      `a CRL naming ${INTERMEDIATE} as its issuer (of 2026-12-01T00:00:00Z) refused: CRL signature does not verify, not used`,
    );
    expect(check?.reason).toContain(`revocation not checked for ${LEAF} and ${INTERMEDIATE}`);
    expect(check?.reason).not.toContain("was revoked");
  });

  it("says revocation was not checked without a CRL of the issuer, and names CRLs it cannot read", async () => {
    const chain = await chainedBundle();
    // A CRL of an unrelated CA is not the leaf's issuer's: revocation still unchecked.
    const other = await makeCa("C=SE, O=Elsewhere, CN=Another CA", null);
    const { check } = chain.verify({
      crls: [await makeCrl(other, [{ serial: "1001", at: "2026-09-01T00:00:00Z" }])],
    });
    expect(check?.ok).toBe(true);
    expect(check?.reason).toContain(
      `revocation not checked for ${LEAF} and ${INTERMEDIATE}: no CRL of its issuer given`,
    );
    const junk = chain.verify({ crls: [new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01])] }).report;
    expect(junk.failures.map((f) => `${f.item}: ${f.reason}`)).toEqual([
      "CRLs: 1 of the CRLs you gave cannot be read",
    ]);
  });

  it("reads CRL files as PEM (one or more blocks) or DER", async () => {
    const root = await makeCa(ROOT, null);
    const crl = await makeCrl(root, [{ serial: "0a0b", at: "2026-01-02T03:04:05Z" }]);
    const pem = x509.PemConverter.encode(crl, "X509 CRL");
    const der = crlDers(new TextEncoder().encode(`${pem}\n${pem}`));
    expect(der).toEqual([crl, crl]);
    expect(crlDers(crl)).toEqual([crl]);
    const [read] = readCrls(der).crls;
    expect(read?.revoked).toEqual(new Map([["0a0b", new Date("2026-01-02T03:04:05Z")]]));
  });
});
