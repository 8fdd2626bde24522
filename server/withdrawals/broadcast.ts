// Broadcast and tracking of signed withdrawals, for every chain alike: once a withdrawal's operation is
// executed (its row `signed`) and a client is configured for its chain, its signed transaction is sent once and
// its fate followed to the configured number of confirmations — confirmed, failed (in a block that failed), or
// dead (provably never going to confirm: its nonce, inputs or blockhash used up; chains/types.ts BroadcastStatus).
// Chain reorganisations are followed (reorg.ts): until the configured depth is reached, every look checks that the
// transaction is still in the block it was seen in; if that block left the chain, withdrawal.reorged is recorded,
// the row is back to "broadcast, not included" (the same bytes sent again if the node lost them) and tracked on.
// Confirmed and failed are recorded only at the configured depth, in a block still on the chain at that look.
//
// What it never does: build or sign anything. It only ever sends the stored signed bytes (`raw`), and while the
// node has not heard of them it sends the SAME bytes again — never a new transaction for the same intent (a
// replacement is its own approved operation, withdrawal.speedup, whose transaction is a row of its own tracked
// like any other; the one it replaced is then never sent again, and whichever of them is mined leaves the other
// dead, its reason naming the one mined). A transaction the node refused stays tracked like any other,
// until it is confirmed after all or proven dead. Every state change is a conditional update from the state it
// was read in, with its audit event in the same transaction, so concurrent trackers record each change once.
import "server-only";
import { and, asc, eq, inArray, isNull, ne } from "drizzle-orm";
import { z } from "zod";
import type { Db } from "@/db/client";
import { type Withdrawal, type WithdrawalState, withdrawals } from "@/db/schema";
import { appendAudit } from "@/server/audit/append";
import type { Chain } from "@/server/custody/types";
import type { BitcoinClient, BroadcastStatus, EthereumClient, SolanaClient } from "../chains/types";
import { type Inclusion, type Reorg, reorgOf, type SeenInclusion, seenInclusion } from "./reorg";

/** The clients configured for each chain (null or absent: none, so nothing is broadcast on it). */
export type BroadcastClients = {
  ethereum?: EthereumClient | null;
  solana?: SolanaClient | null;
  bitcoin?: BitcoinClient | null;
};

export type TrackerDeps = {
  db: Db;
  clock: () => Date;
  clients: BroadcastClients;
  /** Confirmations that make a withdrawal confirmed, per chain (KEYWARD_CONFIRMATIONS_*); bitcoin default 6. */
  confirmations: { ethereum: number; solana: number; bitcoin?: number };
  /** Rows looked at per sweep, oldest check first (default 100). */
  batch?: number;
};

/** A sweep's outcome counts, and the errors it met (a node not answering: the row is looked at again next sweep). */
export type TrackReport = Record<TrackOutcome, number> & { errors: string[] };

/** What one look at a withdrawal did. */
export type TrackOutcome =
  | "broadcast"
  | "confirmed"
  | "failed"
  | "dead"
  | "waiting"
  | "resent"
  | "reorged"
  | "skipped"
  | "error";

/** How a chain's client is asked: send raw bytes, and the fate of this withdrawal's transaction. */
type Broadcaster = {
  broadcast(raw: string): Promise<string>;
  status(row: Withdrawal & { raw: string; txid: string }): Promise<BroadcastStatus>;
  confirmations: number;
};

const decodedFrom = z.object({ from: z.string() });

function broadcasterFor(chain: string, deps: TrackerDeps): Broadcaster | null {
  const { clients, confirmations } = deps;
  if (chain === "ethereum" && clients.ethereum) {
    const client = clients.ethereum;
    return {
      broadcast: (raw) => client.broadcast(raw),
      status: (row) => {
        if (row.nonce === null) throw new Error(`Ethereum withdrawal ${row.id} has no nonce.`);
        return client.status(row.txid, {
          from: decodedFrom.parse(row.decoded).from,
          nonce: Number(row.nonce),
        });
      },
      confirmations: confirmations.ethereum,
    };
  }
  if (chain === "solana" && clients.solana) {
    const client = clients.solana;
    return {
      broadcast: (raw) => client.broadcast(raw),
      status: (row) => {
        if (row.lastValidBlockHeight === null)
          throw new Error(`Solana withdrawal ${row.id} has no last valid block height.`);
        return client.status(row.txid, { lastValidBlockHeight: BigInt(row.lastValidBlockHeight) });
      },
      confirmations: confirmations.solana,
    };
  }
  if (chain === "bitcoin" && clients.bitcoin) {
    const client = clients.bitcoin;
    return {
      broadcast: (raw) => client.broadcast(raw),
      status: (row) => client.status(row.txid, { raw: row.raw }),
      confirmations: confirmations.bitcoin ?? 6,
    };
  }
  return null;
}

/** The chains this configuration broadcasts on. */
export function broadcastChains(clients: BroadcastClients): Chain[] {
  return (["bitcoin", "ethereum", "solana"] as const).filter((chain) => Boolean(clients[chain]));
}

function errorText(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).slice(0, 500);
}

type Change = {
  to: WithdrawalState | null;
  set: Partial<typeof withdrawals.$inferInsert>;
  event?:
    | { action: "withdrawal.broadcast"; refused: string | null }
    | { action: "withdrawal.confirmed"; block: string; blockNumber: number; confirmations: number }
    | { action: "withdrawal.reorged"; was: SeenInclusion; now: Inclusion | null }
    | { action: "withdrawal.failed"; block: string; reason: string }
    | { action: "withdrawal.dead"; reason: string };
};

/**
 * Applies `change` if the row is still in the state and block it was read in; false when another tracker moved it
 * first (so two trackers that both saw the same reorganisation record it once).
 */
async function apply(db: Db, row: Withdrawal & { txid: string }, change: Change, at: Date): Promise<boolean> {
  return db.transaction(async (tx) => {
    const sameBlock = row.block === null ? isNull(withdrawals.block) : eq(withdrawals.block, row.block);
    const moved = await tx
      .update(withdrawals)
      .set({ ...change.set, ...(change.to ? { state: change.to } : {}), updatedAt: at })
      .where(and(eq(withdrawals.id, row.id), eq(withdrawals.state, row.state), sameBlock))
      .returning({ id: withdrawals.id });
    if (moved.length === 0) return false;
    const event = change.event;
    if (event) {
      const base = { operationId: row.operationId, withdrawalId: row.id, chain: row.chain, txid: row.txid };
      const common = { actor: "system" as const, subject: `operation:${row.operationId}`, at };
      if (event.action === "withdrawal.broadcast")
        await appendAudit(tx, { ...common, action: event.action, data: { ...base, refused: event.refused } });
      else if (event.action === "withdrawal.confirmed")
        await appendAudit(tx, {
          ...common,
          action: event.action,
          data: {
            ...base,
            block: event.block,
            blockNumber: event.blockNumber,
            confirmations: event.confirmations,
          },
        });
      else if (event.action === "withdrawal.reorged")
        await appendAudit(tx, {
          ...common,
          action: event.action,
          data: {
            ...base,
            block: event.was.block,
            blockNumber: event.was.blockNumber,
            confirmations: event.was.confirmations,
            now: event.now,
          },
        });
      else if (event.action === "withdrawal.failed")
        await appendAudit(tx, {
          ...common,
          action: event.action,
          data: { ...base, block: event.block, reason: event.reason },
        });
      else
        await appendAudit(tx, { ...common, action: event.action, data: { ...base, reason: event.reason } });
    }
    return true;
  });
}

/**
 * What the status means for a broadcast row whose inclusion (if any) still holds: its change, or null for no
 * change (still on its way). Confirmed and failed are final only at `needed` confirmations; below that the block
 * and the count are recorded, and the next look checks that block is still on the chain (reorgOf).
 */
function changeFor(status: BroadcastStatus, row: Withdrawal, needed: number): Change | null {
  switch (status.state) {
    case "confirmed":
    case "failed": {
      const inclusion = {
        confirmations: status.confirmations,
        block: status.block,
        blockNumber: status.height,
      };
      if (status.confirmations < needed) {
        if (status.confirmations === row.confirmations && status.block === row.block) return null;
        return { to: null, set: inclusion };
      }
      if (status.state === "failed") {
        return {
          to: "failed",
          set: { ...inclusion, reason: status.reason },
          event: { action: "withdrawal.failed", block: status.block, reason: status.reason.slice(0, 1000) },
        };
      }
      return {
        to: "confirmed",
        set: { ...inclusion, reason: null },
        event: {
          action: "withdrawal.confirmed",
          block: status.block,
          blockNumber: status.height,
          confirmations: status.confirmations,
        },
      };
    }
    case "dead":
      return {
        to: "dead",
        set: { reason: status.reason },
        event: { action: "withdrawal.dead", reason: status.reason.slice(0, 1000) },
      };
    case "pending":
    case "unknown":
      return null;
  }
}

/**
 * One look at one withdrawal: a `signed` one is broadcast (once: the row moves to `broadcast` whatever the node
 * answers, a refusal recorded as its reason) and its status read at once; a `broadcast` one has its status
 * read: confirmed at enough confirmations, failed, dead, or still waiting — and when the node has not heard of
 * it, the same signed bytes are sent again. Anything else, or a chain with no client, is left alone.
 */
export async function trackWithdrawal(deps: TrackerDeps, row: Withdrawal): Promise<TrackOutcome> {
  const broadcaster = broadcasterFor(row.chain, deps);
  const { raw, txid } = row;
  if (broadcaster === null || raw === null || txid === null) return "skipped";
  let current: Withdrawal & { raw: string; txid: string } = { ...row, raw, txid };
  if (current.state === "signed") {
    let refused: string | null = null;
    try {
      await broadcaster.broadcast(raw);
    } catch (e) {
      refused = `the node refused it: ${errorText(e)}`;
    }
    const at = deps.clock();
    const change: Change = {
      to: "broadcast",
      set: { broadcastAt: at, reason: refused },
      event: { action: "withdrawal.broadcast", refused },
    };
    if (!(await apply(deps.db, current, change, at))) return "skipped";
    current = { ...current, state: "broadcast", broadcastAt: at, updatedAt: at, reason: refused };
    const outcome = await follow(deps, broadcaster, current);
    return outcome === "waiting" || outcome === "resent" ? "broadcast" : outcome;
  }
  if (current.state === "broadcast") return follow(deps, broadcaster, current);
  return "skipped";
}

/** The same bytes are sent again 2, 4, 8 … 256 s after the broadcast, then every 5 minutes, while unheard of. */
export const RESEND = { firstMs: 2000, everyMs: 300_000 } as const;

/** The first resend time (ms after the broadcast) later than `afterMs`. */
export function nextResendAfter(afterMs: number): number {
  for (let point = RESEND.firstMs; point < RESEND.everyMs; point *= 2) if (point > afterMs) return point;
  return (Math.floor(afterMs / RESEND.everyMs) + 1) * RESEND.everyMs;
}

/**
 * Whether a resend time fell between the last look (updatedAt) and now: a node that keeps refusing (an
 * Ethereum transaction stuck for want of gas, say) is asked again less and less often, not every second.
 */
function resendDue(row: Withdrawal, now: Date): boolean {
  if (row.broadcastAt === null) return true;
  const sent = row.broadcastAt.getTime();
  return nextResendAfter(row.updatedAt.getTime() - sent) <= now.getTime() - sent;
}

async function follow(
  deps: TrackerDeps,
  broadcaster: Broadcaster,
  row: Withdrawal & { raw: string; txid: string },
): Promise<TrackOutcome> {
  let status: BroadcastStatus;
  try {
    status = await broadcaster.status(row);
  } catch (e) {
    throw new Error(`the ${row.chain} node did not say what became of ${row.txid}: ${errorText(e)}`);
  }
  const at = deps.clock();
  const reorg = reorgOf(seenInclusion(row), status);
  if (reorg !== null) return followReorg(deps, broadcaster, row, reorg, status, at);
  let change = changeFor(status, row, broadcaster.confirmations);
  if (change?.to === "dead") change = await withReplacementsNamed(deps, broadcaster, row, change);
  if (change === null) {
    // A transaction a speed-up replaced is not sent again: the replacement (same nonce, higher fees) is what the
    // approvers chose, and the original, if a node still has it, can be mined at most instead of it, never beside.
    if (status.state === "unknown" && resendDue(row, at) && !(await isReplaced(deps.db, row))) {
      // Not heard of (dropped, or never propagated) and not provably dead: the same bytes again, which the
      // chain can include at most once. A refusal changes nothing; the next look reads the status again.
      await broadcaster.broadcast(row.raw).catch(() => undefined);
      await apply(deps.db, row, { to: null, set: {} }, at);
      return "resent";
    }
    // Touch the row so the sweep's oldest-first order gives every row its turn.
    await apply(deps.db, row, { to: null, set: {} }, at);
    return "waiting";
  }
  if (!(await apply(deps.db, row, change, at))) return "skipped";
  if (change.to === "confirmed" || change.to === "failed" || change.to === "dead") return change.to;
  return "waiting";
}

/**
 * The block the transaction was seen in left the chain: withdrawal.reorged, and the row records where the chain
 * holds it now (another block, or none: broadcast, not included). Nothing is final on this look; the next one
 * reads the status again. A node that lost the transaction with its block (unknown) is sent the same signed bytes
 * at once — never a new transaction, and never the one a speed-up replaced.
 */
async function followReorg(
  deps: TrackerDeps,
  broadcaster: Broadcaster,
  row: Withdrawal & { raw: string; txid: string },
  reorg: Reorg,
  status: BroadcastStatus,
  at: Date,
): Promise<TrackOutcome> {
  const change: Change = {
    to: null,
    set: {
      block: reorg.now?.block ?? null,
      blockNumber: reorg.now?.blockNumber ?? null,
      confirmations: reorg.now?.confirmations ?? 0,
    },
    event: { action: "withdrawal.reorged", was: reorg.was, now: reorg.now },
  };
  if (!(await apply(deps.db, row, change, at))) return "skipped";
  if (status.state === "unknown" && !(await isReplaced(deps.db, row))) {
    // A refusal changes nothing: the row is "unknown" again at the next look, and the resend schedule goes on.
    await broadcaster.broadcast(row.raw).catch(() => undefined);
  }
  return "reorged";
}

/**
 * Keyward's other Ethereum transactions from the same key with the same nonce: a speed-up's replacement and the
 * transaction it replaced (server/withdrawals/speedup-execute.ts), oldest first. Only one of them can be mined.
 */
export async function sameNonce(db: Db, row: Withdrawal): Promise<Withdrawal[]> {
  if (row.chain !== "ethereum" || row.nonce === null) return [];
  return db
    .select()
    .from(withdrawals)
    .where(
      and(
        eq(withdrawals.chain, "ethereum"),
        eq(withdrawals.network, row.network),
        eq(withdrawals.keyId, row.keyId),
        eq(withdrawals.nonce, row.nonce),
        ne(withdrawals.id, row.id),
      ),
    )
    .orderBy(asc(withdrawals.createdAt));
}

/** Whether a later transaction with the same nonce was signed to replace this one (a speed-up). */
async function isReplaced(db: Db, row: Withdrawal): Promise<boolean> {
  return (await sameNonce(db, row)).some((o) => o.createdAt > row.createdAt && o.raw !== null);
}

/**
 * A transaction found dead while Keyward signed others with its nonce: the reason says which of them was mined
 * (asked of the node now, so it does not wait for that one's own look) — or that none was, so something else
 * from this key used the nonce.
 */
async function withReplacementsNamed(
  deps: TrackerDeps,
  broadcaster: Broadcaster,
  row: Withdrawal & { raw: string; txid: string },
  change: Change,
): Promise<Change> {
  const others = (await sameNonce(deps.db, row)).filter(
    (o): o is Withdrawal & { raw: string; txid: string } => o.raw !== null && o.txid !== null,
  );
  if (others.length === 0 || change.event?.action !== "withdrawal.dead") return change;
  let mined: Withdrawal | null = null;
  for (const other of others) {
    const status = await broadcaster.status(other).catch(() => null);
    if (status?.state === "confirmed" || status?.state === "failed") mined = other;
  }
  const words =
    mined !== null
      ? `${change.event.reason} Keyward's transaction ${mined.txid} with the same nonce (operation ${mined.operationId}) was mined instead.`
      : `${change.event.reason} None of Keyward's other transactions with this nonce (${others.map((o) => o.txid).join(", ")}) was mined: something else from this key used it.`;
  return {
    ...change,
    set: { ...change.set, reason: words },
    event: { action: "withdrawal.dead", reason: words.slice(0, 1000) },
  };
}

/**
 * One sweep (the withdrawal.track job): the signed and broadcast withdrawals of the chains with a client, the
 * longest unchecked first, each tracked once. Returns how many ended each way.
 */
export async function trackWithdrawals(deps: TrackerDeps): Promise<TrackReport> {
  const counts: TrackReport = {
    broadcast: 0,
    confirmed: 0,
    failed: 0,
    dead: 0,
    waiting: 0,
    resent: 0,
    reorged: 0,
    skipped: 0,
    error: 0,
    errors: [],
  };
  const chains = broadcastChains(deps.clients);
  if (chains.length === 0) return counts;
  const rows = await deps.db
    .select()
    .from(withdrawals)
    .where(and(inArray(withdrawals.state, ["signed", "broadcast"]), inArray(withdrawals.chain, chains)))
    .orderBy(asc(withdrawals.updatedAt))
    .limit(deps.batch ?? 100);
  for (const row of rows) {
    let outcome: TrackOutcome;
    try {
      outcome = await trackWithdrawal(deps, row);
    } catch (e) {
      outcome = "error";
      counts.errors.push(`withdrawal ${row.id}: ${errorText(e)}`);
    }
    counts[outcome]++;
  }
  return counts;
}
