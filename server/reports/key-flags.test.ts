// The pure part of the report's HSM attestation (key-flags.ts), fed answers no real token was made to give: which
// disagreements between a token's flags and the key's record are anomalies, and which answers are expected.
import { describe, expect, it } from "vitest";
import { flagProblems, flagsText, type KeyFlags, type KeyOnTokenRow, keyAnomalies } from "./key-flags";

const NEVER: KeyFlags = {
  local: true,
  sensitive: true,
  alwaysSensitive: true,
  extractable: false,
  neverExtractable: true,
  wrapWithTrusted: false,
};
const WRAPPED: KeyFlags = { ...NEVER, extractable: true, neverExtractable: false, wrapWithTrusted: true };
const CLONE: KeyFlags = { ...WRAPPED, local: false, alwaysSensitive: false };

const holds = (flags: KeyFlags, token = "a"): KeyOnTokenRow => ({
  token,
  serial: "s1",
  state: "holds",
  flags,
  note: null,
});
const missing = (token = "b"): KeyOnTokenRow => ({
  token,
  serial: "s2",
  state: "missing",
  flags: null,
  note: "not on this token",
});
const key = (exportable: string, state = "active") => ({ id: "k", label: "L", state, exportable });

describe("flagProblems", () => {
  it("a never-exportable key as Keyward makes it has none", () => {
    expect(flagProblems(NEVER, "never")).toEqual([]);
  });

  it("a never-exportable key that is extractable, not local, not always-sensitive: each one named", () => {
    expect(flagProblems({ ...NEVER, extractable: true, neverExtractable: false }, "never")).toEqual([
      "extractable (CKA_EXTRACTABLE true)",
      "not never-extractable (CKA_NEVER_EXTRACTABLE false: it was extractable at some time)",
    ]);
    expect(flagProblems({ ...NEVER, local: false }, "never")).toEqual([
      "not local (CKA_LOCAL false: not generated on this token)",
    ]);
    expect(flagProblems({ ...NEVER, alwaysSensitive: false }, "never")).toEqual([
      "not always-sensitive (CKA_ALWAYS_SENSITIVE false: it was readable at some time)",
    ]);
    expect(flagProblems({ ...NEVER, neverExtractable: null }, "never")).toEqual([
      "neverExtractable not answered",
    ]);
  });

  it("a wrapped-only key: always-sensitive, not never-extractable, where it was made; an unwrapped copy is neither local nor always-sensitive", () => {
    expect(flagProblems(WRAPPED, "wrapped")).toEqual([]);
    expect(flagProblems(CLONE, "wrapped")).toEqual([]);
    // Made on this token, yet once readable: an anomaly.
    expect(flagProblems({ ...WRAPPED, alwaysSensitive: false }, "wrapped")).toEqual([
      "not always-sensitive (CKA_ALWAYS_SENSITIVE false: it was readable at some time)",
    ]);
    expect(flagProblems({ ...CLONE, sensitive: false }, "wrapped")).toEqual([
      "not sensitive (CKA_SENSITIVE false: its private value can be read)",
    ]);
    expect(flagProblems({ ...WRAPPED, wrapWithTrusted: false }, "wrapped")).toEqual([
      "extractable under any key (CKA_WRAP_WITH_TRUSTED false)",
    ]);
    expect(flagProblems(NEVER, "wrapped")[0]).toMatch(/^not extractable .* cannot be backed up/);
  });
});

describe("keyAnomalies", () => {
  it("lists each token that disagrees, by label and serial", () => {
    const rows = [holds({ ...NEVER, extractable: true, neverExtractable: false }), missing()];
    expect(keyAnomalies(key("never"), rows)).toEqual([
      {
        keyId: "k",
        label: "L",
        token: "a (serial s1)",
        what: "recorded never exportable, but the token says: extractable (CKA_EXTRACTABLE true); not never-extractable (CKA_NEVER_EXTRACTABLE false: it was extractable at some time)",
      },
    ]);
  });

  it("expected answers are none: a never key on its token, a wrapped key and its clone", () => {
    expect(keyAnomalies(key("never"), [holds(NEVER), missing()])).toEqual([]);
    expect(keyAnomalies(key("wrapped"), [holds(WRAPPED), holds(CLONE, "b")])).toEqual([]);
  });

  it("a destroyed key a token still holds, and a live key no token holds, are anomalies; an unreachable token is not", () => {
    expect(keyAnomalies(key("never", "destroyed"), [holds(NEVER), missing()])[0]?.what).toBe(
      "recorded destroyed, but this token still holds it",
    );
    expect(keyAnomalies(key("never", "destroyed"), [missing("a"), missing()])).toEqual([]);
    expect(keyAnomalies(key("never"), [missing("a"), missing()])[0]).toMatchObject({
      token: "every token",
      what: "no HSM token holds this key",
    });
    const unreachable: KeyOnTokenRow = {
      token: "b",
      serial: null,
      state: "unreachable",
      flags: null,
      note: "token unreachable",
    };
    expect(keyAnomalies(key("never"), [missing("a"), unreachable])).toEqual([]);
  });
});

describe("flagsText", () => {
  it("is compact: the three attestation flags, then the context", () => {
    expect(flagsText(NEVER, "never")).toBe(
      "local ✓ always-sensitive ✓ never-extractable ✓ · sensitive ✓ extractable ✗",
    );
    expect(flagsText({ ...CLONE, local: null }, "wrapped")).toBe(
      "local ? always-sensitive ✗ never-extractable ✗ · sensitive ✓ extractable ✓ wrap-with-trusted ✓",
    );
  });
});
