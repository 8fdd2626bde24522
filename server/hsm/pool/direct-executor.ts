// Runs operations synchronously on one long-lived session in the calling thread. It blocks the event loop
// for each PKCS#11 call, so the server uses the worker pool; this serves setup steps, tests, and the
// benchmark's "module without threads" figure.
import "server-only";
import { HsmError } from "../pkcs11/errors";
import { type HsmExecutor, type HsmOperation, type HsmResultOf, runOperation } from "./operations";
import { type HsmConfig, type OpenSession, openSession, openToken } from "../pkcs11/pkcs11";

export class DirectExecutor implements HsmExecutor {
  readonly tokenLabel: string;
  private open: OpenSession | undefined;

  constructor(private readonly config: HsmConfig) {
    this.tokenLabel = config.tokenLabel;
  }

  private session() {
    // Read/write: generate, unwrap and destroy need it, and one session serves every operation here.
    this.open ??= openSession(openToken(this.config), { write: true, pin: this.config.pin });
    return this.open.session;
  }

  async execute<O extends HsmOperation>(request: O): Promise<HsmResultOf<O>> {
    try {
      return runOperation(this.session(), request);
    } catch (e) {
      // A lost login or a failing token leaves this session useless: the next call opens a new one and
      // logs in again (STACK.md: stale session → reopen, re-login, retry), so a token that comes back is
      // used again without a new executor. The error itself still goes to the caller, who decides on retry.
      if (e instanceof HsmError && (e.kind === "stale-session" || e.kind === "device")) await this.close();
      throw e;
    }
  }

  async close(): Promise<void> {
    this.open?.close();
    this.open = undefined;
  }
}
