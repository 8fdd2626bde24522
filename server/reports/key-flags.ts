// Pure: what the period report makes of the HSM tokens' answers about one key (server/hsm keyAttestations: each
// token's CKA_LOCAL, CKA_SENSITIVE, CKA_ALWAYS_SENSITIVE, CKA_EXTRACTABLE, CKA_NEVER_EXTRACTABLE and
// CKA_WRAP_WITH_TRUSTED for the key's private half): the compact text the PDF prints per token, and the anomalies,
// where a token's answer disagrees with what Keyward recorded of the key.
//
// What is expected (server/hsm/keys/key-objects.ts makes every key sensitive; "never": CKA_EXTRACTABLE false;
// "wrapped-only": CKA_EXTRACTABLE and CKA_WRAP_WITH_TRUSTED true):
// - never-exportable: on every token holding it, local, always-sensitive and never-extractable, sensitive, not
//   extractable. It is never copied, so it is on the token that generated it only.
// - wrapped-only: sensitive, extractable only under a trusted key (CKA_WRAP_WITH_TRUSTED), so never
//   never-extractable. On the token that generated it (local) also always-sensitive. A copy unwrapped under the
//   backup KEK (a replica's clone, a restore) is not local, and not always-sensitive: PKCS#11 sets
//   CKA_ALWAYS_SENSITIVE false for every unwrapped key (SoftHSM 2.6.1 does, measured), whatever its history.
import type { KeyAttestations, KeyFlags, KeyFlagsOnToken } from "@/server/hsm";

export type { KeyFlags };

/** One token's answer about one key, as the report keeps it. */
export type KeyOnTokenRow = {
  token: string;
  serial: string | null;
  state: KeyFlagsOnToken["state"];
  flags: KeyFlags | null;
  /** Why there are no flags (not on this token, token unreachable, …). */
  note: string | null;
};

const mark = (value: boolean | null) => (value === null ? "?" : value ? "✓" : "✗");

/** e.g. "local ✓ always-sensitive ✓ never-extractable ✓ · sensitive ✓ extractable ✗". */
export function flagsText(flags: KeyFlags, recorded: string): string {
  const main = `local ${mark(flags.local)} always-sensitive ${mark(flags.alwaysSensitive)} never-extractable ${mark(flags.neverExtractable)}`;
  const context = `sensitive ${mark(flags.sensitive)} extractable ${mark(flags.extractable)}`;
  const trusted =
    recorded === "wrapped" || flags.extractable === true
      ? ` wrap-with-trusted ${mark(flags.wrapWithTrusted)}`
      : "";
  return `${main} · ${context}${trusted}`;
}

/** The token, with its serial when it answered. */
export function tokenName(row: Pick<KeyOnTokenRow, "token" | "serial">): string {
  return row.serial === null ? row.token : `${row.token} (serial ${row.serial})`;
}

/** One line per token for the key inventory: its flags, or why there are none. */
export function keyOnTokenLine(row: KeyOnTokenRow, recorded: string): string {
  const what = row.flags === null ? (row.note ?? row.state) : flagsText(row.flags, recorded);
  return `${tokenName(row)}: ${what}`;
}

const NAMES: Record<keyof KeyFlags, string> = {
  local: "not local (CKA_LOCAL false: not generated on this token)",
  sensitive: "not sensitive (CKA_SENSITIVE false: its private value can be read)",
  alwaysSensitive: "not always-sensitive (CKA_ALWAYS_SENSITIVE false: it was readable at some time)",
  extractable: "extractable (CKA_EXTRACTABLE true)",
  neverExtractable: "not never-extractable (CKA_NEVER_EXTRACTABLE false: it was extractable at some time)",
  wrapWithTrusted: "extractable under any key (CKA_WRAP_WITH_TRUSTED false)",
};

const unanswered = (name: keyof KeyFlags) => `${name} not answered`;

/** What in one token's flags disagrees with the key's record ("never" or "wrapped"); empty when nothing does. */
export function flagProblems(flags: KeyFlags, recorded: string): string[] {
  const problems: string[] = [];
  const want = (name: keyof KeyFlags, expected: boolean) => {
    const value = flags[name];
    if (value === null) problems.push(unanswered(name));
    else if (value !== expected) problems.push(NAMES[name]);
  };
  if (recorded === "never") {
    want("local", true);
    want("sensitive", true);
    want("alwaysSensitive", true);
    want("extractable", false);
    want("neverExtractable", true);
    return problems;
  }
  if (recorded === "wrapped") {
    want("sensitive", true);
    if (flags.extractable === false)
      problems.push(
        "not extractable (CKA_EXTRACTABLE false), though recorded wrapped-only: it cannot be backed up",
      );
    else if (flags.extractable === null) problems.push(unanswered("extractable"));
    else want("wrapWithTrusted", true);
    // Only the token that generated it can vouch it was always sensitive; an unwrapped copy never can.
    if (flags.local === true) want("alwaysSensitive", true);
    else if (flags.local === null) problems.push(unanswered("local"));
    return problems;
  }
  return [`recorded exposure '${recorded}' is not one Keyward knows`];
}

export type KeyAnomaly = { keyId: string; label: string; token: string; what: string };

/**
 * The anomalies of one key: every token whose flags disagree with the record, a destroyed key a token still
 * holds, and a live key that no token holds although every token answered.
 */
export function keyAnomalies(
  key: { id: string; label: string; state: string; exportable: string },
  rows: readonly KeyOnTokenRow[],
): KeyAnomaly[] {
  const out: KeyAnomaly[] = [];
  const recordedAs = key.exportable === "never" ? "never exportable" : "wrapped-only";
  for (const row of rows) {
    if (row.state === "unreadable") {
      out.push({
        keyId: key.id,
        label: key.label,
        token: tokenName(row),
        what: `unreadable: ${row.note ?? ""}`,
      });
      continue;
    }
    if (row.state !== "holds" || row.flags === null) continue;
    if (key.state === "destroyed") {
      out.push({
        keyId: key.id,
        label: key.label,
        token: tokenName(row),
        what: "recorded destroyed, but this token still holds it",
      });
      continue;
    }
    const problems = flagProblems(row.flags, key.exportable);
    if (problems.length > 0)
      out.push({
        keyId: key.id,
        label: key.label,
        token: tokenName(row),
        what: `recorded ${recordedAs}, but the token says: ${problems.join("; ")}`,
      });
  }
  const allAnswered = rows.length > 0 && rows.every((r) => r.state === "holds" || r.state === "missing");
  if (key.state !== "destroyed" && allAnswered && rows.every((r) => r.state === "missing"))
    out.push({ keyId: key.id, label: key.label, token: "every token", what: "no HSM token holds this key" });
  return out;
}

/** What the report says the flags prove, and what is expected of each kind of key. */
export const FLAGS_EXPLAINED = [
  "What each HSM token answers for the key's private half, read when this report was generated (not as of the period's end): CKA_LOCAL ✓ means the token generated the key itself rather than importing it; CKA_ALWAYS_SENSITIVE ✓ that its private value has been sensitive (never readable in plaintext through the HSM) ever since; CKA_NEVER_EXTRACTABLE ✓ that it has never been extractable, so it never left the token, not even wrapped. Together they are the HSM's own claim that the key was made there and never exposed. CKA_SENSITIVE and CKA_EXTRACTABLE are shown as they are now, with CKA_WRAP_WITH_TRUSTED for keys that may leave (only under a trusted key, the backup KEK); ? means the token did not answer that attribute.",
  "Expected: a never-exportable key has local, always-sensitive and never-extractable ✓ and extractable ✗, on the one token that made it (it is never copied, so other tokens do not hold it). A wrapped-only key is sensitive ✓ and extractable ✓ only with wrap-with-trusted ✓, so never-extractable ✗ (it leaves, wrapped, for backups and replicas); on the token that made it, local and always-sensitive ✓. A copy unwrapped on a replica or restored from a backup is local ✗ and always-sensitive ✗ (PKCS#11 never calls an unwrapped key always-sensitive): for its history before the import, the token it came from answers. Every other answer is listed under Anomalies.",
  "These are the HSM's answers through PKCS#11, not a proof signed by its maker. SoftHSM, the development HSM Keyward runs on here, offers no vendor key attestation, and its flags are the claims of software whose token files sit on the server's disk: they show what the HSM interface allowed, not what tamper-resistant hardware enforced. Real funds need a real HSM, whose vendor attestation (where it offers one) is the stronger proof.",
];

/** One key's answers from every token, as rows in the tokens' order; null when the HSM was not (or could not be) asked. */
export function keyRowsOnTokens(attested: KeyAttestations | null, ref: string): KeyOnTokenRow[] | null {
  if (attested === null || attested.error !== null) return null;
  const answers = attested.keys.get(ref) ?? [];
  return attested.tokens.map((t, i) => {
    const a = answers[i] ?? { state: "unreachable" as const, note: "token unreachable" };
    return {
      token: t.label,
      serial: t.serial,
      state: a.state,
      flags: a.state === "holds" ? a.flags : null,
      note: a.state === "holds" ? null : a.note,
    };
  });
}
