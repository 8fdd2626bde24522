// A voter token's registration as the audit log recorded it: the token.registered or token.added event that
// introduced the token must name its credential and owner, and the digests it records must be those of the
// credential key and registration the bundle carries — so neither can be swapped, forged or blanked in the
// database (or the file) once the token was registered. The events come here already proven (their own
// inclusion proof, or the period's range proof, checked by verify.ts); this only compares and says what is not
// bound. Pure: no Node built-ins, no clock. Never throws.
import { sha256 } from "@noble/hashes/sha2";
import { bytesToHex } from "@noble/hashes/utils";
import type { BundleVote } from "./bundle";
import type { RegisteredEvent } from "./certificate-status";
import { base64urlDecode } from "./vote-check";

/** The audit events that introduce a token (server/audit/events.ts). */
export const REGISTRATION_ACTIONS: readonly string[] = ["token.registered", "token.added"];

/** One of the token's registration events in the bundle, and why it is not proven into the log (empty: it is). */
export type LoggedRegistration = {
  seq: number;
  at: string;
  action: string;
  data: Record<string, unknown>;
  unproven: string[];
  /** How it is proven, for the report ("proved to checkpoint 40", "an event of the period"). */
  proof: string;
};

export type Binding = {
  /** What fails the token's registration check. */
  problems: string[];
  /** What was proven, or not bound, said in words. */
  notes: string[];
  /** The proven events' times: the registration time the certificate dates are judged at. */
  registered: RegisteredEvent[];
};

const digestOf = (base64url: string | undefined) => {
  const bytes = base64url === undefined ? null : base64urlDecode(base64url);
  return bytes === null ? null : bytesToHex(sha256(bytes));
};

/**
 * The credential's key and registration against the token's registration events. `carriesEvents`: the bundle
 * has the registrationEvents field (exported since it exists), so a token without one is said as such.
 */
export function registrationBinding(
  credential: BundleVote["credential"],
  logged: readonly LoggedRegistration[],
  o: { carriesEvents: boolean },
): Binding {
  const problems: string[] = [];
  const notes: string[] = [];
  const registered = new Map<number, RegisteredEvent>();
  const registration = credential.registration ?? null;
  const key = digestOf(credential.publicKey);
  const attestationObject = digestOf(registration?.attestationObject);
  const clientData = digestOf(registration?.clientDataJSON);

  for (const e of logged) {
    const which = `event ${e.seq}, ${e.action}`;
    if (e.unproven.length > 0) {
      problems.push(
        `its registration event ${e.seq} (${e.action}) is not proven by the log: ${e.unproven.join("; ")}`,
      );
      continue;
    }
    if (registered.has(e.seq)) continue;
    registered.set(e.seq, { seq: e.seq, at: e.at });
    const d = e.data;
    const before = problems.length;
    if (d.memberId !== credential.memberId)
      problems.push(
        `its registration event ${e.seq} (${e.action}) records it for member ${String(d.memberId)}, not ${credential.memberId}`,
      );
    if (d.publicKeyDigest === undefined) {
      notes.push(
        `its registration event (${which}) was logged before Keyward recorded key and registration digests: its key and registration are not bound to the log`,
      );
      continue;
    }
    if (d.publicKeyDigest !== key)
      problems.push(
        `the credential key in the bundle is not the one the log recorded at registration (${which})`,
      );
    const recorded = d.attestationObjectDigest !== undefined || d.clientDataDigest !== undefined;
    if (registration === null && recorded)
      problems.push(`the bundle gives no registration, but the log recorded one at registration (${which})`);
    else if (
      registration !== null &&
      (d.attestationObjectDigest !== attestationObject || d.clientDataDigest !== clientData)
    )
      problems.push(
        `the registration in the bundle is not the one the log recorded at registration (${which}: ${
          d.attestationObjectDigest !== attestationObject ? "its attestationObject" : "its clientDataJSON"
        } differs)`,
      );
    if (problems.length === before)
      notes.push(
        `${registration === null ? "its key is the one" : "its key and registration are the ones"} the log recorded at its registration (${which}, ${e.proof})`,
      );
  }
  if (logged.length === 0)
    notes.push(
      o.carriesEvents
        ? "the bundle holds no registration event (token.registered or token.added) for this token: its key and registration are not bound to the log, only the bundle's word"
        : "the bundle was exported before it carried registration events, and its period holds none for this token: its key and registration are not bound to the log, only the bundle's word",
    );
  return { problems, notes, registered: [...registered.values()] };
}
