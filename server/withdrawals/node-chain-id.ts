// The chain id an Ethereum node answers for, as proposing a withdrawal checks it against the configuration (a node
// of another network would give fees and balances of the wrong chain). A node's chain id does not change while it
// runs, so it is asked at most once every ASK_AGAIN_MS per client (a node swapped behind the same URL is seen
// within that), instead of once per proposal: a JSON-RPC round trip, inside the proposing transaction, for the
// same answer. Only answers are kept, never a failure; the comparison with the configuration is the caller's,
// every time. What is signed carries the configured chain id whatever this says (EIP-155/1559 replay protection).
import type { EthereumClient } from "@/server/chains/types";

export const ASK_AGAIN_MS = 60_000;

const answers = new WeakMap<Pick<EthereumClient, "chainId">, { chainId: number; at: number }>();

/** client.chainId(), answered from the last answer while it is younger than ASK_AGAIN_MS (`at`: monotonic ms). */
export async function nodeChainId(
  client: Pick<EthereumClient, "chainId">,
  at: number = performance.now(),
): Promise<number> {
  const last = answers.get(client);
  if (last !== undefined && at - last.at >= 0 && at - last.at < ASK_AGAIN_MS) return last.chainId;
  const chainId = await client.chainId();
  answers.set(client, { chainId, at });
  return chainId;
}
