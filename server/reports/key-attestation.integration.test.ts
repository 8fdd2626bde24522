// The period report's key inventory with what the HSM itself attests, on PGlite and PostgreSQL with real SoftHSM
// tokens (a primary and a replica sharing the backup KEK): a never-exportable key and a wrapped-only key made by
// the token set (the latter cloned into the replica) show each token's CKA_LOCAL, CKA_ALWAYS_SENSITIVE and
// CKA_NEVER_EXTRACTABLE (with CKA_SENSITIVE, CKA_EXTRACTABLE) and raise no anomaly; a wrapped-only key recorded
// "never", and a key made behind Keyward's back with CKA_SENSITIVE false recorded "never", are listed as
// anomalies; a destroyed key no token holds is none. The auditor's PDF download says all of it.
import { randomBytes, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keys } from "@/db/schema";
import type { SessionMember } from "@/server/auth/sessions";
import { keyAttestations } from "@/server/hsm";
import { closeDirectTokenSet, directTokenSet } from "@/server/hsm/testing/direct-token-set";
import { createReplicatedTestTokens } from "@/server/hsm/testing/replicated-tokens";
import type { TestToken } from "@/server/hsm/testing/test-token";
import { makeWeakKeyOnToken } from "@/server/hsm/testing/weak-key";
import { firstAdmin, invitedMember, type Person } from "@/server/testing/identity-fixtures";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";
import { reportResponse } from "./download";
import { type AttestKeys, periodReport } from "./period";
import { pdfText } from "./testing/pdf-text";

const NOW = new Date();
const FROM = new Date(NOW.getTime() - 3_600_000);
const TO = new Date(NOW.getTime() + 3_600_000);

let primary: TestToken;
let replica: TestToken;
let set: ReturnType<typeof directTokenSet>;
let attest: AttestKeys;
// The HSM side is made once; each engine records the same keys.
const made: {
  never: string;
  wrapped: string;
  wrappedAsNever: string;
  weak: string;
  pubs: Map<string, string>;
} = {
  never: "",
  wrapped: "",
  wrappedAsNever: "",
  weak: "",
  pubs: new Map(),
};

beforeAll(async () => {
  [primary, replica] = await createReplicatedTestTokens("kw-report-flags");
  set = directTokenSet([primary, replica]);
  attest = (refs) => keyAttestations(refs, { set });
  const never = await set.createKey({ curve: "p256", label: "never", exportable: "never" });
  const wrapped = await set.createKey({ curve: "secp256k1", label: "wrapped", exportable: "wrapped-only" });
  expect(wrapped.replicated).toEqual([replica.label]);
  const wrappedAsNever = await set.createKey({ curve: "p256", label: "odd", exportable: "wrapped-only" });
  const weak = await makeWeakKeyOnToken(primary, { curve: "p256", label: "weak", sensitive: false });
  Object.assign(made, {
    never: never.ref,
    wrapped: wrapped.ref,
    wrappedAsNever: wrappedAsNever.ref,
    weak: weak.ref,
  });
  for (const k of [never, wrapped, wrappedAsNever]) made.pubs.set(k.ref, k.publicKey.toString("hex"));
});

afterAll(async () => {
  await closeDirectTokenSet(set);
  primary.cleanup();
});

const sessionOf = (person: Person, roles: string[]): SessionMember => ({
  sessionId: randomUUID(),
  tokenId: "credential",
  member: { id: person.acting.id, name: "x", roles, groups: [] },
});

describe.each(testEngines())("the report's HSM attestation on %s", (engine) => {
  const db = useTestDatabase(engine);
  let auditor: Person;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    const admin = await firstAdmin(db(), { now: NOW, name: "Admin" });
    auditor = await invitedMember(db(), admin.acting, { now: NOW, roles: ["auditor"], name: "Audrey" });
    const rows = [
      { name: "never", label: "Cold never", curve: "p256", hsmRef: made.never, exportable: "never" as const },
      {
        name: "wrapped",
        label: "Hot wrapped",
        curve: "secp256k1",
        hsmRef: made.wrapped,
        exportable: "wrapped" as const,
      },
      {
        name: "odd",
        label: "Odd one",
        curve: "p256",
        hsmRef: made.wrappedAsNever,
        exportable: "never" as const,
      },
      { name: "weak", label: "Weak one", curve: "p256", hsmRef: made.weak, exportable: "never" as const },
    ];
    for (const [i, r] of rows.entries()) {
      const [row] = await db()
        .insert(keys)
        .values({
          label: r.label,
          curve: r.curve,
          state: "active",
          hsmRef: r.hsmRef,
          publicKey: made.pubs.get(r.hsmRef) ?? "04",
          exportable: r.exportable,
          createdAt: new Date(NOW.getTime() + i),
        })
        .returning({ id: keys.id });
      ids[r.name] = row?.id ?? "";
    }
    const [gone] = await db()
      .insert(keys)
      .values({
        label: "Gone",
        curve: "p256",
        state: "destroyed",
        hsmRef: randomBytes(16).toString("hex"),
        publicKey: "04",
        exportable: "never",
        createdAt: new Date(NOW.getTime() + 10),
      })
      .returning({ id: keys.id });
    ids.gone = gone?.id ?? "";
  });

  it("each key's flags per token; disagreements with the record are anomalies, expected answers are not", async () => {
    const report = await periodReport(db(), { from: FROM, to: TO }, NOW, null, attest);
    const byId = new Map(report.keys.map((k) => [k.id, k]));
    const serials = report.hsmAttestation?.tokens.map((t) => t.serial) ?? [];
    expect(report.hsmAttestation?.tokens.map((t) => t.label)).toEqual([primary.label, replica.label]);
    expect(serials.every((s) => typeof s === "string" && s.length > 0)).toBe(true);
    expect(report.hsmAttestation?.tokens[0]?.vendorAttestation).toMatch(
      /^none: SoftHSM offers no vendor key attestation/,
    );

    expect(byId.get(ids.never ?? "")?.hsm).toEqual([
      {
        token: primary.label,
        serial: serials[0],
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
      { token: replica.label, serial: serials[1], state: "missing", flags: null, note: "not on this token" },
    ]);
    expect(byId.get(ids.wrapped ?? "")?.hsm?.map((r) => r.flags)).toEqual([
      {
        local: true,
        sensitive: true,
        alwaysSensitive: true,
        extractable: true,
        neverExtractable: false,
        wrapWithTrusted: true,
      },
      {
        local: false,
        sensitive: true,
        alwaysSensitive: false,
        extractable: true,
        neverExtractable: false,
        wrapWithTrusted: true,
      },
    ]);
    expect(byId.get(ids.gone ?? "")?.hsm?.map((r) => r.state)).toEqual(["missing", "missing"]);

    const anomalies = report.keyAnomalies.map((a) => [a.keyId, a.token, a.what]);
    expect(anomalies).toEqual([
      [
        ids.odd,
        `${primary.label} (serial ${serials[0]})`,
        "recorded never exportable, but the token says: extractable (CKA_EXTRACTABLE true); not never-extractable (CKA_NEVER_EXTRACTABLE false: it was extractable at some time)",
      ],
      // Its clone on the replica: not local and not always-sensitive either, as every unwrapped copy.
      [
        ids.odd,
        `${replica.label} (serial ${serials[1]})`,
        expect.stringMatching(
          /^recorded never exportable, but the token says: not local .*; extractable .*; not never-extractable/,
        ),
      ],
      [
        ids.weak,
        `${primary.label} (serial ${serials[0]})`,
        "recorded never exportable, but the token says: not sensitive (CKA_SENSITIVE false: its private value can be read); not always-sensitive (CKA_ALWAYS_SENSITIVE false: it was readable at some time)",
      ],
    ]);
    expect(report.summary.keyAnomalies).toBe(2);
  });

  it("the auditor's PDF prints each token's flags, what they prove, SoftHSM's missing vendor attestation and the anomalies", async () => {
    const response = await reportResponse(
      new Request(`http://localhost/reports/report.pdf?from=${FROM.toISOString()}&to=${TO.toISOString()}`),
      { db: db(), session: sessionOf(auditor, ["auditor"]), kind: "pdf", now: NOW, hsmKeys: attest },
    );
    expect(response.status).toBe(200);
    const { text } = pdfText(Buffer.from(await response.arrayBuffer()));
    const flat = text.replace(/\s+/g, " ");
    expect(flat).toContain(`${primary.label} (serial`);
    expect(flat).toContain("local ✓ always-sensitive ✓ never-extractable ✓ · sensitive ✓ extractable ✗");
    expect(flat).toContain(
      "local ✗ always-sensitive ✗ never-extractable ✗ · sensitive ✓ extractable ✓ wrap-with-trusted ✓",
    );
    expect(flat).toContain(`${replica.label} (serial`);
    expect(flat).toContain("not on this token");
    expect(flat).toContain("SoftHSM offers no vendor key attestation");
    expect(flat).toContain("a development HSM");
    expect(flat).toContain("recorded never exportable, but the token says: not sensitive");
    expect(flat).not.toContain("not read into this report");
  });
});
