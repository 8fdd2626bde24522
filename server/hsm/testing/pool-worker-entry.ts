// The worker entry tests start (through TestPool): the server's worker plus operations only tests need.
// Built into <install root>/.keyward/hsm-pool-worker-testing.mjs by vitest's global setup; the server never
// starts it (its pools run hsm-pool-worker.mjs, which registers none of these).
import "server-only";
import pkcs11js from "pkcs11js";
import { serveWorker } from "../pool/pool-worker";

// Counts this thread's searches (C_FindObjectsInit), for tests of the pool's handle index: wrapped here, in
// the testing worker only, so the runtime carries no counter.
let searches = 0;
const findObjectsInit = pkcs11js.PKCS11.prototype.C_FindObjectsInit;
pkcs11js.PKCS11.prototype.C_FindObjectsInit = function (this: pkcs11js.PKCS11, ...args) {
  searches += 1;
  return Reflect.apply(findObjectsInit, this, args);
};

serveWorker({
  // How many searches this thread has started so far.
  searches: () => searches,
  // Blocks this thread for args[0] ms, the way a PKCS#11 call that never returns would.
  stall: ([ms = 0]) => {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
    return undefined;
  },
  // Ends this thread mid-call with exit code args[0], the way a crash would, without telling the pool.
  exit: ([code = 70]) => {
    process.exit(code);
  },
});
