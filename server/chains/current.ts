// The chain configuration this process runs with: env().chains (networks, RPC endpoints, confirmations, assets),
// unless a test or a script installed its own with installChainConfig. Server code that needs the networks or
// the asset list at request time (the judgement's asset decimals, proposing an allow-list change, key pages)
// reads it here, so a test can run those paths against its own networks without a full environment.
import "server-only";
import { env } from "@/server/env";
import type { ChainConfig } from "./config";

let installed: ChainConfig | null = null;

/** Uses `config` instead of env().chains from now on (null: back to env().chains). For tests and scripts. */
export function installChainConfig(config: ChainConfig | null): void {
  installed = config;
}

/** The chain configuration in use. Call it at request time, never at module top level. */
export function chainConfig(): ChainConfig {
  return installed ?? env().chains;
}
