// BitcoinClient over an Esplora HTTP API (Blockstream's electrs, mempool.space, or a self-hosted one): fee rate,
// balance, broadcast, and a broadcast's fate. A transaction the node no longer knows is dead only when another
// transaction that spends one of its inputs is confirmed (then it can never confirm); while a conflict is only in
// the mempool, or nothing spends its inputs, it is "unknown" — never re-sent as a new transaction from here.
// Talks only to the configured base URL; never logs the raw transaction.
import { Transaction } from "bitcoinjs-lib";
import { z } from "zod";
import type { BitcoinClient, BroadcastStatus } from "./types";

/** The node answered with an error, or not at all; the message names the request and the node's words. */
export class EsploraError extends Error {
  override name = "EsploraError";
}

// The parts of Esplora's answers read here; anything else in them is ignored.
const txStatus = z.object({
  confirmed: z.boolean(),
  block_height: z.number().int().optional(),
  block_hash: z.string().optional(),
});
const outspend = z.object({ spent: z.boolean(), txid: z.string().optional(), status: txStatus.optional() });
const stats = z.object({ funded_txo_sum: z.number().int(), spent_txo_sum: z.number().int() });
const addressInfo = z.object({ chain_stats: stats, mempool_stats: stats });
const feeEstimates = z.record(z.string(), z.number());

export type EsploraOptions = {
  /** e.g. "https://blockstream.info/testnet/api" (no trailing slash needed). */
  baseUrl: string;
  /** Per request (default 10 s). */
  timeoutMs?: number;
  fetch?: typeof fetch;
};

/** GET /address/:address/utxo (Esplora): the unspent outputs, amounts in satoshis. */
const utxoList = z.array(
  z.object({
    txid: z.string().regex(/^[0-9a-f]{64}$/),
    vout: z.number().int().min(0),
    value: z.number().int().min(0),
  }),
);

export function esploraClient(options: EsploraOptions): BitcoinClient {
  const base = options.baseUrl.replace(/\/+$/, "");
  const timeoutMs = options.timeoutMs ?? 10_000;
  const doFetch = options.fetch ?? fetch;

  async function request(path: string, init?: RequestInit): Promise<Response | undefined> {
    let response: Response;
    try {
      response = await doFetch(`${base}${path}`, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    } catch (e) {
      throw new EsploraError(
        `The Bitcoin node at ${base} did not answer ${path}: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
    if (response.status === 404) return undefined;
    if (!response.ok) {
      const body = (await response.text()).slice(0, 300);
      throw new EsploraError(`The Bitcoin node refused ${path} (HTTP ${response.status}): ${body}`);
    }
    return response;
  }

  async function json<T>(path: string, schema: z.ZodType<T>): Promise<T | undefined> {
    const response = await request(path);
    if (response === undefined) return undefined;
    let body: unknown;
    try {
      body = await response.json();
    } catch {
      throw new EsploraError(`The Bitcoin node's answer to ${path} is not JSON.`);
    }
    const parsed = schema.safeParse(body);
    if (!parsed.success)
      throw new EsploraError(`The Bitcoin node's answer to ${path} is not what Esplora sends.`);
    return parsed.data;
  }

  async function tipHeight(): Promise<number> {
    const response = await request("/blocks/tip/height");
    const height = Number(await response?.text());
    if (!Number.isSafeInteger(height)) throw new EsploraError("The Bitcoin node gave no tip height.");
    return height;
  }

  return {
    async feeRate(blocks = 6) {
      const estimates = await json("/fee-estimates", feeEstimates);
      if (estimates === undefined) throw new EsploraError("The Bitcoin node has no fee estimates.");
      // The estimate for the largest target within `blocks` (Esplora gives 1–25, 144, 504, 1008).
      const targets = Object.keys(estimates)
        .map(Number)
        .filter((t) => Number.isInteger(t) && t <= blocks && typeof estimates[String(t)] === "number")
        .sort((a, b) => b - a);
      const best = targets[0];
      const rate = best === undefined ? undefined : estimates[String(best)];
      if (rate === undefined || !(rate > 0)) {
        throw new EsploraError(`The Bitcoin node has no fee estimate for ${blocks} blocks.`);
      }
      return rate;
    },

    async utxos(address) {
      const list = await json(`/address/${encodeURIComponent(address)}/utxo`, utxoList);
      return (list ?? []).map((u) => ({ txid: u.txid, vout: u.vout, value: BigInt(u.value) }));
    },

    async transactionHex(txid) {
      if (!/^[0-9a-f]{64}$/.test(txid)) throw new EsploraError(`${txid} is not a transaction id.`);
      const response = await request(`/tx/${txid}/hex`);
      if (response === undefined) return null;
      const hex = (await response.text()).trim();
      if (!/^([0-9a-f]{2})+$/.test(hex))
        throw new EsploraError(`The Bitcoin node's answer to /tx/${txid}/hex is not a raw transaction.`);
      return hex;
    },

    async balance(address) {
      const info = await json(`/address/${encodeURIComponent(address)}`, addressInfo);
      if (info === undefined) return 0n;
      const sum = (s: z.infer<typeof stats>) => BigInt(s.funded_txo_sum) - BigInt(s.spent_txo_sum);
      return sum(info.chain_stats) + sum(info.mempool_stats);
    },

    async broadcast(raw) {
      const response = await request("/tx", {
        method: "POST",
        headers: { "content-type": "text/plain" },
        body: raw,
      });
      const txid = (await response?.text())?.trim() ?? "";
      if (!/^[0-9a-f]{64}$/.test(txid))
        throw new EsploraError(`The Bitcoin node answered the broadcast with "${txid}".`);
      return txid;
    },

    async status(txid, sent): Promise<BroadcastStatus> {
      const status = await json(`/tx/${txid}/status`, txStatus);
      if (status?.confirmed) {
        if (status.block_height === undefined || status.block_hash === undefined) {
          throw new EsploraError(`The Bitcoin node says ${txid} is confirmed but names no block.`);
        }
        // Esplora answers from its index of the best chain: a transaction whose block was reorganised away is
        // unconfirmed (or unknown) here, or confirmed in another block — the tracker compares the hash it saw.
        return {
          state: "confirmed",
          confirmations: (await tipHeight()) - status.block_height + 1,
          block: status.block_hash,
          height: status.block_height,
        };
      }
      if (status !== undefined) return { state: "pending" };
      // Unknown to the node: dead if a confirmed transaction spent one of its inputs.
      const tx = Transaction.fromHex(sent.raw);
      for (const input of tx.ins) {
        const prevout = `${Buffer.from(input.hash).reverse().toString("hex")}:${input.index}`;
        const spend = await json(`/tx/${prevout.replace(":", "/outspend/")}`, outspend);
        if (spend?.spent && spend.txid !== undefined && spend.txid !== txid && spend.status?.confirmed) {
          return {
            state: "dead",
            reason: `Its input ${prevout} was spent by ${spend.txid}, confirmed in block ${spend.status.block_height ?? "?"}.`,
          };
        }
      }
      return { state: "unknown" };
    },
  };
}
