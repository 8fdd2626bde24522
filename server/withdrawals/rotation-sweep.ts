// Rotation sweeps (issue 14 item 7): when key.rotate records a key rotated, a job (key.rotation-sweep, enqueued in
// that completing transaction, run by the operations scheduler) reads the old key's balances of every configured
// asset on each chain its curve serves, through the chain clients (server/chains/registry.ts), and proposes one
// withdrawal per asset it holds, from the old key to its successor's address on that chain: the withdrawal kind's
// own propose path (proposeAsSystem, initiator "rotation-sweep"), so each is judged by the policy, voted and
// executed like any other. Amounts: tokens in full while the native coin can pay their fee, the native coin less
// every fee cap (sweep-plan.ts); Bitcoin, all UTXOs in one PSBT to the successor (bitcoin-sweep-psbt.ts), when a
// client lists them. A chain without a client, an asset left unswept, a proposal refused: recorded as
// key.sweep_skipped with the reason. Exactly once per old key and asset: each proposal is made under an advisory
// lock per old key, after looking for an earlier sweep of that asset (any state) or an earlier skip, so a repeated
// or concurrent job proposes and records nothing twice. Chain reads happen outside any transaction.
// It never proposes anything but a withdrawal to the successor, and never skips a quorum (successor-rule.ts
// is what lets the deactivated key sign exactly that).
import "server-only";
import { and, eq, sql } from "drizzle-orm";
import type { Db, Tx } from "@/db/client";
import { auditEvents, keys, operations } from "@/db/schema";
import { appendAudit } from "@/server/audit/append";
import type { ChainConfig } from "@/server/chains/config";
import type { ChainClients } from "@/server/chains/registry";
import { AssetNotOnChainError, type BitcoinClient } from "@/server/chains/types";
import { addressOn, chainsOfCurve } from "@/server/custody/addresses";
import { formatAssetAmount, nativeAsset } from "@/server/custody/assets";
import { gasLimitFor, suggestFees } from "@/server/custody/ethereum";
import { SOLANA_FEES } from "@/server/custody/solana";
import type { Asset, Chain } from "@/server/custody/types";
import { AppError } from "@/server/errors";
import { proposeAsSystem } from "@/server/operations/propose";
import { formatUnits } from "@/server/policy/amounts";
import { buildSweepPsbt, type SweepUtxo } from "./bitcoin-sweep-psbt";
import { networkOfChain } from "./prepare";
import type { RotationSweepJobPayload } from "./rotation-sweep-job";
import { planSweeps, type SweepHolding } from "./sweep-plan";

/** Arbitrary constant naming the per-old-key advisory lock ("KWSW"); the second key is hashtext(old key id). */
const SWEEP_LOCK_KEY = 0x4b575357;

const CHAIN_NAMES: Record<Chain, string> = { bitcoin: "Bitcoin", ethereum: "Ethereum", solana: "Solana" };

export type RotationSweepReport = {
  proposed: { chain: Chain; asset: string; operationId: string; amount: string }[];
  /** Swept (or skipped) by an earlier run: nothing new. */
  existing: { chain: Chain; asset: string | null; operationId: string | null }[];
  skipped: { chain: Chain; asset: string | null; reason: string }[];
};

export type RotationSweepDeps = {
  db: Db;
  now: Date;
  /** The registry's clients; a Bitcoin client (UTXO list and raw transactions) where one is available. */
  clients: ChainClients & { bitcoin?: BitcoinClient | null };
  chains: Pick<ChainConfig, "networks" | "assets">;
};

type KeyRow = typeof keys.$inferSelect;
type Found =
  | {
      holdings: { native: SweepHolding; tokens: SweepHolding[] };
      /** Tokens the node does not have (AssetNotOnChainError): skipped with the reason, the others swept. */
      unreadable: { asset: Asset; reason: string }[];
    }
  | { skip: string };

/** One run of the job: every chain of the old key's curve, every configured asset there. */
export async function runRotationSweep(
  deps: RotationSweepDeps,
  input: RotationSweepJobPayload,
): Promise<RotationSweepReport> {
  const report: RotationSweepReport = { proposed: [], existing: [], skipped: [] };
  const [old] = await deps.db.select().from(keys).where(eq(keys.id, input.predecessorId));
  const [successor] = await deps.db.select().from(keys).where(eq(keys.id, input.successorId));
  if (old === undefined || successor === undefined) return report;
  const { networks } = deps.chains;
  for (const chain of chainsOfCurve(old.curve)) {
    const from = addressOn(old, chain, networks);
    const to = addressOn(successor, chain, networks);
    if (from === null || to === null) continue;
    const ids = { keyId: old.id, successorId: successor.id, chain };
    if (chain === "bitcoin") {
      await sweepBitcoin(deps, report, { old, successor, from, to, ids });
      continue;
    }
    const found = await holdingsOn(deps, { chain, from, to });
    if ("skip" in found) {
      await decideOnce(deps, report, { ...ids, asset: null }, async () => ({ skip: found.skip }));
      continue;
    }
    for (const u of found.unreadable) {
      const skip = `cannot read the old key's ${u.asset.symbol} balance: ${u.reason}`;
      await decideOnce(deps, report, { ...ids, asset: u.asset.symbol }, async () => ({ skip }));
    }
    const plan = planSweeps(found.holdings.native, found.holdings.tokens);
    for (const s of plan.skipped) {
      await decideOnce(deps, report, { ...ids, asset: s.asset.symbol }, async () => ({ skip: s.reason }));
    }
    for (const sweep of plan.sweeps) {
      const native = found.holdings.native.asset;
      await decideOnce(deps, report, { ...ids, asset: sweep.asset.symbol }, async (tx) => {
        const payload = {
          keyId: old.id,
          chain,
          network: networkOfChain(networks, chain),
          asset: sweep.asset.symbol,
          amount: formatUnits(sweep.amount, sweep.asset.decimals),
          destination: to,
          feeCap: formatUnits(sweep.feeCap, native.decimals),
          note: sweepNote(old, successor, sweep.asset),
        };
        return proposeSweep(tx, deps.now, payload, formatAssetAmount(sweep.amount, sweep.asset));
      });
    }
  }
  return report;
}

/** Proposes one sweep withdrawal in a savepoint: a refusal (policy, bad input) becomes the skip's reason. */
async function proposeSweep(
  tx: Tx,
  now: Date,
  payload: Record<string, string>,
  words: string,
): Promise<Decision> {
  try {
    const op = await tx.transaction((sp) =>
      proposeAsSystem(sp, { system: "rotation-sweep", kind: "withdrawal", payload, now }),
    );
    return { operationId: op.id, amount: words };
  } catch (e) {
    if (!(e instanceof AppError) || (e.code !== "CONFLICT" && e.code !== "BAD_INPUT")) throw e;
    return { skip: `the withdrawal was not proposed: ${e.message}` };
  }
}

/**
 * Bitcoin: every UTXO of the old key spent to the successor in one PSBT (bitcoin-sweep-psbt.ts), fee at the node's
 * 6-block rate, the fee cap exactly that fee. Needs a client that lists UTXOs and previous transactions; the
 * registry has none today, so without one the chain is skipped with the reason.
 */
async function sweepBitcoin(
  deps: RotationSweepDeps,
  report: RotationSweepReport,
  input: {
    old: KeyRow;
    successor: KeyRow;
    from: string;
    to: string;
    ids: { keyId: string; successorId: string; chain: Chain };
  },
): Promise<void> {
  const { old, successor, from, to, ids } = input;
  const client = deps.clients.bitcoin ?? null;
  const listUtxos = client?.utxos?.bind(client);
  const previousOf = client?.transactionHex?.bind(client);
  const btc = nativeAsset(deps.chains.assets, "bitcoin");
  if (client === null || listUtxos === undefined || previousOf === undefined) {
    const skip =
      "Keyward has no Bitcoin node client to list the old key's UTXOs with, so its BTC (if any) is not swept " +
      `automatically: propose a withdrawal to the successor's address ${to} with a PSBT from the wallet backend`;
    await decideOnce(deps, report, { ...ids, asset: null }, async () => ({ skip }));
    return;
  }
  const found = await listUtxos(from);
  if (found.length === 0) return;
  const previous = new Map<string, string | null>();
  for (const u of found) if (!previous.has(u.txid)) previous.set(u.txid, await previousOf(u.txid));
  const utxos: SweepUtxo[] = [];
  for (const u of found) {
    const previousHex = previous.get(u.txid);
    if (previousHex === null || previousHex === undefined) {
      const skip = `the Bitcoin node does not give the previous transaction ${u.txid} of a UTXO, which the PSBT must carry`;
      await decideOnce(deps, report, { ...ids, asset: btc.symbol }, async () => ({ skip }));
      return;
    }
    utxos.push({ ...u, previousHex });
  }
  const network = deps.chains.networks.bitcoin;
  const feeRate = await client.feeRate(6);
  await decideOnce(deps, report, { ...ids, asset: btc.symbol }, async (tx) => {
    const built = buildSweepPsbt({ network, from, destination: to, utxos, feeRate });
    if ("skip" in built) return { skip: built.skip };
    const payload = {
      keyId: old.id,
      chain: "bitcoin",
      network,
      asset: btc.symbol,
      amount: formatUnits(built.amount, btc.decimals),
      destination: to,
      feeCap: formatUnits(built.fee, btc.decimals),
      psbt: built.psbt,
      note: sweepNote(old, successor, btc),
    };
    return proposeSweep(tx, deps.now, payload, formatAssetAmount(built.amount, btc));
  });
}

function sweepNote(old: KeyRow, successor: KeyRow, asset: Asset): string {
  const text = `Rotation sweep: the key “${old.label}” was rotated; this moves its ${asset.symbol} to its successor “${successor.label}”.`;
  return text.length <= 500
    ? text
    : `Rotation sweep of ${asset.symbol} to the successor key ${successor.id}.`;
}

/** The old key's balance of each configured asset on `chain`, with each transfer's fee cap; or why not read. */
async function holdingsOn(
  deps: RotationSweepDeps,
  input: { chain: Chain; from: string; to: string },
): Promise<Found> {
  const { chain, from, to } = input;
  const assets = deps.chains.assets.filter((a) => a.chain === chain);
  const native = nativeAsset(deps.chains.assets, chain);
  const tokens = assets.filter((a) => a.kind !== "native");
  if (chain === "ethereum") {
    const client = deps.clients.ethereum;
    if (client === null) return { skip: noClient(chain, "KEYWARD_ETHEREUM_RPC_URL", to) };
    const maxFeePerGas = suggestFees(await client.fees()).maxFeePerGas;
    const holding = async (asset: Asset): Promise<SweepHolding> => ({
      asset,
      balance: await client.balance(from, asset),
      feeCap: gasLimitFor(asset) * maxFeePerGas,
    });
    return readHoldings(holding, native, tokens);
  }
  const client = deps.clients.solana;
  if (client === null || chain !== "solana") return { skip: noClient(chain, "KEYWARD_SOLANA_RPC_URL", to) };
  const holding = async (asset: Asset): Promise<SweepHolding> => ({
    asset,
    balance: await client.balance(from, asset),
    // An SPL transfer also pays the deposit of the successor's token account when it has none yet.
    feeCap:
      SOLANA_FEES.lamportsPerSignature +
      (asset.kind === "spl" && !(await client.hasTokenAccount(to, asset))
        ? SOLANA_FEES.tokenAccountRent
        : 0n),
  });
  return readHoldings(holding, native, tokens);
}

/** The native coin's holding and each token's; a token the node does not have is set aside with the reason. */
async function readHoldings(
  holding: (asset: Asset) => Promise<SweepHolding>,
  native: Asset,
  tokens: Asset[],
): Promise<Found> {
  const held: SweepHolding[] = [];
  const unreadable: { asset: Asset; reason: string }[] = [];
  await Promise.all(
    tokens.map(async (asset) => {
      try {
        held.push(await holding(asset));
      } catch (e) {
        if (!(e instanceof AssetNotOnChainError)) throw e;
        unreadable.push({ asset, reason: e.message });
      }
    }),
  );
  // In the asset list's order, whatever order the node answered in.
  const order = (a: { asset: Asset }) => tokens.indexOf(a.asset);
  held.sort((a, b) => order(a) - order(b));
  unreadable.sort((a, b) => order(a) - order(b));
  return { holdings: { native: await holding(native), tokens: held }, unreadable };
}

function noClient(chain: Chain, variable: string, to: string): string {
  return (
    `no ${CHAIN_NAMES[chain]} RPC endpoint is configured (${variable}), so Keyward cannot read the old key's ` +
    `balances: propose its withdrawals to the successor's address ${to} by hand`
  );
}

type Decision = { operationId: string; amount: string } | { skip: string };

/**
 * Decides one old key + chain + asset (asset null: the whole chain) exactly once: under the old key's advisory
 * lock, an earlier sweep withdrawal of it (any state) or an earlier skip means nothing new; otherwise `decide`
 * proposes (or says why not), and a skip is recorded as key.sweep_skipped, all in this transaction.
 */
async function decideOnce(
  deps: RotationSweepDeps,
  report: RotationSweepReport,
  item: { keyId: string; successorId: string; chain: Chain; asset: string | null },
  decide: (tx: Tx) => Promise<Decision>,
): Promise<void> {
  await deps.db.transaction(async (tx) => {
    await tx.execute(sql`SELECT pg_advisory_xact_lock(${SWEEP_LOCK_KEY}, hashtext(${item.keyId}))`);
    const earlier = await earlierDecision(tx, item);
    if (earlier !== null) {
      report.existing.push({ chain: item.chain, asset: item.asset, operationId: earlier.operationId });
      return;
    }
    const decision = await decide(tx);
    if ("skip" in decision) {
      await appendAudit(tx, {
        action: "key.sweep_skipped",
        actor: "system",
        subject: `key:${item.keyId}`,
        at: deps.now,
        data: { ...item, reason: decision.skip.slice(0, 1000) },
      });
      report.skipped.push({ chain: item.chain, asset: item.asset, reason: decision.skip });
      return;
    }
    if (item.asset !== null) report.proposed.push({ chain: item.chain, asset: item.asset, ...decision });
  });
}

async function earlierDecision(
  tx: Tx,
  item: { keyId: string; chain: Chain; asset: string | null },
): Promise<{ operationId: string | null } | null> {
  if (item.asset !== null) {
    const [op] = await tx
      .select({ id: operations.id })
      .from(operations)
      .where(
        and(
          eq(operations.kind, "withdrawal"),
          eq(operations.systemInitiator, "rotation-sweep"),
          sql`${operations.payload}->>'keyId' = ${item.keyId}`,
          sql`${operations.payload}->>'chain' = ${item.chain}`,
          sql`${operations.payload}->>'asset' = ${item.asset}`,
        ),
      )
      .limit(1);
    if (op !== undefined) return { operationId: op.id };
  }
  const [skip] = await tx
    .select({ id: auditEvents.id })
    .from(auditEvents)
    .where(
      and(
        eq(auditEvents.action, "key.sweep_skipped"),
        eq(auditEvents.subject, `key:${item.keyId}`),
        sql`${auditEvents.data}->>'chain' = ${item.chain}`,
        item.asset === null
          ? sql`${auditEvents.data}->>'asset' IS NULL`
          : sql`${auditEvents.data}->>'asset' = ${item.asset}`,
      ),
    )
    .limit(1);
  return skip === undefined ? null : { operationId: null };
}
