// What the console shows of withdrawals: the list (each operation with its transaction's state), one operation's
// withdrawal section (the approved intent and, once built, the transaction decoded from its bytes), the signed
// transaction as a download, what the propose form offers (keys with their addresses, assets, whether a node is
// configured) and the chain's current fee estimate. Reads only; every reader is behind a role in the router.
import "server-only";
import { and, desc, eq, inArray, lt } from "drizzle-orm";
import type { Db } from "@/db/client";
import { keys, operations, type Withdrawal, withdrawals } from "@/db/schema";
import { appendAudit } from "@/server/audit/append";
import type { ChainConfig } from "@/server/chains/config";
import { chainConfig } from "@/server/chains/current";
import { type ChainClients, chainClients } from "@/server/chains/registry";
import { addressesOf } from "@/server/custody/addresses";
import { findConfiguredAsset, formatAssetAmount, NATIVE_ASSETS } from "@/server/custody/assets";
import { decodeUnsigned } from "@/server/custody";
import { decodePsbt } from "@/server/custody/bitcoin";
import { gasLimitFor } from "@/server/custody/ethereum";
import { SOLANA_FEES } from "@/server/custody/solana";
import type { Chain } from "@/server/custody/types";
import { AppError } from "@/server/errors";
import type { Acting } from "@/server/members/guards";
import { memberWithRole } from "@/server/operations/actors";
import { describeWithdrawal } from "@/server/operations/kinds/withdrawal";
import { type WithdrawalPayload, withdrawalPayloadSchema } from "@/server/operations/kinds/withdrawal-schema";
import { networkOfChain } from "./prepare";
import { importedBytes } from "./prepare-imported";
import { minedReplacementsOf } from "./speedup-read";

export type WithdrawalListItem = {
  operationId: string;
  operationState: string;
  createdAt: Date;
  chain: Chain;
  asset: string;
  amount: string;
  amountWords: string;
  destination: string;
  keyLabel: string;
  /** The transaction's state, or null until the executor built it. */
  transaction: { state: Withdrawal["state"]; txid: string | null; confirmations: number } | null;
};

const PAGE = 50;

function parsePayload(payload: unknown): WithdrawalPayload | null {
  const parsed = withdrawalPayloadSchema.safeParse(payload);
  return parsed.success ? parsed.data : null;
}

const amountWords = (p: WithdrawalPayload) =>
  formatAssetAmount(BigInt(p.amount), { symbol: p.asset, decimals: p.decimals });

/** Newest first, 50 a page (`before`: the createdAt of the last one seen). */
export async function listWithdrawals(
  db: Db,
  input: { chain?: Chain; before?: Date },
): Promise<{ items: WithdrawalListItem[]; next: Date | null }> {
  const rows = await db
    .select({ op: operations, tx: withdrawals })
    .from(operations)
    .leftJoin(withdrawals, eq(withdrawals.operationId, operations.id))
    .where(
      and(
        eq(operations.kind, "withdrawal"),
        input.before !== undefined ? lt(operations.createdAt, input.before) : undefined,
      ),
    )
    .orderBy(desc(operations.createdAt), desc(operations.id))
    .limit(PAGE + 1);
  const items: WithdrawalListItem[] = [];
  // A withdrawal sped up shows the replacement that took its nonce, not its own dead transaction.
  const replaced = await minedReplacementsOf(
    db,
    rows.slice(0, PAGE).flatMap(({ op, tx }) => (tx?.chain === "ethereum" ? [op.id] : [])),
  );
  for (const { op, tx } of rows.slice(0, PAGE)) {
    const p = parsePayload(op.payload);
    if (p === null || (input.chain !== undefined && p.chain !== input.chain)) continue;
    items.push({
      operationId: op.id,
      operationState: op.state,
      createdAt: op.createdAt,
      chain: p.chain,
      asset: p.asset,
      amount: p.amount,
      amountWords: amountWords(p),
      destination: p.destination,
      keyLabel: p.keyLabel,
      transaction:
        tx === null
          ? null
          : (replaced.get(op.id) ?? { state: tx.state, txid: tx.txid, confirmations: tx.confirmations }),
    });
  }
  const last = rows[PAGE - 1];
  return { items, next: rows.length > PAGE && last ? last.op.createdAt : null };
}

export type WithdrawalSection = {
  title: string;
  intent: { label: string; value: string }[];
  /** Once built: what the executor signed (or will sign), decoded from the stored bytes. */
  transaction: {
    state: Withdrawal["state"];
    txid: string | null;
    nonce: string | null;
    confirmations: number;
    reason: string | null;
    lines: { label: string; value: string }[];
    /** Whether the signed transaction can be downloaded (signed, and no node configured to broadcast it). */
    downloadable: boolean;
    broadcastByKeyward: boolean;
  } | null;
};

/** The operation page's withdrawal section, or null when the operation is not a withdrawal. */
export async function withdrawalSection(db: Db, operationId: string): Promise<WithdrawalSection | null> {
  const [op] = await db.select().from(operations).where(eq(operations.id, operationId));
  if (op === undefined || op.kind !== "withdrawal") return null;
  const p = parsePayload(op.payload);
  if (p === null) return null;
  const display = describeWithdrawal(p);
  const [tx] = await db.select().from(withdrawals).where(eq(withdrawals.operationId, operationId));
  const rpc = chainConfig().rpc;
  const broadcastByKeyward =
    p.chain === "ethereum" ? rpc.ethereum !== null : p.chain === "solana" ? rpc.solana !== null : false;
  return {
    title: display.title,
    intent: display.lines,
    transaction:
      tx === undefined
        ? null
        : {
            state: tx.state,
            txid: tx.txid,
            nonce: tx.nonce,
            confirmations: tx.confirmations,
            reason: tx.reason,
            lines: decodedLines(tx.decoded),
            downloadable: tx.raw !== null && tx.state === "signed" && !broadcastByKeyward,
            broadcastByKeyward,
          },
  };
}

function decodedLines(decoded: unknown): { label: string; value: string }[] {
  if (
    typeof decoded !== "object" ||
    decoded === null ||
    !("lines" in decoded) ||
    !Array.isArray(decoded.lines)
  )
    return [];
  return decoded.lines.flatMap((l: unknown) =>
    typeof l === "object" &&
    l !== null &&
    "label" in l &&
    "value" in l &&
    typeof l.label === "string" &&
    typeof l.value === "string"
      ? [{ label: l.label, value: l.value }]
      : [],
  );
}

/** Who may take a signed transaction away as a file. */
export const DOWNLOADERS = ["operator", "admin"] as const;

/**
 * The signed transaction as a file: Ethereum 0x-hex, Bitcoin hex, Solana base64 — what each chain's node takes.
 * Each download is audited (withdrawal.downloaded, who and which) in the transaction that reads it; the member's
 * role is read again there, so one demoted or suspended since their session began takes nothing.
 */
export async function signedTransactionFile(
  db: Db,
  input: { actor: Acting; operationId: string; now: Date },
): Promise<{ filename: string; contents: string; txid: string; chain: string }> {
  return db.transaction(async (tx) => {
    const member = await memberWithRole(tx, input.actor.id, DOWNLOADERS, "download a signed transaction");
    const [row] = await tx.select().from(withdrawals).where(eq(withdrawals.operationId, input.operationId));
    if (row === undefined || row.raw === null || row.txid === null) {
      throw new AppError("NOT_FOUND", "This withdrawal has no signed transaction (yet).");
    }
    await appendAudit(tx, {
      action: "withdrawal.downloaded",
      data: {
        operationId: input.operationId,
        withdrawalId: row.id,
        chain: row.chain as Chain,
        txid: row.txid,
        memberId: member.id,
      },
      actor: `member:${member.id}`,
      subject: `operation:${input.operationId}`,
      at: input.now,
    });
    const ext = row.chain === "solana" ? "base64" : "hex";
    return {
      filename: `keyward-${row.chain}-${row.txid.slice(0, 16)}.${ext}.txt`,
      contents: row.raw,
      txid: row.txid,
      chain: row.chain,
    };
  });
}

export type FormOptions = {
  assets: { chain: Chain; symbol: string; name: string; decimals: number; kind: string }[];
  networks: Record<Chain, string>;
  nodes: Record<Chain, boolean>;
  keys: { id: string; label: string; curve: string; addresses: { chain: Chain; address: string }[] }[];
};

/** What the propose form offers: active keys with their addresses (first 500), the assets, the networks. */
export async function withdrawalFormOptions(
  db: Db,
  config: ChainConfig = chainConfig(),
): Promise<FormOptions> {
  const rows = await db
    .select({ id: keys.id, label: keys.label, curve: keys.curve, publicKey: keys.publicKey })
    .from(keys)
    .where(and(eq(keys.state, "active"), inArray(keys.curve, ["secp256k1", "ed25519"])))
    .orderBy(keys.label)
    .limit(500);
  return {
    assets: config.assets.map((a) => ({
      chain: a.chain,
      symbol: a.symbol,
      name: a.name,
      decimals: a.decimals,
      kind: a.kind,
    })),
    networks: {
      bitcoin: networkOfChain(config.networks, "bitcoin"),
      ethereum: networkOfChain(config.networks, "ethereum"),
      solana: networkOfChain(config.networks, "solana"),
    },
    nodes: {
      bitcoin: (config.rpc.bitcoin ?? null) !== null,
      ethereum: config.rpc.ethereum !== null,
      solana: config.rpc.solana !== null,
    },
    keys: rows.map((k) => ({
      id: k.id,
      label: k.label,
      curve: k.curve,
      addresses: addressesOf(k, config.networks).map((a) => ({ chain: a.chain, address: a.address })),
    })),
  };
}

/** The chain's fee for a transfer of `asset` now, in the native coin, or null without a node (Bitcoin: from the PSBT). */
export async function feeEstimate(
  input: { chain: Chain; asset: string },
  clients: ChainClients = chainClients(),
  config: Pick<ChainConfig, "assets"> = chainConfig(),
): Promise<{ estimate: string | null; words: string }> {
  const asset = findConfiguredAsset(config.assets, input.chain, input.asset);
  if (asset === undefined)
    throw new AppError("BAD_INPUT", `asset: ${input.asset} is not configured on ${input.chain}.`, {
      field: "asset",
    });
  const native = NATIVE_ASSETS[input.chain];
  if (input.chain === "ethereum") {
    if (clients.ethereum === null)
      return {
        estimate: null,
        words: "no Ethereum node is configured: the fee is not known until broadcast",
      };
    const fees = await clients.ethereum.fees();
    const gas = gasLimitFor(asset);
    const now = gas * (fees.baseFeePerGas + fees.maxPriorityFeePerGas);
    const max = gas * (2n * fees.baseFeePerGas + fees.maxPriorityFeePerGas);
    return {
      estimate: now.toString(),
      words: `about ${formatAssetAmount(now, native)} now (${gas} gas); allow up to ${formatAssetAmount(max, native)} for rising fees`,
    };
  }
  if (input.chain === "solana") {
    const fee = SOLANA_FEES.lamportsPerSignature + (asset.kind === "spl" ? SOLANA_FEES.tokenAccountRent : 0n);
    return {
      estimate: fee.toString(),
      words:
        asset.kind === "spl"
          ? `at most ${formatAssetAmount(fee, native)}: the fee and the deposit for the destination's token account if it has none`
          : `${formatAssetAmount(fee, native)} (one signature)`,
    };
  }
  return { estimate: null, words: "the PSBT's inputs minus its outputs: shown once the PSBT is uploaded" };
}

/** A PSBT as the form shows it before proposing: decoded for the key's address, or why it cannot be. */
export async function previewPsbt(
  db: Db,
  input: { keyId: string; psbt: string },
  config: Pick<ChainConfig, "networks"> = chainConfig(),
): Promise<
  { ok: true; lines: { label: string; value: string }[]; fee: string } | { ok: false; reason: string }
> {
  const [key] = await db.select().from(keys).where(eq(keys.id, input.keyId));
  if (key === undefined) throw new AppError("NOT_FOUND", `keyId: no key ${input.keyId}.`, { field: "keyId" });
  const from = addressesOf(key, config.networks).find((a) => a.chain === "bitcoin")?.address;
  if (from === undefined) return { ok: false, reason: `The key is ${key.curve}: it has no Bitcoin address.` };
  try {
    const decoded = decodePsbt(input.psbt, config.networks.bitcoin, from);
    return { ok: true, lines: decoded.lines, fee: decoded.maxFee.toString() };
  } catch (e) {
    return { ok: false, reason: e instanceof Error ? e.message : "The PSBT cannot be read." };
  }
}

/**
 * The wallet backend's unsigned Ethereum or Solana transaction, decoded for the form before anything is proposed
 * (what the approvers will see: recipient, amount, chain id, nonce, fees; the fee payer). Read-only: proposing
 * checks it again against the fields (prepare-imported.ts), and the executor once more before signing.
 */
export async function previewImported(
  db: Db,
  input: { keyId: string; chain: "ethereum" | "solana"; unsignedTransaction: string },
  config: Pick<ChainConfig, "networks" | "assets"> = chainConfig(),
): Promise<
  { ok: true; lines: { label: string; value: string }[]; fee: string } | { ok: false; reason: string }
> {
  const [key] = await db.select().from(keys).where(eq(keys.id, input.keyId));
  if (key === undefined) throw new AppError("NOT_FOUND", `keyId: no key ${input.keyId}.`, { field: "keyId" });
  const name = input.chain === "ethereum" ? "Ethereum" : "Solana";
  const from = addressesOf(key, config.networks).find((a) => a.chain === input.chain)?.address;
  if (from === undefined) return { ok: false, reason: `The key is ${key.curve}: it has no ${name} address.` };
  try {
    const unsigned = importedBytes(input.chain, input.unsignedTransaction);
    const decoded = decodeUnsigned(input.chain, unsigned, {
      networks: config.networks,
      assets: config.assets,
      from,
    });
    return { ok: true, lines: decoded.lines, fee: decoded.maxFee.toString() };
  } catch (e) {
    // The form shows it beside the field: without the field's name in front.
    const reason = e instanceof Error ? e.message.replace(/^payload\.unsignedTransaction: /, "") : null;
    return { ok: false, reason: reason ?? `The ${name} transaction cannot be read.` };
  }
}
