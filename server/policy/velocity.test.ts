// Velocity caps: rolling windows per key, chain or asset, approved-but-unexecuted amounts counted, this
// operation counted once, and the exact instant it fits again.
import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import {
  type CapTotals,
  chainScale,
  checkVelocity,
  type HistoryEntry,
  leavesWindowAt,
  type VelocityCap,
  velocityScope,
} from "./velocity";

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

/**
 * The sums a database returns for a scope (velocityScope), computed here the plainest way: per chain, how many
 * entries and their amounts scaled one by one (chainScale); the fit time from the executed ones in time order.
 */
function sumsOf(
  cap: VelocityCap,
  o: ReturnType<typeof op>,
  history: readonly HistoryEntry[],
  at: Date,
): CapTotals {
  const scope = velocityScope(cap, o, at);
  if (scope === null) throw new Error("no scope");
  const rows = history.filter(
    (h) =>
      h.asset === scope.symbol &&
      (scope.chain === null || h.chain === scope.chain) &&
      (scope.keyId === null || h.keyId === scope.keyId) &&
      h.operationId !== scope.excludeId &&
      (h.executedAt === null || h.executedAt.getTime() > scope.since.getTime()),
  );
  const units = (h: HistoryEntry) => {
    const s = chainScale(cap, h.chain, assets) ?? { multiply: 1n, divideUp: 1n };
    return s.divideUp === 1n ? h.amount * s.multiply : (h.amount + s.divideUp - 1n) / s.divideUp;
  };
  // Every chain the scope could count, as a database answers them: with no entries too.
  const every = scope.chain !== null ? [scope.chain] : ["bitcoin", "ethereum", "bsc", "solana"];
  const chains = every.map((chain) => {
    const on = rows.filter((h) => h.chain === chain);
    return { chain, entries: on.length, units: on.reduce((t, h) => t + units(h), 0n) };
  });
  // By how much it is over, counted here (not by velocityExcess), and when enough executed amounts have left.
  const ownScale = chainScale(cap, o.chain, assets) ?? { multiply: 1n, divideUp: 1n };
  const own =
    ownScale.divideUp === 1n
      ? o.amount * ownScale.multiply
      : (o.amount + ownScale.divideUp - 1n) / ownScale.divideUp;
  const excess = chains.reduce((t, c) => t + c.units, own) - BigInt(cap.limit);
  let fitsAt: Date | null = null;
  if (excess > 0n) {
    let gone = 0n;
    for (const h of rows
      .filter((r) => r.executedAt !== null)
      .sort((a, b) => (a.executedAt?.getTime() ?? 0) - (b.executedAt?.getTime() ?? 0))) {
      gone += units(h);
      if (gone >= excess && h.executedAt) {
        fitsAt = leavesWindowAt(cap, h.executedAt);
        break;
      }
    }
  }
  return { chains, fitsAt };
}

describe("checkVelocity over sums (VelocityTotals)", () => {
  const chainAsset = fc.constantFrom(
    { chain: "bitcoin", asset: "BTC" },
    { chain: "ethereum", asset: "USDC" },
    { chain: "bsc", asset: "USDC" },
    { chain: "solana", asset: "USDC" },
  );
  const history = fc.array(
    fc.record({
      operationId: fc.constantFrom("h1", "h2", "h3", "h4", "me"),
      keyId: fc.constantFrom("k1", "k2"),
      where: chainAsset,
      amount: fc.oneof(fc.bigInt({ min: 1n, max: 10n }), fc.bigInt({ min: 1n, max: 10n ** 13n })),
      executedAt: fc.option(
        fc.integer({ min: -60, max: 2 }).map((h) => hoursAgo(-h)),
        { nil: null },
      ),
    }),
    { maxLength: 12 },
  );
  test.prop(
    [
      history,
      fc.constantFrom("key", "chain", "asset") as fc.Arbitrary<VelocityCap["per"]>,
      chainAsset,
      fc.constantFrom(1, 6, 24, 48),
      fc.oneof(fc.bigInt({ min: 0n, max: 40n }), fc.bigInt({ min: 0n, max: 3n * 10n ** 13n })),
      fc.oneof(fc.bigInt({ min: 1n, max: 10n }), fc.bigInt({ min: 1n, max: 10n ** 13n })),
      fc.constantFrom("k1", "k2", null),
      fc.constantFrom("deny", "defer") as fc.Arbitrary<VelocityCap["over"]>,
    ],
    { numRuns: 1000 },
  )(
    "gives the answer it gives over the entries",
    (raw, per, capAt, windowHours, limit, amount, keyId, over) => {
      const entries: HistoryEntry[] = raw.map(({ where, ...h }) => ({
        ...h,
        chain: where.chain,
        asset: where.asset,
      }));
      const c = cap({
        per,
        asset: { chain: capAt.chain, symbol: capAt.asset },
        windowHours,
        limit: String(limit),
        over,
      });
      const o = op(amount, { chain: per === "asset" ? "ethereum" : capAt.chain, asset: capAt.asset, keyId });
      if (velocityScope(c, o, now) === null) return;
      const totals = {
        totals: new Map([
          [`${per}|${capAt.chain}|${capAt.asset}|${windowHours}`, sumsOf(c, o, entries, now)],
        ]),
      };
      expect(checkVelocity(c, o, totals, now, assets)).toEqual(checkVelocity(c, o, entries, now, assets));
    },
  );
  it("refuses to judge a cap the sums do not count", () => {
    expect(() => checkVelocity(cap(), op(BTC), { totals: new Map() }, now, assets)).toThrow(
      /do not count the cap/,
    );
  });
});
