// Entry file of every HsmPool worker thread. Plain JavaScript, so Node loads it as it is wherever the pool
// runs (vitest, `next start`, the benchmark): Next bundles server code into .next, but a worker thread needs
// a file on disk, so HsmPool starts this one from <cwd>/server/hsm/pool. It registers tsx in this thread only and
// loads the TypeScript worker beside it. HsmPool starts it with --conditions=react-server so that
// `import "server-only"` resolves to its empty export. It does nothing on the main thread.
import { isMainThread } from "node:worker_threads";
import { register } from "tsx/esm/api";

if (isMainThread) throw new Error("server/hsm/pool/pool-bootstrap.mjs is started by HsmPool as a worker thread");
register();
await import("./pool-worker.ts");
