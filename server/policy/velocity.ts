// Velocity caps: the sum of amounts of one asset over a rolling window, per key, per chain or per asset, with
// this operation and every approved-but-unexecuted amount counted. Pure and browser-safe; the same function is
// what an executor calls again at execution, under its lock, with the history read under that lock.
import { type AssetInfo, findAsset, parseBaseUnits } from "./amounts";

/** An operation that used (or, approved and not executed yet, will use) part of a cap. */
export type HistoryEntry = {
  operationId: string;
  keyId?: string | null;
  chain: string;
  /** The asset's symbol on `chain`. */
  asset: string;
  amount: bigint;
  /** When it was executed; null while approved and not executed yet (then it always counts). */
  executedAt: Date | null;
};

export type VelocityCap = {
  /** key: this key's amounts; chain: every key's on the cap's chain; asset: the symbol on every chain. */
  per: "key" | "chain" | "asset";
  /** The cap's unit: amounts of this asset (and for `asset`, of the same symbol on other chains). */
  asset: { chain: string; symbol: string };
  /** Base units of `asset`, as a decimal string. */
  limit: string;
  windowHours: number;
  /** Over the cap: deny, or defer until enough of the window's amounts have left it. */
  over: "deny" | "defer";
};

export type VelocityFacts = {
  id?: string;
  keyId?: string | null;
  chain?: string;
  asset?: string;
  amount?: bigint;
};

export type VelocityResult =
  | { cap: VelocityCap; status: "within"; total: bigint; limit: bigint }
  | {
      cap: VelocityCap;
      /** over: this operation and the window's amounts exceed the cap; alone: this operation alone does. */
      status: "over" | "alone" | "unknown-decimals";
      total: bigint;
      limit: bigint;
      /** By how much, in the cap asset's base units. */
      excess: bigint;
      /**
       * When enough executed amounts have left the window for this one to fit; null: only when approved ones are
       * executed and leave, or are dropped — and always for a cap that denies (nothing waits for it).
       */
      fitsAt: Date | null;
      /** For unknown-decimals: the chains whose decimals for the symbol the asset list lacks. */
      unknown?: string[];
    };

/** Whether the cap constrains this operation at all: it moves the cap's asset (for `asset`, its symbol). */
export function capApplies(cap: VelocityCap, op: VelocityFacts): boolean {
  if (op.amount === undefined || op.chain === undefined || op.asset === undefined) return false;
  if (op.asset !== cap.asset.symbol) return false;
  return cap.per === "asset" || op.chain === cap.asset.chain;
}

/**
 * How one amount on `chain` is brought into the cap's base units: `amount × multiply`, or `amount ÷ divideUp`
 * rounded up, amount by amount (a sum is scaled as the sum of its amounts scaled, never under-counted). The
 * cap's own chain is counted as it is; null when the asset list lacks the decimals (counted as it is, and the
 * answer is unknown-decimals).
 */
export function chainScale(
  cap: VelocityCap,
  chain: string,
  assets: readonly AssetInfo[],
): { multiply: bigint; divideUp: bigint } | null {
  if (chain === cap.asset.chain) return { multiply: 1n, divideUp: 1n };
  const from = findAsset(assets, chain, cap.asset.symbol)?.decimals;
  const to = findAsset(assets, cap.asset.chain, cap.asset.symbol)?.decimals;
  if (from === undefined || to === undefined) return null;
  if (to >= from) return { multiply: 10n ** BigInt(to - from), divideUp: 1n };
  return { multiply: 1n, divideUp: 10n ** BigInt(from - to) };
}

/**
 * What a cap counts for an operation at `now`, for a database to sum instead of handing every entry over
 * (server/operations/judgement.ts velocityTotals): amounts of `symbol` on `chain` (null: every chain, for
 * `per: "asset"`), of `keyId` only (null: every key's), approved-but-unexecuted ones always and executed ones
 * when executed strictly after `since`, never `excludeId`'s. Null when the cap does not apply to it.
 */
export type VelocityScope = {
  /** Caps with the same key count the same entries (capScopeKey). */
  key: string;
  symbol: string;
  chain: string | null;
  keyId: string | null;
  since: Date;
  excludeId: string | null;
};

/** Caps with the same key count the same entries for one operation at one instant. */
export function capScopeKey(cap: VelocityCap): string {
  return `${cap.per}|${cap.asset.chain}|${cap.asset.symbol}|${cap.windowHours}`;
}

export function velocityScope(cap: VelocityCap, op: VelocityFacts, now: Date): VelocityScope | null {
  if (!capApplies(cap, op)) return null;
  return {
    key: capScopeKey(cap),
    symbol: cap.asset.symbol,
    chain: cap.per === "asset" ? null : cap.asset.chain,
    // Per key: an operation without a key id is judged against every key's amounts (never fewer).
    keyId: cap.per === "key" && op.keyId != null ? op.keyId : null,
    since: new Date(now.getTime() - cap.windowHours * 3_600_000),
    excludeId: op.id ?? null,
  };
}

/** One chain's entries a scope counts, summed: how many, and their amounts in the cap's units (chainScale). */
export type ChainTotal = { chain: string; entries: number; units: bigint };

/**
 * A cap's counted entries as sums: per chain, and when the operation fits again (null: never by executed
 * amounts leaving; only needed when it is over, see velocityExcess).
 */
export type CapTotals = { chains: readonly ChainTotal[]; fitsAt: Date | null };

/**
 * The history as a database summed it for one operation at one instant, by capScopeKey: what checkVelocity
 * counts instead of entries. Every cap of the rule that applies must be there.
 */
export type VelocityTotals = { totals: ReadonlyMap<string, CapTotals> };

/** Entries (each one counted by checkVelocity) or their sums (VelocityTotals): the same answer either way. */
export type VelocityHistory = readonly HistoryEntry[] | VelocityTotals;

type Counted = {
  own: bigint;
  total: bigint;
  unknown: Set<string>;
  /** Executed amounts in cap units with when they leave the window; only for entries. */
  leaving: { amount: bigint; leavesAt: number }[] | null;
};

function inCapUnits(
  cap: VelocityCap,
  amount: bigint,
  chain: string,
  assets: readonly AssetInfo[],
  unknown: Set<string>,
) {
  const s = chainScale(cap, chain, assets);
  if (s === null) {
    unknown.add(chain);
    return amount;
  }
  return s.divideUp === 1n ? amount * s.multiply : (amount + s.divideUp - 1n) / s.divideUp;
}

function countEntries(
  cap: VelocityCap,
  op: VelocityFacts & { amount: bigint; chain: string },
  history: readonly HistoryEntry[],
  now: Date,
  assets: readonly AssetInfo[],
): Counted {
  const windowMs = cap.windowHours * 3_600_000;
  const unknown = new Set<string>();
  const counted = history.filter((h) => {
    if (op.id !== undefined && h.operationId === op.id) return false;
    if (h.asset !== cap.asset.symbol) return false;
    if (cap.per !== "asset" && h.chain !== cap.asset.chain) return false;
    // Per key: an operation without a key id is judged against every key's amounts (never fewer).
    if (cap.per === "key" && op.keyId != null && h.keyId !== op.keyId) return false;
    return h.executedAt === null || h.executedAt.getTime() > now.getTime() - windowMs;
  });
  const own = inCapUnits(cap, op.amount, op.chain, assets, unknown);
  const amounts = counted.map((h) => ({
    amount: inCapUnits(cap, h.amount, h.chain, assets, unknown),
    leavesAt: h.executedAt === null ? null : h.executedAt.getTime() + windowMs,
  }));
  const total = amounts.reduce((s, a) => s + a.amount, own);
  const leaving = amounts.filter((a): a is { amount: bigint; leavesAt: number } => a.leavesAt !== null);
  return { own, total, unknown, leaving };
}

function countTotals(
  cap: VelocityCap,
  op: VelocityFacts & { amount: bigint; chain: string },
  totals: CapTotals,
  assets: readonly AssetInfo[],
): Counted {
  const unknown = new Set<string>();
  const own = inCapUnits(cap, op.amount, op.chain, assets, unknown);
  let total = own;
  for (const c of totals.chains) {
    if (c.entries === 0) continue;
    if (chainScale(cap, c.chain, assets) === null) unknown.add(c.chain);
    total += c.units;
  }
  return { own, total, unknown, leaving: null };
}

/**
 * For a database summing a cap (VelocityScope): by how much this operation and the cap's chains' sums exceed
 * the cap when the answer is "over" — the executed amounts (in executed-at order) that must leave the window
 * before it fits, whose last one's leave time is CapTotals.fitsAt; null when no fit time is asked for (within,
 * alone, unknown decimals, a cap that denies).
 */
export function velocityExcess(
  cap: VelocityCap,
  op: VelocityFacts,
  chains: readonly ChainTotal[],
  assets: readonly AssetInfo[],
): bigint | null {
  if (!capApplies(cap, op) || op.amount === undefined || op.chain === undefined) return null;
  const c = countTotals(cap, { ...op, amount: op.amount, chain: op.chain }, { chains, fitsAt: null }, assets);
  const limit = parseBaseUnits(cap.limit);
  if (cap.over === "deny" || c.unknown.size > 0 || c.total <= limit || c.own > limit) return null;
  return c.total - limit;
}

/** When an amount executed at `executedAt` leaves the cap's window. */
export function leavesWindowAt(cap: VelocityCap, executedAt: Date): Date {
  return new Date(executedAt.getTime() + cap.windowHours * 3_600_000);
}

/**
 * Judges one cap for an operation at `now`, from the entries (the history's order never matters: entries are
 * summed, and the fit time comes from sorting them) or from their sums (VelocityTotals, the same answer). The
 * operation's own entry (same operation id) is not counted twice. An executed entry counts while
 * `now - window < executedAt` (a future time counts too); an approved one always.
 */
export function checkVelocity(
  cap: VelocityCap,
  op: VelocityFacts,
  history: VelocityHistory,
  now: Date,
  assets: readonly AssetInfo[],
): VelocityResult | null {
  if (!capApplies(cap, op) || op.amount === undefined || op.chain === undefined) return null;
  const facts = { ...op, amount: op.amount, chain: op.chain };
  const limit = parseBaseUnits(cap.limit);
  let fitsAt: Date | null = null;
  let c: Counted;
  if ("totals" in history) {
    const totals = history.totals.get(capScopeKey(cap));
    if (totals === undefined) throw new Error(`the velocity totals do not count the cap ${capScopeKey(cap)}`);
    c = countTotals(cap, facts, totals, assets);
    fitsAt = totals.fitsAt;
  } else c = countEntries(cap, facts, history, now, assets);
  const { own, total } = c;
  if (c.unknown.size > 0) {
    const list = [...c.unknown].sort();
    return { cap, status: "unknown-decimals", total, limit, excess: 0n, fitsAt: null, unknown: list };
  }
  if (total <= limit) return { cap, status: "within", total, limit };
  const excess = total - limit;
  if (own > limit) return { cap, status: "alone", total, limit, excess: own - limit, fitsAt: null };
  // A cap that denies has no fit time: nothing waits for it (only a cap that defers holds an operation until then).
  if (cap.over === "deny") return { cap, status: "over", total, limit, excess, fitsAt: null };
  if (c.leaving === null) return { cap, status: "over", total, limit, excess, fitsAt };
  // Executed amounts leave the window in time order; the operation fits once enough of them have left.
  const leaving = [...c.leaving].sort((a, b) => a.leavesAt - b.leavesAt);
  let remaining = total;
  for (const a of leaving) {
    remaining -= a.amount;
    if (remaining <= limit)
      return { cap, status: "over", total, limit, excess, fitsAt: new Date(a.leavesAt) };
  }
  return { cap, status: "over", total, limit, excess, fitsAt: null };
}
