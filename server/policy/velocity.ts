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
      /** When enough executed amounts have left the window for this one to fit; null: only when approved ones are executed and leave, or are dropped. */
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

/** `amount` of `from` decimals in `to` decimals, rounded up (a cap is never under-counted). */
function scale(amount: bigint, from: number, to: number): bigint {
  if (from === to) return amount;
  if (to > from) return amount * 10n ** BigInt(to - from);
  const d = 10n ** BigInt(from - to);
  return (amount + d - 1n) / d;
}

/**
 * Judges one cap for an operation at `now`. The history's order never matters: entries are summed, and the
 * fit time comes from sorting them. The operation's own entry (same operation id) is not counted twice. An
 * executed entry counts while `now - window < executedAt` (a future time counts too); an approved one always.
 */
export function checkVelocity(
  cap: VelocityCap,
  op: VelocityFacts,
  history: readonly HistoryEntry[],
  now: Date,
  assets: readonly AssetInfo[],
): VelocityResult | null {
  if (!capApplies(cap, op) || op.amount === undefined || op.chain === undefined) return null;
  const limit = parseBaseUnits(cap.limit);
  const windowMs = cap.windowHours * 3_600_000;
  const capDecimals = findAsset(assets, cap.asset.chain, cap.asset.symbol)?.decimals;
  const unknown = new Set<string>();
  const inCapUnits = (amount: bigint, chain: string): bigint => {
    if (chain === cap.asset.chain) return amount;
    const d = findAsset(assets, chain, cap.asset.symbol)?.decimals;
    if (d === undefined || capDecimals === undefined) {
      unknown.add(chain);
      return amount;
    }
    return scale(amount, d, capDecimals);
  };
  const counted = history.filter((h) => {
    if (op.id !== undefined && h.operationId === op.id) return false;
    if (h.asset !== cap.asset.symbol) return false;
    if (cap.per !== "asset" && h.chain !== cap.asset.chain) return false;
    // Per key: an operation without a key id is judged against every key's amounts (never fewer).
    if (cap.per === "key" && op.keyId != null && h.keyId !== op.keyId) return false;
    return h.executedAt === null || h.executedAt.getTime() > now.getTime() - windowMs;
  });
  const own = inCapUnits(op.amount, op.chain);
  const amounts = counted.map((h) => ({
    amount: inCapUnits(h.amount, h.chain),
    leavesAt: h.executedAt === null ? null : h.executedAt.getTime() + windowMs,
  }));
  const total = amounts.reduce((s, a) => s + a.amount, own);
  if (unknown.size > 0) {
    const list = [...unknown].sort();
    return { cap, status: "unknown-decimals", total, limit, excess: 0n, fitsAt: null, unknown: list };
  }
  if (total <= limit) return { cap, status: "within", total, limit };
  const excess = total - limit;
  if (own > limit) return { cap, status: "alone", total, limit, excess: own - limit, fitsAt: null };
  // Executed amounts leave the window in time order; the operation fits once enough of them have left.
  const leaving = amounts
    .filter((a): a is { amount: bigint; leavesAt: number } => a.leavesAt !== null)
    .sort((a, b) => a.leavesAt - b.leavesAt);
  let remaining = total;
  for (const a of leaving) {
    remaining -= a.amount;
    if (remaining <= limit)
      return { cap, status: "over", total, limit, excess, fitsAt: new Date(a.leavesAt) };
  }
  return { cap, status: "over", total, limit, excess, fitsAt: null };
}
