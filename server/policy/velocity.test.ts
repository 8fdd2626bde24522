// Velocity caps: rolling windows per key, chain or asset, approved-but-unexecuted amounts counted, this
// operation counted once, and the exact instant it fits again.
import { describe, expect, it } from "vitest";
import { checkVelocity, type HistoryEntry, type VelocityCap } from "./velocity";

const BTC = 100_000_000n;
const now = new Date("2026-12-02T12:00:00Z");
const hoursAgo = (h: number) => new Date(now.getTime() - h * 3_600_000);
const assets = [
  { chain: "bitcoin", symbol: "BTC", decimals: 8 },
  { chain: "ethereum", symbol: "USDC", decimals: 6 },
  { chain: "bsc", symbol: "USDC", decimals: 18 },
];
const cap = (extra: Partial<VelocityCap> = {}): VelocityCap => ({
  per: "chain",
  asset: { chain: "bitcoin", symbol: "BTC" },
  limit: String(10n * BTC),
  windowHours: 24,
  over: "deny",
  ...extra,
});
const entry = (amount: bigint, executedAt: Date | null, extra: Partial<HistoryEntry> = {}): HistoryEntry => ({
  operationId: `op-${amount}-${executedAt?.getTime() ?? "open"}`,
  keyId: "k1",
  chain: "bitcoin",
  asset: "BTC",
  amount,
  executedAt,
  ...extra,
});
const op = (amount: bigint, extra = {}) => ({
  id: "me",
  keyId: "k1",
  chain: "bitcoin",
  asset: "BTC",
  amount,
  ...extra,
});

describe("checkVelocity", () => {
  it("counts this operation and the window's amounts; at the limit is within", () => {
    expect(checkVelocity(cap(), op(4n * BTC), [entry(6n * BTC, hoursAgo(1))], now, assets)).toMatchObject({
      status: "within",
      total: 10n * BTC,
    });
  });
  it("is over by the excess, in base units", () => {
    const r = checkVelocity(cap(), op(3n * BTC), [entry(73n * 10n ** 7n, hoursAgo(1))], now, assets);
    expect(r).toMatchObject({ status: "over", excess: 30_000_000n });
  });
  it("counts approved-but-unexecuted amounts whatever the time, and forgets executed ones after the window", () => {
    const history = [entry(8n * BTC, null), entry(5n * BTC, hoursAgo(24)), entry(5n * BTC, hoursAgo(25))];
    expect(checkVelocity(cap(), op(2n * BTC), history, now, assets)?.status).toBe("within");
    expect(checkVelocity(cap(), op(3n * BTC), history, now, assets)?.status).toBe("over");
  });
  it("does not count the operation's own entry twice (as at execution, when it is approved)", () => {
    const history = [entry(6n * BTC, null, { operationId: "me" })];
    expect(checkVelocity(cap(), op(6n * BTC), history, now, assets)?.status).toBe("within");
  });
  it("per key counts that key only; per chain every key", () => {
    const history = [entry(9n * BTC, hoursAgo(1), { keyId: "k2" })];
    expect(checkVelocity(cap({ per: "key" }), op(2n * BTC), history, now, assets)?.status).toBe("within");
    expect(checkVelocity(cap({ per: "chain" }), op(2n * BTC), history, now, assets)?.status).toBe("over");
    // An operation without a key id is judged against every key's amounts.
    expect(
      checkVelocity(cap({ per: "key" }), op(2n * BTC, { keyId: undefined }), history, now, assets)?.status,
    ).toBe("over");
  });
  it("per asset adds the symbol on every chain, in the cap asset's decimals (rounded up)", () => {
    const usdc = cap({ per: "asset", asset: { chain: "ethereum", symbol: "USDC" }, limit: "1000000000" }); // 1,000
    const history = [entry(600n * 10n ** 18n + 1n, hoursAgo(1), { chain: "bsc", asset: "USDC" })];
    const r = checkVelocity(
      usdc,
      op(400_000_000n, { chain: "ethereum", asset: "USDC" }),
      history,
      now,
      assets,
    );
    expect(r).toMatchObject({ status: "over", excess: 1n });
    const perChain = cap({ per: "chain", asset: { chain: "ethereum", symbol: "USDC" }, limit: "1000000000" });
    expect(
      checkVelocity(perChain, op(400_000_000n, { chain: "ethereum", asset: "USDC" }), history, now, assets)
        ?.status,
    ).toBe("within");
  });
  it("refuses to guess decimals it does not know (per asset, another chain)", () => {
    const usdc = cap({ per: "asset", asset: { chain: "ethereum", symbol: "USDC" }, limit: "1000000000" });
    const history = [entry(1n, hoursAgo(1), { chain: "polygon", asset: "USDC" })];
    const r = checkVelocity(usdc, op(1n, { chain: "ethereum", asset: "USDC" }), history, now, assets);
    expect(r).toMatchObject({ status: "unknown-decimals", unknown: ["polygon"] });
  });
  it("does not apply to another asset or to an operation without an amount", () => {
    expect(checkVelocity(cap(), op(1n, { asset: "ETH", chain: "ethereum" }), [], now, assets)).toBeNull();
    expect(checkVelocity(cap(), { chain: "bitcoin", asset: "BTC" }, [], now, assets)).toBeNull();
  });
  it("an operation over the cap on its own never fits", () => {
    expect(checkVelocity(cap(), op(11n * BTC), [], now, assets)).toMatchObject({
      status: "alone",
      fitsAt: null,
      excess: BTC,
    });
  });
  it("fits again exactly when enough executed amounts have left the window", () => {
    const history = [entry(4n * BTC, hoursAgo(20)), entry(4n * BTC, hoursAgo(2)), entry(BTC, null)];
    const r = checkVelocity(cap({ over: "defer" }), op(3n * BTC), history, now, assets);
    expect(r).toMatchObject({ status: "over", excess: 2n * BTC });
    expect(r && "fitsAt" in r ? r.fitsAt?.toISOString() : "").toBe("2026-12-02T16:00:00.000Z");
    const after = new Date("2026-12-02T16:00:00Z");
    expect(checkVelocity(cap(), op(3n * BTC), history, after, assets)?.status).toBe("within");
    expect(checkVelocity(cap(), op(3n * BTC), history, new Date(after.getTime() - 1), assets)?.status).toBe(
      "over",
    );
  });
  it("has no fit time when only approved, unexecuted amounts stand in the way", () => {
    const r = checkVelocity(cap({ over: "defer" }), op(3n * BTC), [entry(8n * BTC, null)], now, assets);
    expect(r).toMatchObject({ status: "over", fitsAt: null });
  });
});
