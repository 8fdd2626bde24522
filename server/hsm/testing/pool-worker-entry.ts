// The worker entry tests start (through TestPool): the server's worker plus operations only tests need.
// Built into <install root>/.keyward/hsm-pool-worker-testing.mjs by vitest's global setup; the server never
// starts it (its pools run hsm-pool-worker.mjs, which registers none of these).
import "server-only";
import { serveWorker } from "../pool/pool-worker";

serveWorker({
  // Blocks this thread for args[0] ms, the way a PKCS#11 call that never returns would.
  stall: ([ms = 0]) => {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  },
  // Ends this thread mid-call with exit code args[0], the way a crash would, without telling the pool.
  exit: ([code = 70]) => {
    process.exit(code);
  },
});
