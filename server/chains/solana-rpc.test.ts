// solana-rpc.ts against a local HTTP fake of a node's JSON-RPC (a pure unit test: the fake answers what a
// node would): the requests it sends, and how statuses map to BroadcastStatus — dead only past the last valid
// block height with no status found, read in that order.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Asset } from "@/server/custody/types";
import { solanaRpcClient } from "./solana-rpc";

type Call = { method: string; params: unknown[] };
const calls: Call[] = [];
let answers: Record<string, unknown> = {};
let server: Server;
let url: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => {
      body += c;
    });
    req.on("end", () => {
      const { id, method, params } = JSON.parse(body);
      calls.push({ method, params });
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ jsonrpc: "2.0", id, result: answers[method] ?? null }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const owner = "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin";
const usdc: Asset = {
  chain: "solana",
  symbol: "USDC",
  name: "USDC",
  decimals: 6,
  kind: "spl",
  contract: "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU",
};
const sig = "5R8UktFBv5corTXXtqmU6B17bJA6ycGEpb2PFksnJt6wZq1mZoskBEbi4BvUyKqcFcb9LWp6mHD5qv6abr8hQrwu";

describe("solanaRpcClient", () => {
  it("asks the node for the rent-exempt minimum of an account of so many bytes", async () => {
    answers = { getMinimumBalanceForRentExemption: 890880 };
    calls.length = 0;
    expect(await solanaRpcClient(url).rentExemptMinimum(0)).toBe(890_880n);
    expect(calls).toEqual([
      { method: "getMinimumBalanceForRentExemption", params: [0, { commitment: "confirmed" }] },
    ]);
  });

  it("reads the blockhash, broadcasts base64, and says 0 for a missing token account", async () => {
    answers = {
      getLatestBlockhash: {
        context: { slot: 1 },
        value: { blockhash: "EkSnNWid2cvwEVnVx9aBqawnmiCNiDgp3gUdkDPTKN1N", lastValidBlockHeight: 300 },
      },
      sendTransaction: sig,
      getAccountInfo: { context: { slot: 1 }, value: null },
    };
    const client = solanaRpcClient(url);
    expect(await client.latestBlockhash()).toEqual({
      blockhash: "EkSnNWid2cvwEVnVx9aBqawnmiCNiDgp3gUdkDPTKN1N",
      lastValidBlockHeight: 300n,
    });
    expect(await client.broadcast("AQID")).toBe(sig);
    expect(calls.find((c) => c.method === "sendTransaction")?.params).toEqual([
      "AQID",
      expect.objectContaining({ encoding: "base64" }),
    ]);
    expect(await client.balance(owner, usdc)).toBe(0n);
    expect(await client.hasTokenAccount(owner, usdc)).toBe(false);
  });

  it("maps statuses: confirmed with the count, failed with the error, unknown before expiry, dead after", async () => {
    const client = solanaRpcClient(url);
    answers = {
      getBlockHeight: 200,
      getSignatureStatuses: {
        context: { slot: 9 },
        value: [{ slot: 7, confirmations: 2, err: null, confirmationStatus: "confirmed" }],
      },
    };
    expect(await client.status(sig, { lastValidBlockHeight: 250n })).toEqual({
      state: "confirmed",
      confirmations: 3,
      block: "7",
      height: 7,
    });
    answers.getSignatureStatuses = {
      context: { slot: 9 },
      value: [{ slot: 7, confirmations: null, err: null, confirmationStatus: "finalized" }],
    };
    expect(await client.status(sig, { lastValidBlockHeight: 250n })).toMatchObject({
      state: "confirmed",
      confirmations: 32,
    });
    answers.getSignatureStatuses = {
      context: { slot: 9 },
      value: [
        {
          slot: 7,
          confirmations: 0,
          err: { InstructionError: [0, { Custom: 1 }] },
          confirmationStatus: "confirmed",
        },
      ],
    };
    expect(await client.status(sig, { lastValidBlockHeight: 250n })).toMatchObject({
      state: "failed",
      block: "7",
      reason: expect.stringMatching(/InstructionError/),
    });
    answers.getSignatureStatuses = { context: { slot: 9 }, value: [null] };
    expect(await client.status(sig, { lastValidBlockHeight: 250n })).toEqual({ state: "unknown" });
    expect(await client.status(sig, { lastValidBlockHeight: 200n })).toEqual({ state: "unknown" });
    expect(await client.status(sig, { lastValidBlockHeight: 199n })).toMatchObject({
      state: "dead",
      reason: expect.stringMatching(/expired at block height 199 \(now 200\)/),
    });
    // The height is read before the signature's status (so a late inclusion cannot be mistaken for death).
    const order = calls.slice(-2).map((c) => c.method);
    expect(order).toEqual(["getBlockHeight", "getSignatureStatuses"]);
    expect(calls.at(-1)?.params[1]).toMatchObject({ searchTransactionHistory: true });
  });

  it("asks the node whether a blockhash is still valid (an imported transaction's), at its commitment", async () => {
    const blockhash = "EkSnNWid2cvwEVnVx9aBqawnmiCNiDgp3gUdkDPTKN1N";
    const client = solanaRpcClient(url);
    for (const valid of [true, false]) {
      answers = { isBlockhashValid: { context: { slot: 9 }, value: valid } };
      expect(await client.isBlockhashValid?.(blockhash)).toBe(valid);
      expect(calls.at(-1)).toEqual({
        method: "isBlockhashValid",
        params: [blockhash, { commitment: "confirmed" }],
      });
    }
  });
});
