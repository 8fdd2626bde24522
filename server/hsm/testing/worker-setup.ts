// vitest setup file (each test file, before its tests): rebuilds the HSM pool workers when a source changed
// after the global setup built them — in a shared checkout, someone may edit a worker source mid-run, and the
// pools refuse a stale build. Cheap when nothing changed (the build record's hashes are compared).
import { buildHsmWorkers } from "../../../scripts/build-hsm-worker.mjs";

buildHsmWorkers({ testing: true });
