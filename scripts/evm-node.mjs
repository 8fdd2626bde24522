#!/usr/bin/env node
// A local Ethereum node for trying Keyward and for the browser suite: EDR (the EVM inside Hardhat, in-process,
// server/custody/testing/evm.ts) behind an HTTP JSON-RPC endpoint on 127.0.0.1 only. It prints its URL and the
// funded test accounts with their private keys (a throw-away chain: never use these keys anywhere else), and can
// deploy the test ERC-20 (OpenZeppelin ERC20, 6 decimals) at start or on request.
//
//   node scripts/evm-node.mjs [--port 8545] [--chain-id 31337] [--accounts 3] [--block-time 0]
//                             [--token-holder 0x… [--token-amount 1000000000]] [--json]
//
// Port: --port, else EVM_NODE_PORT, else 8545 (0 picks a free one). --block-time N mines a block every N ms on
// top of the block each transaction gets (confirmations keep coming). --json prints one JSON line instead of
// text (for scripts and Playwright). Extra JSON-RPC method: keyward_deployTestToken
// [{ "holder": "0x…", "amount": "1000000", "symbol"?: "USDC" }] → the token as a configured asset. To fund a
// Keyward key's address with ETH: hardhat_setBalance ["0x<address>", "0xde0b6b3a7640000"] (1 ETH in wei, hex).
// GET answers 200 with one line (a readiness probe). Set KEYWARD_ETHEREUM_RPC_URL to the printed URL and
// KEYWARD_ETHEREUM_CHAIN_ID to its chain id.
import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { tsImport } from "tsx/esm/api";

const { values: args } = parseArgs({
  options: {
    port: { type: "string" },
    "chain-id": { type: "string", default: "31337" },
    accounts: { type: "string", default: "3" },
    "block-time": { type: "string", default: "0" },
    "token-holder": { type: "string" },
    "token-amount": { type: "string", default: "1000000000" },
    json: { type: "boolean", default: false },
  },
});

function integer(name, text, min) {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min) {
    console.error(`evm-node: --${name} must be a whole number, at least ${min}; got ${text}.`);
    process.exit(2);
  }
  return value;
}

const port = integer("port", args.port ?? process.env.EVM_NODE_PORT ?? "8545", 0);
const chainId = integer("chain-id", args["chain-id"], 1);
const accountCount = integer("accounts", args.accounts, 1);
const blockTime = integer("block-time", args["block-time"], 0);

const { startTestEvm, EvmRpcError } = await tsImport("../server/custody/testing/evm.ts", import.meta.url);
const evm = await startTestEvm({ chainId, accounts: accountCount });

async function deployToken(params) {
  const request = Array.isArray(params) ? params[0] : params;
  if (typeof request?.holder !== "string" || !/^(0|[1-9][0-9]*)$/.test(String(request?.amount ?? ""))) {
    throw new EvmRpcError(
      -32602,
      'keyward_deployTestToken takes [{ "holder": "0x…", "amount": "<base units>" }]',
    );
  }
  const asset = await evm.deployToken({
    holder: request.holder,
    amount: BigInt(request.amount),
    symbol: typeof request.symbol === "string" ? request.symbol : undefined,
  });
  return asset;
}

async function answer(call) {
  const id = call?.id ?? null;
  try {
    if (call?.jsonrpc !== "2.0" || typeof call.method !== "string") {
      throw new EvmRpcError(-32600, "Not a JSON-RPC 2.0 request.");
    }
    const result =
      call.method === "keyward_deployTestToken"
        ? await deployToken(call.params)
        : await evm.rpc(call.method, Array.isArray(call.params) ? call.params : []);
    return { jsonrpc: "2.0", id, result: result ?? null };
  } catch (e) {
    const code = e instanceof EvmRpcError ? e.code : -32603;
    const message = e instanceof Error ? e.message : String(e);
    return { jsonrpc: "2.0", id, error: { code, message, ...(e?.data != null ? { data: e.data } : {}) } };
  }
}

const server = createServer((req, res) => {
  if (req.method === "GET" || req.method === "HEAD") {
    // A readiness probe (Playwright's webServer.url waits for a 2xx): what this is, and how to use it.
    res.writeHead(200, { "content-type": "text/plain" });
    res.end(`Local Ethereum node (EDR), chain id ${chainId}: POST JSON-RPC 2.0 requests here.\n`);
    return;
  }
  if (req.method !== "POST") {
    res
      .writeHead(405, { "content-type": "text/plain", allow: "GET, POST" })
      .end("POST JSON-RPC 2.0 requests here.\n");
    return;
  }
  const chunks = [];
  let size = 0;
  req.on("data", (chunk) => {
    size += chunk.length;
    if (size > 5_000_000) req.destroy();
    else chunks.push(chunk);
  });
  req.on("end", async () => {
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      res.writeHead(400, { "content-type": "application/json" });
      res.end(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32700, message: "Parse error" } }));
      return;
    }
    // One at a time, in arrival order within a batch: EDR serialises anyway, and nonces stay in order.
    const reply = Array.isArray(body) ? await sequential(body) : await answer(body);
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(reply, (_key, value) => (typeof value === "bigint" ? value.toString() : value)));
  });
});

async function sequential(calls) {
  const replies = [];
  for (const call of calls) replies.push(await answer(call));
  return replies;
}

server.listen(port, "127.0.0.1", async () => {
  const address = server.address();
  const url = `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : port}`;
  let token;
  if (args["token-holder"] !== undefined) {
    token = await deployToken({ holder: args["token-holder"], amount: args["token-amount"] });
  }
  if (blockTime > 0) setInterval(() => void evm.mine().catch(() => {}), blockTime).unref();
  if (args.json) {
    console.log(JSON.stringify({ url, chainId, accounts: evm.accounts, token: token ?? null }));
  } else {
    console.log(
      `Local Ethereum node (EDR) on ${url}, chain id ${chainId}${blockTime > 0 ? `, a block every ${blockTime} ms` : ""}`,
    );
    console.log("Funded test accounts (10,000 ETH each; throw-away keys for this chain only):");
    for (const account of evm.accounts)
      console.log(`  ${account.address}  private key ${account.privateKey}`);
    if (token) console.log(`Test token ${token.symbol} (${token.decimals} decimals) at ${token.contract}`);
    console.log(`Use: KEYWARD_ETHEREUM_RPC_URL=${url} KEYWARD_ETHEREUM_CHAIN_ID=${chainId}`);
  }
});

server.on("error", (e) => {
  console.error(`evm-node: cannot listen on 127.0.0.1:${port}: ${e.message}`);
  process.exit(1);
});

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    server.close();
    process.exit(0);
  });
}
