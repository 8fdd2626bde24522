// The in-process record of report downloads' progress: only the member who started a download reads it, it is
// forgotten ten minutes after its last step, and no more than MAX_TRACKED downloads are kept.
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  FORGET_MS,
  MAX_TRACKED,
  progressId,
  type ReportProgress,
  reportProgress,
  trackReport,
} from "./progress";

const step = (done: number): ReportProgress => ({ phase: "reading", done, total: 10, section: null });

describe("report progress", () => {
  it("answers only the member who started the download, with its latest step", () => {
    const id = randomUUID();
    const sink = trackReport(id, "ann", () => 1_000);
    sink(step(1));
    sink({ phase: "writing", done: 40, total: 0, section: "Operations" });
    expect(reportProgress(id, "ann", 1_000)).toEqual({
      phase: "writing",
      done: 40,
      total: 0,
      section: "Operations",
    });
    expect(reportProgress(id, "bob", 1_000)).toBeNull();
    expect(reportProgress(randomUUID(), "ann", 1_000)).toBeNull();
  });

  it("forgets a download ten minutes after its last step", () => {
    const id = randomUUID();
    trackReport(id, "ann", () => 5_000)(step(3));
    expect(reportProgress(id, "ann", 5_000 + FORGET_MS)).toEqual(step(3));
    expect(reportProgress(id, "ann", 5_001 + FORGET_MS)).toBeNull();
  });

  it("keeps at most MAX_TRACKED downloads, forgetting the one whose last step is oldest", () => {
    const first = randomUUID();
    const busy = randomUUID();
    const now = Date.now();
    trackReport(first, "ann", () => now)(step(1));
    const busySink = trackReport(busy, "ann", () => now);
    busySink(step(1));
    for (let i = 0; i < MAX_TRACKED - 2; i++) trackReport(randomUUID(), "flood", () => now)(step(1));
    busySink(step(2)); // a new step makes it the newest
    expect(reportProgress(first, "ann", now)).toEqual(step(1));
    trackReport(randomUUID(), "flood", () => now)(step(1)); // one over the bound
    expect(reportProgress(first, "ann", now)).toBeNull();
    expect(reportProgress(busy, "ann", now)).toEqual(step(2));
  });

  it("takes only a UUID as the id", () => {
    expect(progressId.safeParse(randomUUID()).success).toBe(true);
    for (const bad of ["", "1", "../x", `${randomUUID()}x`])
      expect(progressId.safeParse(bad).success).toBe(false);
  });
});
