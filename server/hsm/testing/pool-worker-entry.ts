// The worker entry tests start (through TestPool): the server's worker plus operations only tests need.
// Built into <install root>/server/hsm/.build/hsm-pool-worker-testing.mjs by vitest's global setup; the server never
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

// Asynchronous C_Sign (the callback form the pool's signer uses), watched and optionally slowed: how many
// run at once on this thread (most since last asked), and a fixed latency added before each answer, the
// way a network HSM (25–30 ms a call) holds the session and the call in flight. It holds no libuv thread
// meanwhile, which a real network HSM's library would (so there UV_THREADPOOL_SIZE must cover the calls
// in flight). Testing worker only.
let latencyMs = 0;
let signing = 0;
let mostSigning = 0;
const cSign: unknown = Reflect.get(pkcs11js.PKCS11.prototype, "C_SignCallback");
Reflect.set(pkcs11js.PKCS11.prototype, "C_SignCallback", function (this: unknown, ...args: unknown[]) {
  const callback = args[3];
  if (typeof cSign !== "function") throw new Error("pkcs11js has no C_SignCallback");
  if (typeof callback !== "function") return Reflect.apply(cSign, this, args);
  signing += 1;
  mostSigning = Math.max(mostSigning, signing);
  const answered = (error: unknown, data: unknown) => {
    const answer = () => {
      signing -= 1;
      Reflect.apply(callback, undefined, [error, data]);
    };
    if (latencyMs > 0) setTimeout(answer, latencyMs);
    else answer();
  };
  return Reflect.apply(cSign, this, [args[0], args[1], args[2], answered]);
});

serveWorker({
  // Adds args[0] ms to every asynchronous C_Sign of this thread from now on (0: none).
  latency: ([ms = 0]) => {
    latencyMs = ms;
    return undefined;
  },
  // The most asynchronous signatures this thread had running at once since the last time it was asked.
  mostSigning: () => {
    const most = mostSigning;
    mostSigning = signing;
    return most;
  },
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
