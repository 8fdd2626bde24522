// The report PDF renders names in any script the shipped fonts carry: the text `Łukasz ₿ ✓ Zoë 北京` comes
// back out of the file (read by testing/pdf-text.ts, which decodes the embedded fonts' ToUnicode maps, not by
// pdfkit), every font is embedded, and none of pdfkit's WinAnsi standard fonts is used for any text.
import { describe, expect, it } from "vitest";
import { fontRuns } from "./fonts";
import { reportPdfBytes } from "./pdf";
import type { PeriodReport } from "./period";
import { pdfText } from "./testing/pdf-text";

const NAME = "Łukasz ₿ ✓ Zoë 北京";
const T0 = new Date("2026-11-01T00:00:00.000Z");
const T1 = new Date("2026-12-01T00:00:00.000Z");

function report(): PeriodReport {
  const row = {
    seq: 7,
    at: T0,
    actor: `${NAME} (member:1)`,
    action: "member.updated",
    subject: "member:1",
    detail: '{"name":"Ærøskøbing Ünïcödé"}',
  };
  return {
    period: { from: T0, to: T1 },
    generatedAt: T1,
    summary: {
      events: 1,
      byAction: [{ action: "member.updated", count: 1 }],
      operations: 1,
      votes: 1,
      keysAtEnd: 1,
      keysCreated: 1,
      members: 1,
      anomalies: 0,
      keyAnomalies: 1,
    },
    checkpoint: {
      size: 7,
      signedAt: T1,
      verifierKey: "keyward.local/audit+abcd1234+AQID",
      note: "keyward.local/audit\n7\nroot=\n\n— keyward.local/audit sig\n",
      auditKeyHsm: [
        {
          token: "primary",
          serial: "0123456789",
          state: "holds",
          flags: {
            local: true,
            sensitive: true,
            alwaysSensitive: true,
            extractable: false,
            neverExtractable: true,
            wrapWithTrusted: false,
          },
          note: null,
        },
        { token: "replica", serial: "987", state: "missing", flags: null, note: "not on this token" },
      ],
    },
    hsmTokens: [
      {
        label: "primary",
        role: "primary",
        state: "up",
        serial: "0123456789",
        model: "SoftHSM project, SoftHSM v2",
      },
    ],
    hsmAttestation: {
      checkedAt: T1,
      tokens: [
        {
          label: "primary",
          serial: "0123456789",
          vendorAttestation: "none: SoftHSM offers none",
          note: null,
        },
        {
          label: "replica",
          serial: null,
          vendorAttestation: "none: SoftHSM offers none",
          note: "token unreachable",
        },
      ],
      error: null,
    },
    keys: [
      {
        id: "k1",
        label: "Cold wallet Łódź",
        curve: "secp256k1",
        state: "active",
        exportable: "never",
        exposure: "never exportable",
        createdAt: T0,
        stateChangedAt: T0,
        hsm: [
          {
            token: "primary",
            serial: "0123456789",
            state: "holds",
            flags: {
              local: true,
              sensitive: true,
              alwaysSensitive: true,
              extractable: false,
              neverExtractable: true,
              wrapWithTrusted: false,
            },
            note: null,
          },
          { token: "replica", serial: null, state: "unreachable", flags: null, note: "token unreachable" },
        ],
      },
    ],
    keyAnomalies: [
      {
        keyId: "k2",
        label: "Hot",
        token: "primary (serial 0123456789)",
        what: "recorded never exportable, but the token says: extractable (CKA_EXTRACTABLE true)",
      },
    ],
    keyEvents: { rows: [row], total: 1 },
    operations: [
      {
        id: "op-1",
        kind: "key.create",
        state: "executed",
        initiator: NAME,
        policyVersion: 1,
        createdAt: T0,
        decidedAt: T0,
        executedAt: T0,
        votes: [
          {
            voter: "Zoë 北京",
            voterId: "m2",
            token: "YubiKey ✓",
            tokenId: "cred",
            decision: "approve",
            castAt: T0,
          },
        ],
      },
    ],
    policies: [
      { version: 1, digest: "ab".repeat(32), createdAt: T0, createdBy: "setup (seed)", inForceUntil: null },
    ],
    membership: { rows: [row], total: 1 },
    access: [
      {
        id: "m1",
        name: NAME,
        roles: ["admin"],
        groups: [],
        status: "active",
        lastSignIn: T0,
        tokens: [
          { id: "credential-id-1", nickname: "Key", createdAt: T0, lastUsedAt: null, revokedAt: null },
        ],
      },
    ],
    anomalies: { rows: [], total: 0 },
    freezes: [],
  };
}

describe("the report PDF", () => {
  it("keeps Łukasz ₿ ✓ Zoë 北京 extractable, every font embedded, no standard font", async () => {
    const pdf = await reportPdfBytes(report());
    expect(pdf.subarray(0, 5).toString("latin1")).toBe("%PDF-");
    const { text, fonts } = pdfText(pdf);
    expect(text).toContain(NAME);
    expect(text).toContain("Cold wallet Łódź");
    expect(text).toContain("YubiKey ✓");
    expect(text).toContain("Ærøskøbing Ünïcödé");
    expect(text).not.toContain("\uFFFD");
    expect(text).toContain("SoftHSM project, SoftHSM v2");
    // ₿ is set in Noto Sans, 北京 in Noto Sans SC, Ł and ✓ in DejaVu: all three embedded (subsets).
    const names = fonts.map((f) => f.baseFont.replace(/^[A-Z]{6}\+/, ""));
    expect(names).toEqual(
      expect.arrayContaining(["DejaVuSans", "DejaVuSans-Bold", "NotoSans-Regular", "NotoSansSC-Regular"]),
    );
    expect(fonts.every((f) => f.embedded)).toBe(true);
    expect(names.some((n) => /Helvetica|Times|Courier/.test(n))).toBe(false);
  });

  it("prints what each HSM token attests per key, what the flags prove, the vendor attestation and the disagreements", async () => {
    const { text } = pdfText(await reportPdfBytes(report()));
    const flat = text.replace(/\s+/g, " ");
    expect(flat).toContain(
      "primary (serial 0123456789): local ✓ always-sensitive ✓ never-extractable ✓ · sensitive ✓ extractable ✗",
    );
    expect(flat).toContain("replica: token unreachable");
    // The audit key's own flags, in the checkpoint section: made in the primary, never on the replica.
    expect(flat).toContain(
      "What the HSM tokens attest of the audit key (now): primary (serial 0123456789): local ✓ always-sensitive ✓ never-extractable ✓",
    );
    expect(flat).toContain("replica (serial 987): not on this token");
    expect(flat).toContain("CKA_NEVER_EXTRACTABLE ✓ that it has never been extractable");
    expect(flat).toContain("primary (serial 0123456789): none: SoftHSM offers none");
    expect(flat).toContain(
      "recorded never exportable, but the token says: extractable (CKA_EXTRACTABLE true)",
    );
    expect(flat).not.toContain("not read into this report");
    expect(flat).not.toContain("\uFFFD");
  });

  it("says when the HSM was not asked about the keys", async () => {
    const { text } = pdfText(await reportPdfBytes({ ...report(), hsmAttestation: null, keyAnomalies: [] }));
    const flat = text.replace(/\s+/g, " ");
    expect(flat).toContain("The HSM tokens were not asked about the keys");
  });

  it("cuts text into runs, each in the first font that has its characters", () => {
    expect(fontRuns(NAME)).toEqual([
      { font: "dejavu", text: "Łukasz " },
      { font: "noto", text: "₿ " },
      { font: "dejavu", text: "✓ Zoë " },
      { font: "noto-sc", text: "北京" },
    ]);
  });
});
