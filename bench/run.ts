// `npm run bench -- <name> [options]`: runs one benchmark from this folder, e.g. `npm run bench -- hsm`.
// Benchmarks make their own temporary HSM tokens and data; they never touch <data>.
export {};
const BENCHES: Record<string, () => Promise<(args: string[]) => Promise<void>>> = {
  hsm: async () => (await import("./hsm")).runHsmBench,
};

const [name, ...args] = process.argv.slice(2);
const load = name === undefined ? undefined : BENCHES[name];
if (load === undefined) {
  console.error(`Usage: npm run bench -- <${Object.keys(BENCHES).join("|")}> [options]`);
  process.exit(2);
}
await (await load())(args);
