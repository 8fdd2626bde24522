// The server's one token set over the configured tokens. Made on first use, never at module top level
// (Next's build workers import modules, and must not open the HSM), and kept on globalThis so a dev-mode
// reload does not make a second set beside the first.
import "server-only";
import { env } from "../env";
import { DirectExecutor } from "./direct-executor";
import { createTokenSet, type ExecutorFactory, type HsmTokenSet } from "./token-set";

/**
 * How the server reaches each token. DirectExecutor blocks the event loop for every PKCS#11 call; the
 * worker pool (pool.ts) implements the same HsmExecutor interface and takes its place here.
 */
const makeServerExecutor: ExecutorFactory = (config) => new DirectExecutor(config);

const holder = globalThis as typeof globalThis & { __keywardTokenSet?: HsmTokenSet };

export function serverTokenSet(): HsmTokenSet {
  holder.__keywardTokenSet ??= createTokenSet(env().hsm.tokens, makeServerExecutor);
  return holder.__keywardTokenSet;
}

/** Closes the server's token set if one was made (shutdown: a pool's threads must end before closeHsm()). */
export async function closeServerTokenSet(): Promise<void> {
  const set = holder.__keywardTokenSet;
  holder.__keywardTokenSet = undefined;
  await set?.close();
}
