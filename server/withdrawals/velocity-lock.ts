// Velocity that holds under concurrency (issue 14 item 6). A velocity cap is a sum over operations: two
// withdrawals judged at the same moment each read a history without the other, each fit under the cap, and
// together exceed it (Poloniex and Flexcoin lost funds this way in 2014). So every transition that makes an
// amount count — a proposal judged by an automatic rule, the vote that completes a quorum, the release of a
// waiting operation — and the execution take this transaction-level lock per chain BEFORE reading the history,
// and keep it until their transaction commits the new state. The next one on that chain then reads a history
// that includes the previous one (READ COMMITTED: each statement sees what committed before it began).
//
// One PostgreSQL advisory lock per chain: pg_advisory_xact_lock(KWVL, chain index). An operation whose rule
// has a cap counted across chains (per: "asset", the symbol on every chain) takes every chain's lock. Locks are
// always taken in CHAINS order, so two transactions never wait for each other in a cycle. Lock order overall:
// after the operation's row lock (vote, release), before anything else the transition writes. On PGlite (one
// connection, transactions one after another) it is uncontended.
import "server-only";
import { sql } from "drizzle-orm";
import type { DbOrTx } from "@/db/client";
import { CHAINS, type Chain } from "@/server/custody/types";
import { formatAmount } from "@/server/policy/amounts";
import type { PolicyDocument } from "@/server/policy/document";
import { matchRule, type PolicyOperation } from "@/server/policy/evaluate";
import type { VelocityResult } from "@/server/policy/velocity";
import { hoursInWords } from "@/server/policy/words";

/** The advisory lock's first key: "KWVL". The second is the chain's index in CHAINS. */
export const VELOCITY_LOCK_CLASS = 0x4b57_564c;

/** The chains whose velocity lock an operation on `chain` judged under these caps needs, in CHAINS order. */
export function velocityLockChains(caps: readonly { per: string }[], chain: string | undefined): Chain[] {
  // A per-key or per-chain cap counts only amounts on its own chain, which is the operation's (capApplies).
  if (caps.some((c) => c.per === "asset")) return [...CHAINS];
  return CHAINS.filter((c) => c === chain);
}

/** Waits for the velocity lock of each chain, in CHAINS order; held until `tx` commits or rolls back. */
export async function takeVelocityLocks(tx: DbOrTx, chains: readonly Chain[]): Promise<void> {
  for (const chain of CHAINS) {
    if (!chains.includes(chain)) continue;
    await tx.execute(sql`SELECT pg_advisory_xact_lock(${VELOCITY_LOCK_CLASS}, ${CHAINS.indexOf(chain)})`);
  }
}

/** The velocity locks judging `op` under `policy` needs (none when its rule has no cap or it moves no amount). */
export function locksFor(
  policy: PolicyDocument,
  op: PolicyOperation,
  allowLists: Parameters<typeof matchRule>[2] = {},
): Chain[] {
  if (op.amount === undefined) return [];
  const { rule } = matchRule(policy, op, allowLists);
  if (rule.deny || !rule.velocity?.length) return [];
  return velocityLockChains(rule.velocity, op.chain);
}

/** One cap the operation would break, in words: "over the 24 h limit of 10 ETH by 0.5 ETH". */
export function capBreachInWords(
  v: Exclude<VelocityResult, { status: "within" }>,
  amount: bigint,
  assets: Parameters<typeof formatAmount>[2],
): string {
  const scope = v.cap.per === "key" ? " for this key" : v.cap.per === "asset" ? " across chains" : "";
  const limit = `the ${hoursInWords(v.cap.windowHours)} limit of ${formatAmount(v.limit, v.cap.asset, assets)}${scope}`;
  if (v.status === "unknown-decimals")
    return `cannot count ${limit}: the asset list has no decimals for ${v.cap.asset.symbol} on ${(v.unknown ?? []).join(", ")}`;
  if (v.status === "alone")
    return `${formatAmount(amount, v.cap.asset, assets)} is over ${limit} on its own, by ${formatAmount(v.excess, v.cap.asset, assets)}`;
  return `over ${limit} by ${formatAmount(v.excess, v.cap.asset, assets)}`;
}
