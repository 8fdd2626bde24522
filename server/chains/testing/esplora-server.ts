// Test helper: a real HTTP server (node:http, on 127.0.0.1 and a free port) that answers the Esplora endpoints
// Keyward's Esplora client uses (server/chains/bitcoin-esplora.ts), over a TestBitcoinChain — which validates
// every broadcast (each input an unspent P2WPKH output, the witness signature verified low-S against
// @scure/btc-signer's own BIP143 sighash, inputs covering outputs). So a test can point KEYWARD_BITCOIN_ESPLORA_URL
// at it and run the registry's own client, over HTTP, as against electrs or mempool.space. For tests only.
//
// Endpoints: GET /fee-estimates, /blocks/tip/height, /address/:a, /address/:a/utxo, /tx/:id/hex, /tx/:id/status,
// /tx/:id/outspend/:vout; POST /tx (raw hex in the body; 400 with the node's words when refused). Everything else
// answers 404, as Esplora does for what it does not know.
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { address as btcAddress, networks, Transaction } from "bitcoinjs-lib";
import type { FakeUtxo } from "@/server/custody/testing/psbt";
import type { TestBitcoinChain } from "@/server/custody/testing/btc-chain";
import type { BitcoinNetwork } from "@/server/custody/types";

export type TestEsplora = {
  /** The base URL to configure (KEYWARD_BITCOIN_ESPLORA_URL), e.g. http://127.0.0.1:40123/api. */
  url: string;
  chain: TestBitcoinChain;
  /** Every request as "METHOD /path" (below the base path), in order. */
  requests: string[];
  /** Confirmed UTXOs for `address` (TestBitcoinChain.fund), also listed by /address/:a/utxo. */
  fund(address: string, values: readonly bigint[]): FakeUtxo[];
  /** Someone else spends `outpoint` in a mined transaction (TestBitcoinChain.spendElsewhere). */
  spendElsewhere(outpoint: string): string;
  close(): Promise<void>;
};

const NETWORKS: Record<BitcoinNetwork, networks.Network> = {
  mainnet: networks.bitcoin,
  testnet: networks.testnet,
  regtest: networks.regtest,
};

type Unspent = { address: string; txid: string; vout: number; value: bigint };

function body(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => {
      text += chunk;
    });
    req.on("end", () => resolve(text));
    req.on("error", reject);
  });
}

export async function startTestEsplora(
  chain: TestBitcoinChain,
  options: { basePath?: string } = {},
): Promise<TestEsplora> {
  const basePath = options.basePath ?? "/api";
  const client = chain.client();
  const network = NETWORKS[chain.network];
  const requests: string[] = [];
  /** Raw transactions the node knows: funding transactions and accepted broadcasts. */
  const raws = new Map<string, string>();
  /** Outputs by "txid:vout" with their address, until spent. */
  const unspent = new Map<string, Unspent>();
  /** Which transaction spent an outpoint. */
  const spentBy = new Map<string, string>();
  /** Other people's spends (spendElsewhere): mined, with no raw transaction here. */
  const elsewhere = new Set<string>();

  const outputsOf = (tx: Transaction) => {
    const txid = tx.getId();
    tx.outs.forEach((out, vout) => {
      let address: string;
      try {
        address = btcAddress.fromOutputScript(out.script, network);
      } catch {
        return; // an output no address names (OP_RETURN): nobody's UTXO
      }
      unspent.set(`${txid}:${vout}`, { address, txid, vout, value: out.value });
    });
  };

  /** Esplora's tx status object, or undefined when the node does not know the transaction (404). */
  async function statusOf(txid: string) {
    const raw = raws.get(txid);
    if (raw === undefined && !elsewhere.has(txid)) return undefined;
    // The chain's own answer; a transaction it no longer holds (dropped, or dead) is unknown to the node: 404.
    const status = await client.status(txid, { raw: raw ?? "" });
    if (status.state === "pending") return { confirmed: false };
    if (status.state === "confirmed") {
      return {
        confirmed: true,
        block_height: chain.height - status.confirmations + 1,
        block_hash: status.block,
      };
    }
    return undefined;
  }

  async function answer(
    method: string,
    path: string,
    text: string,
  ): Promise<{ status: number; body: string }> {
    const ok = (value: unknown) => ({
      status: 200,
      body: typeof value === "string" ? value : JSON.stringify(value),
    });
    const notFound = { status: 404, body: "Not Found" };
    if (method === "POST" && path === "/tx") {
      const raw = text.trim();
      try {
        const txid = await client.broadcast(raw);
        const tx = Transaction.fromHex(raw);
        if (!raws.has(txid)) {
          raws.set(txid, raw);
          for (const input of tx.ins) {
            const outpoint = `${Buffer.from(input.hash).reverse().toString("hex")}:${input.index}`;
            unspent.delete(outpoint);
            spentBy.set(outpoint, txid);
          }
          outputsOf(tx);
        }
        return ok(txid);
      } catch (e) {
        return { status: 400, body: e instanceof Error ? e.message : String(e) };
      }
    }
    if (method !== "GET") return notFound;
    if (path === "/fee-estimates") {
      return ok(Object.fromEntries(Object.entries(chain.feeRates).map(([k, v]) => [String(k), v])));
    }
    if (path === "/blocks/tip/height") return ok(String(chain.height));
    let m = /^\/address\/([^/]+)\/utxo$/.exec(path);
    if (m) {
      const address = decodeURIComponent(m[1] ?? "");
      return ok(
        [...unspent.values()]
          .filter((u) => u.address === address)
          .map((u) => ({ txid: u.txid, vout: u.vout, value: Number(u.value), status: { confirmed: true } })),
      );
    }
    m = /^\/address\/([^/]+)$/.exec(path);
    if (m) {
      const held = await client.balance(decodeURIComponent(m[1] ?? ""));
      const stats = (funded: bigint) => ({ funded_txo_sum: Number(funded), spent_txo_sum: 0, tx_count: 0 });
      return ok({ address: m[1], chain_stats: stats(held), mempool_stats: stats(0n) });
    }
    m = /^\/tx\/([0-9a-f]{64})\/hex$/.exec(path);
    if (m) {
      const raw = raws.get(m[1] ?? "");
      return raw === undefined ? notFound : ok(raw);
    }
    m = /^\/tx\/([0-9a-f]{64})\/status$/.exec(path);
    if (m) {
      const status = await statusOf(m[1] ?? "");
      return status === undefined ? notFound : ok(status);
    }
    m = /^\/tx\/([0-9a-f]{64})\/outspend\/([0-9]+)$/.exec(path);
    if (m) {
      const spender = spentBy.get(`${m[1]}:${m[2]}`);
      if (spender === undefined) return ok({ spent: false });
      const status = await statusOf(spender);
      return ok({ spent: true, txid: spender, vin: 0, ...(status ? { status } : {}) });
    }
    return notFound;
  }

  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? "/", "http://localhost");
      const method = req.method ?? "GET";
      const text = await body(req);
      if (!url.pathname.startsWith(`${basePath}/`)) {
        res.statusCode = 404;
        res.end("Not Found");
        return;
      }
      const path = url.pathname.slice(basePath.length);
      requests.push(`${method} ${path}`);
      const { status, body: out } = await answer(method, path, text);
      res.statusCode = status;
      res.setHeader(
        "content-type",
        out.startsWith("{") || out.startsWith("[") ? "application/json" : "text/plain",
      );
      res.end(out);
    })().catch((e: unknown) => {
      res.statusCode = 500;
      res.end(e instanceof Error ? e.message : String(e));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}${basePath}`,
    chain,
    requests,
    fund(address, values) {
      const utxos = chain.fund(address, values);
      for (const u of utxos) {
        raws.set(u.txid, Buffer.from(u.previous).toString("hex"));
        unspent.set(`${u.txid}:${u.vout}`, { address, txid: u.txid, vout: u.vout, value: u.value });
      }
      return utxos;
    },
    spendElsewhere(outpoint) {
      const other = chain.spendElsewhere(outpoint);
      unspent.delete(outpoint);
      spentBy.set(outpoint, other);
      elsewhere.add(other);
      return other;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
}
