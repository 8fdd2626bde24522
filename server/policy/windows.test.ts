// Time windows in a named zone: wall time via Intl, openings across Europe/Zurich's DST changes of 2026
// (2026-03-29 02:00 → 03:00, 2026-10-25 03:00 → 02:00) and a zone without DST.
import { describe, expect, it } from "vitest";
import { formatWallTime, isOpen, nextOpening, type Opening, resolveZone, wallTime } from "./windows";

const at = (iso: string) => Date.parse(iso);
const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
const weekdays: Opening = { days: ["mon", "tue", "wed", "thu", "fri"], from: "00:00", to: "24:00" };
const zurich = (...open: Opening[]) => ({ zone: "Europe/Zurich", open });

describe("wallTime", () => {
  it("is the zone's wall clock: CET in winter, CEST in summer", () => {
    expect(iso(wallTime(at("2026-12-05T12:00:00Z"), "Europe/Zurich"))).toBe("2026-12-05T13:00:00.000Z");
    expect(iso(wallTime(at("2026-07-01T12:00:00.250Z"), "Europe/Zurich"))).toBe("2026-07-01T14:00:00.250Z");
    expect(iso(wallTime(at("2026-07-01T12:00:00Z"), "UTC"))).toBe("2026-07-01T12:00:00.000Z");
  });
  it("knows named zones and refuses unknown ones", () => {
    expect(resolveZone("Europe/Zurich")).toBe("Europe/Zurich");
    expect(resolveZone("Mars/Olympus")).toBeNull();
  });
});

describe("no withdrawals on weekends (Europe/Zurich)", () => {
  const w = zurich(weekdays);
  it.each([
    ["2026-12-04T22:59:59.999Z", true], // Friday 23:59:59.999 CET
    ["2026-12-04T23:00:00Z", false], // Saturday 00:00 CET
    ["2026-12-06T22:59:59.999Z", false], // Sunday 23:59:59.999
    ["2026-12-06T23:00:00Z", true], // Monday 00:00
  ])("%s open: %s", (t, open) => {
    expect(isOpen(w, at(t))).toBe(open);
  });
  it("defers Saturday to Monday 00:00 in Zurich (23:00 UTC on Sunday in winter, 22:00 in summer)", () => {
    expect(iso(nextOpening(w, at("2026-12-05T12:00:00Z")))).toBe("2026-12-06T23:00:00.000Z");
    expect(iso(nextOpening(w, at("2026-07-04T12:00:00Z")))).toBe("2026-07-05T22:00:00.000Z");
    expect(formatWallTime(at("2026-12-06T23:00:00Z"), "Europe/Zurich")).toBe("Monday 7 December 00:00");
  });
  it("is the instant itself when open", () => {
    expect(nextOpening(w, at("2026-12-02T06:00:00Z"))).toBe(at("2026-12-02T06:00:00Z"));
  });
  it("opens Monday after the weekend of the spring change (Sunday 29 March has 23 hours)", () => {
    expect(iso(nextOpening(w, at("2026-03-28T12:00:00Z")))).toBe("2026-03-29T22:00:00.000Z");
  });
  it("opens Monday after the weekend of the autumn change (Sunday 25 October has 25 hours)", () => {
    expect(iso(nextOpening(w, at("2026-10-24T12:00:00Z")))).toBe("2026-10-25T23:00:00.000Z");
    expect(isOpen(w, at("2026-10-25T22:59:59.999Z"))).toBe(false);
  });
});

describe("openings at the DST changes themselves", () => {
  it("a wall time skipped in spring (02:30 on 29 March) opens at the first instant after the gap, 03:00", () => {
    const w = zurich({ days: ["sun"], from: "02:30", to: "04:00" });
    const opening = nextOpening(w, at("2026-03-28T12:00:00Z"));
    expect(iso(opening)).toBe("2026-03-29T01:00:00.000Z");
    expect(formatWallTime(opening ?? 0, w.zone)).toBe("Sunday 29 March 03:00");
    expect(isOpen(w, at("2026-03-29T00:59:59.999Z"))).toBe(false); // 01:59:59.999 CET, just before the gap
  });
  it("an opening wholly inside the spring gap (02:00-03:00) does not occur that day: it opens a week later", () => {
    const w = zurich({ days: ["sun"], from: "02:00", to: "03:00" });
    expect(iso(nextOpening(w, at("2026-03-28T12:00:00Z")))).toBe("2026-04-05T00:00:00.000Z");
  });
  it("an hour repeated in autumn (02:00-02:30 on 25 October) is open twice", () => {
    const w = zurich({ days: ["sun"], from: "02:00", to: "02:30" });
    expect(iso(nextOpening(w, at("2026-10-24T12:00:00Z")))).toBe("2026-10-25T00:00:00.000Z"); // 02:00 CEST
    expect(isOpen(w, at("2026-10-25T00:29:59Z"))).toBe(true);
    expect(isOpen(w, at("2026-10-25T00:30:00Z"))).toBe(false); // 02:30 CEST
    expect(iso(nextOpening(w, at("2026-10-25T00:45:00Z")))).toBe("2026-10-25T01:00:00.000Z"); // 02:00 CET
    expect(isOpen(w, at("2026-10-25T01:29:59Z"))).toBe(true);
    expect(isOpen(w, at("2026-10-25T01:30:00Z"))).toBe(false);
  });
  it("an opening that ends at 24:00 ends at the next midnight, even on a 25-hour day", () => {
    const w = zurich({ days: ["sun"], from: "00:00", to: "24:00" });
    expect(isOpen(w, at("2026-10-25T22:59:59Z"))).toBe(true);
    expect(isOpen(w, at("2026-10-25T23:00:00Z"))).toBe(false);
  });
  it("a zone without DST (Asia/Tokyo) shifts nothing", () => {
    const w = { zone: "Asia/Tokyo", open: [{ days: ["mon" as const], from: "09:00", to: "17:00" }] };
    expect(iso(nextOpening(w, at("2026-03-28T12:00:00Z")))).toBe("2026-03-30T00:00:00.000Z");
  });
  it("several openings: the earliest one wins", () => {
    const w = zurich(
      { days: ["sat"], from: "10:00", to: "12:00" },
      { days: ["sat"], from: "08:00", to: "09:00" },
    );
    expect(iso(nextOpening(w, at("2026-12-05T05:00:00Z")))).toBe("2026-12-05T07:00:00.000Z");
    expect(iso(nextOpening(w, at("2026-12-05T08:30:00Z")))).toBe("2026-12-05T09:00:00.000Z");
  });
});
