// Unit test of the Esplora client against a local node:http fake that answers as Esplora does (fee-estimates,
// address stats, POST /tx, tx status, outspends, tip height): each BroadcastStatus, and the node's errors in words.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Transaction } from "bitcoinjs-lib";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { fakeUtxos } from "@/server/custody/testing/psbt";
import { EsploraError, esploraClient } from "./bitcoin-esplora";
import type { BitcoinClient } from "./types";

const ADDRESS = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";
const [utxo] = fakeUtxos(ADDRESS, [50_000n], "regtest");
if (utxo === undefined) throw new Error("no utxo");
const tx = new Transaction();
tx.addInput(Buffer.from(utxo.txid, "hex").reverse(), utxo.vout);
tx.addOutput(utxo.script, 49_000n);
const RAW = tx.toHex();
const TXID = tx.getId();
const OTHER = "ab".repeat(32);

type Routes = Record<string, { status?: number; body: string } | undefined>;
let routes: Routes = {};
const seen: { method: string; url: string; body: string }[] = [];
let server: Server;
let client: BitcoinClient;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => {
      body += chunk;
    });
    req.on("end", () => {
      seen.push({ method: req.method ?? "", url: req.url ?? "", body });
      const route = routes[`${req.method} ${req.url}`];
      res.statusCode = route?.status ?? (route ? 200 : 404);
      res.end(route?.body ?? "Not Found");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  client = esploraClient({ baseUrl: `http://127.0.0.1:${port}/api/`, timeoutMs: 2_000 });
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

beforeEach(() => {
  routes = {};
  seen.length = 0;
});

const ok = (value: unknown) => ({ body: typeof value === "string" ? value : JSON.stringify(value) });

describe("esploraClient", () => {
  it("reads the fee rate for a target, falling back to the nearest shorter one", async () => {
    routes["GET /api/fee-estimates"] = ok({ "1": 20.5, "3": 11.2, "6": 4.01, "144": 1.0 });
    expect(await client.feeRate()).toBe(4.01);
    expect(await client.feeRate(5)).toBe(11.2);
    expect(await client.feeRate(1000)).toBe(1.0);
    routes["GET /api/fee-estimates"] = ok({});
    await expect(client.feeRate()).rejects.toThrow("The Bitcoin node has no fee estimate for 6 blocks.");
    routes["GET /api/fee-estimates"] = ok({ "6": "cheap" });
    await expect(client.feeRate()).rejects.toThrow(
      "The Bitcoin node's answer to /fee-estimates is not what Esplora sends.",
    );
  });

  it("sums confirmed and mempool balances; an address never seen holds 0", async () => {
    routes[`GET /api/address/${ADDRESS}`] = ok({
      chain_stats: { funded_txo_sum: 150_000, spent_txo_sum: 50_000 },
      mempool_stats: { funded_txo_sum: 0, spent_txo_sum: 20_000 },
    });
    expect(await client.balance(ADDRESS)).toBe(80_000n);
    routes = {};
    expect(await client.balance(ADDRESS)).toBe(0n);
  });

  it("broadcasts the raw hex as text and returns the txid; a refusal carries the node's words", async () => {
    routes["POST /api/tx"] = ok(TXID);
    expect(await client.broadcast(RAW)).toBe(TXID);
    expect(seen.at(-1)).toEqual({ method: "POST", url: "/api/tx", body: RAW });
    routes["POST /api/tx"] = {
      status: 400,
      body: 'sendrawtransaction RPC error: {"code":-26,"message":"min relay fee not met"}',
    };
    await expect(client.broadcast(RAW)).rejects.toThrow(
      'The Bitcoin node refused /tx (HTTP 400): sendrawtransaction RPC error: {"code":-26,"message":"min relay fee not met"}',
    );
  });

  it("says pending, confirmed with its confirmations, dead when a confirmed transaction spent an input, else unknown", async () => {
    routes[`GET /api/tx/${TXID}/status`] = ok({ confirmed: false });
    expect(await client.status(TXID, { raw: RAW })).toEqual({ state: "pending" });

    routes[`GET /api/tx/${TXID}/status`] = ok({ confirmed: true, block_height: 100, block_hash: "00ff" });
    routes["GET /api/blocks/tip/height"] = ok("102");
    expect(await client.status(TXID, { raw: RAW })).toEqual({
      state: "confirmed",
      confirmations: 3,
      block: "00ff",
      height: 100,
    });

    routes = {};
    const outspend = `GET /api/tx/${utxo.txid}/outspend/${utxo.vout}`;
    routes[outspend] = ok({ spent: false });
    expect(await client.status(TXID, { raw: RAW })).toEqual({ state: "unknown" });
    // Spent by another transaction still in the mempool: it may be evicted, so not provably dead.
    routes[outspend] = ok({ spent: true, txid: OTHER, vin: 0, status: { confirmed: false } });
    expect(await client.status(TXID, { raw: RAW })).toEqual({ state: "unknown" });
    routes[outspend] = ok({
      spent: true,
      txid: OTHER,
      vin: 0,
      status: { confirmed: true, block_height: 120 },
    });
    expect(await client.status(TXID, { raw: RAW })).toEqual({
      state: "dead",
      reason: `Its input ${utxo.txid}:${utxo.vout} was spent by ${OTHER}, confirmed in block 120.`,
    });
  });

  it("names a node that does not answer", async () => {
    const down = esploraClient({ baseUrl: "http://127.0.0.1:1", timeoutMs: 1_000 });
    await expect(down.feeRate()).rejects.toBeInstanceOf(EsploraError);
    await expect(down.feeRate()).rejects.toThrow(
      /^The Bitcoin node at http:\/\/127\.0\.0\.1:1 did not answer \/fee-estimates: /,
    );
  });
});
