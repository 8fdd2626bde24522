// Whether a token's attestation chain was in force when the token was registered (issue 15): each certificate
// valid (notBefore ≤ t ≤ notAfter) at the registration time the audit log records — never the verifier's clock,
// since evidence is read years later, when the certificates may have expired — and none revoked by then in a CRL
// the reader gave. Offline by design: no CRL is fetched, so without one revocation is said to be unchecked.
// Certificates and CRLs are read with @peculiar/asn1-x509; a CRL's signature is checked by signatures.ts
// (synchronous, as verifyBundle is) and a CRL whose signature does not verify is never used.
// Pure: no Node built-ins, no clock. Never throws.
import { AsnConvert } from "@peculiar/asn1-schema";
import { Certificate as AsnCertificate, CertificateList } from "@peculiar/asn1-x509";
import { base64Decode } from "../log/note";
import { type Certificate, type Signed, sameBytes, signedParts, signedWithKeyOf } from "./signatures";

/** A CRL the reader gave, as read: what it says and the signed bytes its issuer's key must verify. */
export type Crl = {
  /** The issuer Name, DER as the library writes it (compared with a certificate's subject written the same way). */
  issuerName: Uint8Array;
  thisUpdate: Date;
  /** Revocation time by serial number (hex, no leading zeros). */
  revoked: Map<string, Date>;
  signed: Signed;
};

/** When the log says the token was registered: its proven token.registered or token.added events (normally one). */
export type RegisteredEvent = { seq: number; at: string };

const hex = (b: ArrayBuffer | Uint8Array) => {
  const text = Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, "0")).join("");
  return text.replace(/^(00)+(?=.)/, "");
};
const iso = (d: Date) => d.toISOString().replace(".000Z", "Z");
const nameDer = (name: AsnCertificate["tbsCertificate"]["subject"]) =>
  new Uint8Array(AsnConvert.serialize(name));

/**
 * The DER CRLs in a file the reader gives: its PEM "X509 CRL" blocks, or the file itself when it holds none
 * (DER). The CLI and the /verify page read CRL files through this.
 */
export function crlDers(file: Uint8Array): Uint8Array[] {
  const text = new TextDecoder().decode(file);
  const blocks = text.match(/-----BEGIN X509 CRL-----[A-Za-z0-9+/=\s]+-----END X509 CRL-----/g);
  if (blocks === null) return [file];
  return blocks.flatMap((b) => {
    const der = base64Decode(b.replace(/-----[A-Z0-9 ]+-----|\s/g, ""));
    return der === null ? [] : [der];
  });
}

/** CRLs the reader gave (DER): unreadable ones are left out and counted. */
export function readCrls(ders: readonly Uint8Array[]): { crls: Crl[]; unreadable: number } {
  const crls: Crl[] = [];
  let unreadable = 0;
  for (const der of ders) {
    try {
      const signed = signedParts(der);
      const list = AsnConvert.parse(der, CertificateList).tbsCertList;
      if (signed === null) throw new Error("not a SIGNED structure");
      const revoked = new Map<string, Date>();
      for (const r of list.revokedCertificates ?? []) {
        const serial = hex(r.userCertificate);
        const at = r.revocationDate.getTime();
        const earlier = revoked.get(serial);
        if (earlier === undefined || at < earlier) revoked.set(serial, at);
      }
      crls.push({ issuerName: nameDer(list.issuer), thisUpdate: list.thisUpdate.getTime(), revoked, signed });
    } catch {
      unreadable++;
    }
  }
  return { crls, unreadable };
}

type Dates = { notBefore: Date; notAfter: Date; serial: string; subjectName: Uint8Array };

function datesOf(cert: Certificate): Dates | null {
  try {
    const tbs = AsnConvert.parse(cert.der, AsnCertificate).tbsCertificate;
    return {
      notBefore: tbs.validity.notBefore.getTime(),
      notAfter: tbs.validity.notAfter.getTime(),
      serial: hex(tbs.serialNumber),
      subjectName: nameDer(tbs.subject),
    };
  } catch {
    return null;
  }
}

/** The registration time from the token's registration events (`at` null: not known, `text` says why). */
function registrationTime(events: readonly RegisteredEvent[]): { at: Date | null; text: string } {
  const [only, ...more] = events;
  if (only === undefined)
    return { at: null, text: "no registration event of this token proven in the bundle" };
  if (more.length > 0)
    return {
      at: null,
      text: `the log records it registered ${events.length} times (events ${events.map((e) => e.seq).join(", ")})`,
    };
  const at = new Date(only.at);
  if (Number.isNaN(at.getTime()))
    return { at: null, text: `its registration event ${only.seq} has no readable time` };
  return { at, text: `${iso(at)}, event ${only.seq}` };
}

/**
 * The dates and revocation of `path` (the x5c leaf first, then each issuer, up to the pinned root when the chain
 * reached one) at the token's registration. `problems` fail the registration; `notes` say what was and was not
 * checked (revoked after the registration is a warning note: the registration stays proven as of its time).
 */
export function chainStatus(
  path: readonly Certificate[],
  registered: readonly RegisteredEvent[],
  crls: readonly Crl[],
): { problems: string[]; notes: string[] } {
  const problems: string[] = [];
  const notes: string[] = [];
  const time = registrationTime(registered);
  const at = time.at;
  const certs = path.map((cert) => ({ cert, dates: datesOf(cert) }));

  // Dates: at the registration as the log records it.
  for (const { cert, dates } of certs) {
    if (dates === null) problems.push(`the validity of its certificate ${cert.subject} cannot be read`);
    else if (at !== null && (at < dates.notBefore || at > dates.notAfter))
      problems.push(
        `its certificate ${cert.subject} was not valid when the token was registered (${time.text}): valid ${iso(dates.notBefore)} to ${iso(dates.notAfter)}`,
      );
  }
  if (at === null) notes.push(`registration time unknown (${time.text}): certificate dates not checked`);
  else if (problems.length === 0)
    notes.push(`each of its ${path.length} certificates was valid at its registration (${time.text})`);

  // Revocation of each certificate by its issuer, the next one in the path; the last is a root (self-issued)
  // or a certificate whose issuer the chain does not reach.
  const unchecked: string[] = [];
  for (const [i, { cert, dates }] of certs.entries()) {
    const issuer = certs[i + 1];
    if (issuer === undefined) {
      if (!sameBytes(cert.issuerDer, cert.subjectDer)) unchecked.push(cert.subject);
      continue;
    }
    if (dates === null || issuer.dates === null) continue;
    const issuerName = issuer.dates.subjectName;
    const usable = crls.filter((crl) => {
      if (!sameBytes(crl.issuerName, issuerName)) return false;
      if (signedWithKeyOf(issuer.cert, crl.signed)) return true;
      notes.push(
        `a CRL naming ${issuer.cert.subject} as its issuer (of ${iso(crl.thisUpdate)}) refused: CRL signature does not verify, not used`,
      );
      return false;
    });
    if (usable.length === 0) {
      unchecked.push(cert.subject);
      continue;
    }
    const revokedAt = usable
      .flatMap((crl) => crl.revoked.get(dates.serial) ?? [])
      .reduce<Date | undefined>((a, b) => (a === undefined || b < a ? b : a), undefined);
    const newest = usable.reduce((a, b) => (b.thisUpdate > a.thisUpdate ? b : a));
    const which = `its certificate ${cert.subject} (serial ${dates.serial})`;
    const per = `per ${issuer.cert.subject}'s CRL of ${iso(newest.thisUpdate)}`;
    if (revokedAt === undefined)
      notes.push(
        `${cert.subject} not revoked ${per}${
          at !== null && newest.thisUpdate < at
            ? " (issued before the registration: later revocations not known)"
            : ""
        }`,
      );
    else if (at === null)
      problems.push(
        `${which} was revoked at ${iso(revokedAt)} (${per}) and the registration time is unknown: the registration cannot be shown to precede the revocation`,
      );
    else if (revokedAt <= at)
      problems.push(
        `${which} was revoked at ${iso(revokedAt)}, before the token was registered (${time.text}), ${per}`,
      );
    else
      notes.push(
        `warning: ${which} was revoked at ${iso(revokedAt)}, after the token was registered (${time.text}), ${per}: the registration stays proven as of its time`,
      );
  }
  if (unchecked.length > 0)
    notes.push(
      `revocation not checked for ${unchecked.join(" and ")}: no CRL of its issuer given (the verifier fetches nothing, by design: give the issuer's CRL)`,
    );
  return { problems, notes };
}
