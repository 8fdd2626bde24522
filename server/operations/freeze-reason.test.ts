// The freeze reason is shown on every page while the freeze is in force: one line, bounded, read as written.
import { describe, expect, it } from "vitest";
import { FREEZE_REASON_MAX, freezeReasonSchema } from "./freeze-reason";

describe("freezeReasonSchema", () => {
  it("keeps a reason trimmed, and turns an empty one into none", () => {
    expect(freezeReasonSchema.parse("  laptop stolen  ")).toBe("laptop stolen");
    expect(freezeReasonSchema.parse("")).toBeNull();
    expect(freezeReasonSchema.parse("   ")).toBeNull();
    expect(freezeReasonSchema.parse("x".repeat(FREEZE_REASON_MAX))).toHaveLength(FREEZE_REASON_MAX);
  });

  it("refuses line breaks and other control characters, and a reason too long", () => {
    for (const bad of ["two\nlines", "bell\u0007", "tab\there", "x".repeat(FREEZE_REASON_MAX + 1)]) {
      expect(freezeReasonSchema.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
  });
});
