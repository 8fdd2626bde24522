// The entry of every HsmPool worker thread the server starts. scripts/build-hsm-worker.mjs bundles it (and
// everything it imports, pkcs11js excepted) into <install root>/server/hsm/.build/hsm-pool-worker.mjs, which
// worker-file.ts finds from the installation itself and checks against these sources before a thread runs it.
// It registers no extension: the running server can do exactly the operations in operations.ts.
import "server-only";
import { serveWorker } from "./pool-worker";

serveWorker();
