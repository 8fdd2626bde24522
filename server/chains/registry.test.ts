// The chain registry builds its clients from the configuration: with KEYWARD_BITCOIN_ESPLORA_URL set, a Bitcoin
// client that talks to that URL (shown over a real local HTTP server), none without it; the withdrawal tracker's
// configured source hands that client and KEYWARD_CONFIRMATIONS_BITCOIN on; installed clients take precedence.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { configuredTracking } from "@/server/withdrawals/track-job";
import { parseChainConfig } from "./config";
import { installChainConfig } from "./current";
import { chainClients, installChainClients } from "./registry";

let server: Server;
let base: string;
const seen: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    if (req.url === "/esplora/api/fee-estimates") {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ "1": 20.5, "6": 7.25, "144": 1 }));
      return;
    }
    res.statusCode = 404;
    res.end("Not Found");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});
afterEach(() => {
  installChainClients(null);
  installChainConfig(null);
});

describe("chainClients", () => {
  it("has no Bitcoin client without KEYWARD_BITCOIN_ESPLORA_URL", () => {
    installChainConfig(parseChainConfig({}));
    expect(chainClients()).toStrictEqual({ ethereum: null, solana: null, bitcoin: null });
  });

  it("gives an Esplora client for KEYWARD_BITCOIN_ESPLORA_URL, talking to that URL", async () => {
    installChainConfig(parseChainConfig({ KEYWARD_BITCOIN_ESPLORA_URL: `${base}/esplora/api/` }));
    const { bitcoin, ethereum, solana } = chainClients();
    expect(ethereum).toBeNull();
    expect(solana).toBeNull();
    if (!bitcoin) throw new Error("no Bitcoin client");
    seen.length = 0;
    expect(await bitcoin.feeRate(6)).toBe(7.25);
    expect(seen).toEqual(["GET /esplora/api/fee-estimates"]);
    // The same configuration gives the same client; another URL a new one.
    expect(chainClients().bitcoin).toBe(bitcoin);
    installChainConfig(parseChainConfig({ KEYWARD_BITCOIN_ESPLORA_URL: `${base}/other` }));
    expect(chainClients().bitcoin).not.toBe(bitcoin);
    await expect(chainClients().bitcoin?.feeRate(6)).rejects.toThrow(/has no fee estimates/);
  });

  it("the withdrawal tracker's configured source carries the Bitcoin client and its confirmations", () => {
    installChainConfig(
      parseChainConfig({
        KEYWARD_BITCOIN_ESPLORA_URL: `${base}/esplora/api`,
        KEYWARD_CONFIRMATIONS_BITCOIN: "3",
      }),
    );
    const source = configuredTracking();
    expect(source.clients.bitcoin).toBe(chainClients().bitcoin);
    expect(source.clients.bitcoin).not.toBeNull();
    expect(source.confirmations.bitcoin).toBe(3);
  });

  it("installed clients take precedence over the configuration", () => {
    installChainConfig(parseChainConfig({ KEYWARD_BITCOIN_ESPLORA_URL: `${base}/esplora/api` }));
    installChainClients({ ethereum: null, solana: null });
    expect(chainClients().bitcoin ?? null).toBeNull();
  });
});
