// `npm run bench -- <name> [options]`: runs one benchmark from this folder, e.g. `npm run bench -- hsm`.
// Benchmarks make their own temporary HSM tokens and data; they never touch <data>.
import { buildHsmWorkers } from "../scripts/build-hsm-worker.mjs";

const BENCHES: Record<string, () => Promise<(args: string[]) => Promise<void>>> = {
  audit: async () => (await import("./audit")).runAuditBench,
  hsm: async () => (await import("./hsm")).runHsmBench,
  operations: async () => (await import("./operations")).runOperationsBench,
  reports: async () => (await import("./reports")).runReportsBench,
  withdrawals: async () => (await import("./withdrawals")).runWithdrawalsBench,
};

const [name, ...args] = process.argv.slice(2);
const load = name === undefined ? undefined : BENCHES[name];
if (load === undefined) {
  console.error(`Usage: npm run bench -- <${Object.keys(BENCHES).join("|")}> [options]`);
  process.exit(2);
}
// HsmPool runs only the worker built into the installation, so build it first if a source changed.
buildHsmWorkers();
await (await load())(args);
