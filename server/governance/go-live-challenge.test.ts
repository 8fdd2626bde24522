// The go-live challenge binds every field: changing any one of them gives another challenge, and the stored
// subject reads back to exactly the binding it was made from (anything else is refused as null).
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { type GoLiveBinding, goLiveChallenge, goLiveSubject, parseGoLiveSubject } from "./go-live-challenge";

const binding: GoLiveBinding = {
  adminId: "00000000-0000-4000-8000-00000000000a",
  policyVersion: 3,
  policyDigest: "a".repeat(64),
  adminSetDigest: "b".repeat(64),
  nonce: "bm9uY2U",
};

describe("go-live challenge", () => {
  it("is SHA-256 of the RFC 8785 form of the binding (keys sorted), base64url", () => {
    const jcs = `{"admin":"${binding.adminId}","admins":"${"b".repeat(64)}","nonce":"bm9uY2U","policy":"${"a".repeat(64)}","policyVersion":3,"purpose":"go-live","v":1}`;
    expect(goLiveChallenge(binding)).toBe(createHash("sha256").update(jcs).digest("base64url"));
  });

  it.each([
    ["adminId", { adminId: "00000000-0000-4000-8000-00000000000b" }],
    ["policyVersion", { policyVersion: 4 }],
    ["policyDigest", { policyDigest: "c".repeat(64) }],
    ["adminSetDigest", { adminSetDigest: "d".repeat(64) }],
    ["nonce", { nonce: "b3RoZXI" }],
  ])("changes with %s", (_, change) => {
    expect(goLiveChallenge({ ...binding, ...change })).not.toBe(goLiveChallenge(binding));
  });

  it("reads its subject back, and nothing else", () => {
    expect(parseGoLiveSubject(goLiveSubject(binding))).toEqual(binding);
    expect(parseGoLiveSubject(null)).toBeNull();
    expect(parseGoLiveSubject(goLiveSubject(binding).replace("go-live:", "vote:"))).toBeNull();
    expect(parseGoLiveSubject(`${goLiveSubject(binding)}:extra`)).toBeNull();
    expect(parseGoLiveSubject(goLiveSubject({ ...binding, policyVersion: Number.NaN }))).toBeNull();
  });
});
