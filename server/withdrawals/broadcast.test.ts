// The resend schedule of broadcast.ts: the same signed bytes again 2, 4, 8 … 256 s after the broadcast, then
// every 5 minutes — so a node that keeps refusing is not asked every second for ever.
import { describe, expect, it } from "vitest";
import { nextResendAfter, RESEND } from "./broadcast";

describe("nextResendAfter", () => {
  it("doubles from 2 s to 256 s, then steps by 5 minutes", () => {
    expect(nextResendAfter(-5)).toBe(2000);
    expect(nextResendAfter(0)).toBe(2000);
    expect(nextResendAfter(1999)).toBe(2000);
    expect(nextResendAfter(2000)).toBe(4000);
    expect(nextResendAfter(100_000)).toBe(128_000);
    expect(nextResendAfter(255_999)).toBe(256_000);
    expect(nextResendAfter(256_000)).toBe(RESEND.everyMs);
    expect(nextResendAfter(RESEND.everyMs)).toBe(2 * RESEND.everyMs);
    expect(nextResendAfter(3_600_000 + 1)).toBe(3_900_000);
  });
});
