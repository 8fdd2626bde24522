// vitest's global setup: builds the HSM pool workers into the installation (the server's, and the testing
// one TestPool starts) when their sources changed, so `npx vitest run` alone runs current code. The same
// build `npm start` and `npm test` run (scripts/prepare.mjs).
import { buildHsmWorkers } from "../../../scripts/build-hsm-worker.mjs";

export default function setup(): void {
  buildHsmWorkers({ testing: true });
}
