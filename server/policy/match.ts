// Whether a rule's match holds for an operation's facts, and which rules can never be the first match.
// Browser-safe (no imports but types). A fact the operation lacks fails every clause on it: a rule on chains
// or amounts never applies to an operation without a chain or an amount (key.create has none).
import { parseBaseUnits } from "./amounts";
import type { InitiatorType } from "./constants";

export type MatchClauses = {
  kinds?: string[];
  keyTags?: string[];
  chains?: string[];
  assets?: { chain: string; symbol: string }[];
  amount?: { atLeast?: string; below?: string };
  destination?: { onAllowList: string } | { notOnAllowList: string };
  initiators?: InitiatorType[];
};

/** What a rule is matched against; the optional facts are those of operations that move funds. */
export type MatchFacts = {
  kind: string;
  keyTags: readonly string[];
  chain?: string;
  /** The asset's symbol on `chain`. */
  asset?: string;
  /** Base units of the asset. */
  amount?: bigint;
  /** The destination address in the chain's canonical form (the caller canonicalises). */
  destination?: string;
  /** Who proposed it: a member, a service account (the HTTP API) or Keyward itself. */
  initiator?: InitiatorType;
};

/** Allow-lists by name: the addresses on each, per chain, in canonical form (supplied by the caller). */
export type AllowLists = Readonly<Record<string, readonly { chain: string; address: string }[]>>;

/** Whether `address` on `chain` is on the named list; an unknown list holds nothing. Exact comparison. */
export function onAllowList(lists: AllowLists, name: string, chain: string, address: string): boolean {
  if (!Object.hasOwn(lists, name)) return false;
  return (lists[name] ?? []).some((e) => e.chain === chain && e.address === address);
}

export function matches(match: MatchClauses, facts: MatchFacts, lists: AllowLists = {}): boolean {
  if (match.kinds && !match.kinds.includes(facts.kind)) return false;
  if (match.keyTags && !match.keyTags.every((t) => facts.keyTags.includes(t))) return false;
  if (match.initiators && (facts.initiator === undefined || !match.initiators.includes(facts.initiator)))
    return false;
  if (match.chains && (facts.chain === undefined || !match.chains.includes(facts.chain))) return false;
  if (match.assets && !match.assets.some((a) => a.chain === facts.chain && a.symbol === facts.asset))
    return false;
  if (match.amount) {
    if (facts.amount === undefined) return false;
    if (match.amount.atLeast !== undefined && facts.amount < parseBaseUnits(match.amount.atLeast))
      return false;
    if (match.amount.below !== undefined && facts.amount >= parseBaseUnits(match.amount.below)) return false;
  }
  if (match.destination) {
    if (facts.destination === undefined || facts.chain === undefined) return false;
    const on = onAllowList(
      lists,
      "onAllowList" in match.destination ? match.destination.onAllowList : match.destination.notOnAllowList,
      facts.chain,
      facts.destination,
    );
    if (on !== "onAllowList" in match.destination) return false;
  }
  return true;
}

const subset = <T>(xs: readonly T[], ys: readonly T[], eq: (a: T, b: T) => boolean) =>
  xs.every((x) => ys.some((y) => eq(x, y)));
const sameAsset = (a: { chain: string; symbol: string }, b: { chain: string; symbol: string }) =>
  a.chain === b.chain && a.symbol === b.symbol;

/**
 * True only when every operation `later` matches is provably matched by `earlier` (so `later` is dead below
 * it). Conservative: each clause of `earlier` must be absent or implied by a clause of `later`; anything it
 * cannot prove (e.g. two different allow-lists) counts as not covered.
 */
export function covers(earlier: MatchClauses, later: MatchClauses): boolean {
  const eq = (a: string, b: string) => a === b;
  if (earlier.kinds && !(later.kinds && subset(later.kinds, earlier.kinds, eq))) return false;
  if (earlier.keyTags && !earlier.keyTags.every((t) => later.keyTags?.includes(t) ?? false)) return false;
  if (earlier.initiators && !(later.initiators && subset(later.initiators, earlier.initiators, eq)))
    return false;
  if (earlier.chains) {
    const byChains = !!later.chains && subset(later.chains, earlier.chains, eq);
    const byAssets = !!later.assets && later.assets.every((a) => earlier.chains?.includes(a.chain));
    if (!byChains && !byAssets) return false;
  }
  if (earlier.assets && !(later.assets && subset(later.assets, earlier.assets, sameAsset))) return false;
  if (earlier.amount) {
    // Base units compare only within one asset: both rules name assets, and later's are among earlier's.
    if (!later.amount || !later.assets || !earlier.assets) return false;
    if (!subset(later.assets, earlier.assets, sameAsset)) return false;
    const eLo = parseBaseUnits(earlier.amount.atLeast ?? "0");
    const lLo = parseBaseUnits(later.amount.atLeast ?? "0");
    if (lLo < eLo) return false;
    if (earlier.amount.below !== undefined) {
      if (later.amount.below === undefined) return false;
      if (parseBaseUnits(later.amount.below) > parseBaseUnits(earlier.amount.below)) return false;
    }
  }
  if (earlier.destination) {
    const d = later.destination;
    if (!d) return false;
    const same =
      "onAllowList" in earlier.destination
        ? "onAllowList" in d && d.onAllowList === earlier.destination.onAllowList
        : "notOnAllowList" in d && d.notOnAllowList === earlier.destination.notOnAllowList;
    if (!same) return false;
  }
  return true;
}

/** Rules that can never be the first match because an earlier rule matches everything they match. */
export function shadowedRules(doc: {
  rules: readonly { match: MatchClauses }[];
}): { rule: number; by: number }[] {
  const out: { rule: number; by: number }[] = [];
  doc.rules.forEach((later, j) => {
    const by = doc.rules.findIndex((earlier, i) => i < j && covers(earlier.match, later.match));
    if (by >= 0) out.push({ rule: j, by });
  });
  return out;
}
