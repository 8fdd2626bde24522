// The server's one token set over the configured tokens, each token reached through its own HsmPool of
// worker threads, so no PKCS#11 call ever runs on the event loop. Made on first use, never at module top
// level (Next's build workers import modules, and must not open the HSM), and kept on globalThis so a
// dev-mode reload does not make a second set (and a second set of threads) beside the first.
import "server-only";
import { env } from "../../env";
import { HsmPool } from "../pool/pool";
import { createTokenSet, type ExecutorFactory, type HsmTokenSet } from "./token-set";

const holder = globalThis as typeof globalThis & { __keywardTokenSet?: HsmTokenSet };

export function serverTokenSet(): HsmTokenSet {
  if (holder.__keywardTokenSet === undefined) {
    const { tokens, pool } = env().hsm;
    // A pool per token, started when the token is first used (and again when a failed token is probed). The
    // boot's first HSM check starts them, so where each signs from, and why, is in the boot log.
    const makeExecutor: ExecutorFactory = async (config) => {
      const started = await HsmPool.start(config, pool);
      const signing = started.signing;
      if (signing !== undefined)
        console.log(
          `Keyward: HSM token '${config.tokenLabel}' signs from ${signing.signFrom} (${signing.why}).`,
        );
      return started;
    };
    holder.__keywardTokenSet = createTokenSet(tokens, makeExecutor, { signTimeoutMs: pool.timeoutMs });
  }
  return holder.__keywardTokenSet;
}

/**
 * Closes the server's token set if one was made: every pool lets its accepted calls finish, then its
 * threads close their sessions and end. Call it before closeHsm() on shutdown.
 */
export async function closeServerTokenSet(): Promise<void> {
  const set = holder.__keywardTokenSet;
  holder.__keywardTokenSet = undefined;
  await set?.close();
}
