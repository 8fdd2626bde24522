// The audit key in the period report (period.ts), on PGlite and PostgreSQL: once a checkpoint exists, the report
// carries what each token answers for the audit key's flags beside the checkpoint, and a token that says the
// audit key was ever extractable (or holds it nowhere) is an anomaly like any custody key's; before the first
// checkpoint the key need not exist and nothing is said of it. The tokens' answers are given (AttestKeys); the
// real HSM's answer for the checkpointer's key is hsm-tokens.integration.test.ts's.
import { describe, expect, it } from "vitest";
import { auditCheckpoints } from "@/db/schema";
import { AUDIT_KEY_REF } from "@/server/audit/checkpoint-key";
import type { KeyAttestations, KeyFlags } from "@/server/hsm";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";
import { type AttestKeys, periodReport } from "./period";

const NOW = new Date();
const PERIOD = { from: new Date(NOW.getTime() - 3_600_000), to: new Date(NOW.getTime() + 3_600_000) };
const NEVER: KeyFlags = {
  local: true,
  sensitive: true,
  alwaysSensitive: true,
  extractable: false,
  neverExtractable: true,
  wrapWithTrusted: false,
};

/** A primary that answers `flags` for the audit key, and a replica that holds it not. */
const answering =
  (flags: KeyFlags | null): AttestKeys =>
  async (refs): Promise<KeyAttestations> => ({
    checkedAt: NOW,
    tokens: ["primary", "replica"].map((label) => ({
      label,
      role: label === "primary" ? "primary" : "replica",
      serial: `${label}-1`,
      manufacturer: null,
      model: null,
      note: null,
      vendorAttestation: "none: SoftHSM offers none",
    })) as KeyAttestations["tokens"],
    keys: new Map(
      refs.map((ref) => [
        ref,
        [
          ref === AUDIT_KEY_REF && flags !== null
            ? { state: "holds" as const, flags }
            : { state: "missing" as const, note: "not on this token" },
          { state: "missing" as const, note: "not on this token" },
        ],
      ]),
    ),
    error: null,
  });

describe.each(testEngines())("the audit key in the period report on %s", (engine) => {
  const db = useTestDatabase(engine);

  it("says nothing of the audit key before the first checkpoint", async () => {
    const report = await periodReport(db(), PERIOD, NOW, null, answering(null));
    expect(report.checkpoint).toBeNull();
    expect(report.keyAnomalies).toEqual([]);
  });

  it("shows each token's answer beside the checkpoint, and names a disagreement or an absence as an anomaly", async () => {
    await db()
      .insert(auditCheckpoints)
      .values({
        size: 1,
        rootHash: new Uint8Array(32),
        signedAt: NOW,
        note: "keyward.local/audit\n1\nAAAA\n\n— sig\n",
        verifierKey: "keyward.local/audit+00000000+AQ",
      });
    const good = await periodReport(db(), PERIOD, NOW, null, answering(NEVER));
    expect(good.checkpoint?.auditKeyHsm).toEqual([
      { token: "primary", serial: "primary-1", state: "holds", flags: NEVER, note: null },
      { token: "replica", serial: "replica-1", state: "missing", flags: null, note: "not on this token" },
    ]);
    expect(good.keyAnomalies).toEqual([]);

    const exported = await periodReport(
      db(),
      PERIOD,
      NOW,
      null,
      answering({ ...NEVER, neverExtractable: false }),
    );
    expect(exported.keyAnomalies).toEqual([
      {
        keyId: "audit key",
        label: "keyward audit checkpoint key",
        token: "primary (serial primary-1)",
        what: expect.stringContaining("not never-extractable (CKA_NEVER_EXTRACTABLE false"),
      },
    ]);
    const nowhere = await periodReport(db(), PERIOD, NOW, null, answering(null));
    expect(nowhere.keyAnomalies.map((a) => a.what)).toEqual(["no HSM token holds this key"]);
  });
});
