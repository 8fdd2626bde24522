// The chain clients this process talks to: one per chain with a node configured (chainConfig().rpc: Ethereum and
// Solana JSON-RPC, a Bitcoin Esplora HTTP API), none otherwise — then a withdrawal is built without chain data
// where it can be (Ethereum: nonce from Keyward's own table, fees up to the approved cap), balances are not
// checked, and the signed transaction is offered as a download. Tests and scripts install clients over in-process
// engines (server/custody/testing/: EDR, litesvm, TestBitcoinChain) with installChainClients, as
// server/chains/current.ts lets them install a configuration.
import "server-only";
import { esploraClient } from "./bitcoin-esplora";
import { chainConfig } from "./current";
import { ethereumRpcClient } from "./ethereum-rpc";
import { solanaRpcClient } from "./solana-rpc";
import type { BitcoinClient, EthereumClient, SolanaClient } from "./types";

export type ChainClients = {
  ethereum: EthereumClient | null;
  solana: SolanaClient | null;
  /** Broadcast and tracking of Bitcoin withdrawals, rotation sweeps' UTXOs; absent (installed by hand): none. */
  bitcoin?: BitcoinClient | null;
};

let installed: ChainClients | null = null;
let built: { key: string; clients: ChainClients } | null = null;

/** Uses `clients` instead of the configured RPC endpoints from now on (null: back to the configuration). */
export function installChainClients(clients: ChainClients | null): void {
  installed = clients;
}

/** The clients in use. Call it at request time, never at module top level (it reads the configuration). */
export function chainClients(): ChainClients {
  if (installed !== null) return installed;
  const { rpc } = chainConfig();
  const bitcoin = rpc.bitcoin ?? null;
  const key = JSON.stringify([rpc.ethereum, rpc.solana, bitcoin]);
  if (built?.key !== key) {
    built = {
      key,
      clients: {
        ethereum: rpc.ethereum === null ? null : ethereumRpcClient({ url: rpc.ethereum }),
        solana: rpc.solana === null ? null : solanaRpcClient(rpc.solana),
        bitcoin: bitcoin === null ? null : esploraClient({ baseUrl: bitcoin }),
      },
    };
  }
  return built.clients;
}
