// What the report.pdf route asks the HSM about the keys (hsm-tokens.ts), through the server's own token set: its
// worker pool running the installed worker (built from these sources), on a real SoftHSM token. A never key made
// before the pool started (found by the pool's index pass), a key with CKA_SENSITIVE false made after it (found
// by the one search), and a reference no token holds.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeKeyOnToken } from "@/server/hsm/testing/key-on-token";
import { createTestToken, type TestToken } from "@/server/hsm/testing/test-token";
import { makeWeakKeyOnToken } from "@/server/hsm/testing/weak-key";
import { useTokenForServer } from "@/server/operations/executor/testing/fixtures";
import { AUDIT_KEY_REF, auditKey } from "@/server/audit/checkpoint-key";
import { hsmKeyAttestations } from "./hsm-tokens";
import { flagProblems } from "./key-flags";

let token: TestToken;
let server: ReturnType<typeof useTokenForServer>;
beforeAll(() => {
  token = createTestToken("kw-report-route-flags");
  server = useTokenForServer(token);
});
afterAll(async () => {
  await server.close();
  token.cleanup();
});

describe("hsmKeyAttestations", () => {
  it("answers per key through the server's pool: flags, or 'not on this token'", async () => {
    const never = await makeKeyOnToken(token, { curve: "secp256k1", label: "never" });
    const first = await hsmKeyAttestations([never.ref]);
    expect(first.error).toBeNull();
    expect(first.tokens.map((t) => [t.label, t.note])).toEqual([[token.label, null]]);
    expect(first.tokens[0]?.vendorAttestation).toMatch(/^none: SoftHSM/);
    expect(first.keys.get(never.ref)).toEqual([
      {
        state: "holds",
        flags: {
          local: true,
          sensitive: true,
          alwaysSensitive: true,
          extractable: false,
          neverExtractable: true,
          wrapWithTrusted: false,
        },
      },
    ]);
    const weak = await makeWeakKeyOnToken(token, { curve: "p256", label: "weak", sensitive: false });
    const absent = randomBytes(16).toString("hex");
    const answer = await hsmKeyAttestations([never.ref, weak.ref, absent]);
    expect(answer.keys.get(weak.ref)?.[0]).toMatchObject({
      state: "holds",
      flags: { sensitive: false, alwaysSensitive: false, local: true },
    });
    expect(answer.keys.get(absent)).toEqual([{ state: "missing", note: "not on this token" }]);
  });

  it("the audit key the checkpointer makes answers as a never-exportable key should (status page, report)", async () => {
    expect((await auditKey("kw-report.local/audit")).ref).toBe(AUDIT_KEY_REF);
    const [answer] = (await hsmKeyAttestations([AUDIT_KEY_REF])).keys.get(AUDIT_KEY_REF) ?? [];
    if (answer?.state !== "holds") throw new Error(`the audit key: ${JSON.stringify(answer)}`);
    expect(answer.flags).toMatchObject({ local: true, alwaysSensitive: true, neverExtractable: true });
    expect(flagProblems(answer.flags, "never")).toEqual([]);
  });
});
