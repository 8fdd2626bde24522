// `node --conditions=react-server --import tsx bench/withdrawals-queries.ts [--count 20] [--postgres URL]
// [--chain ethereum] [--lanes 1]`: the SQL statements one auto-approved withdrawal sends (bench/withdrawals-flow.ts
// oneWithdrawal, `--lanes` at a time, each lane its own key, on a fresh PostgreSQL database), counted by statement
// text, per withdrawal (with several lanes, commits close together may share an audit integrator round):
// what every round trip, and its drizzle and pg CPU, is spent on. Makes and removes its own token and database.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import type { Chain } from "@/server/custody/types";
import { closeHsm, closeServerTokenSet } from "@/server/hsm";
import { createTestToken } from "@/server/hsm/testing/bench";
import { hsmEnvironment } from "@/server/operations/executor/testing/fixtures";
import { option } from "./measure";
import { createBenchDatabase, DEFAULT_POSTGRES_URL } from "./operations-db";
import { emptyPhases, oneWithdrawal, setUp, startChains, stopChains } from "./withdrawals-flow";

type Counted = { n: number; text: string };

/** Counts every statement pg's clients send, by its text (parameters left out), while `counting` is set. */
function countStatements(): { counts: Map<string, Counted>; on: (v: boolean) => void } {
  const counts = new Map<string, Counted>();
  let counting = false;
  const query = pg.Client.prototype.query;
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    const first = args[0];
    const text =
      typeof first === "string"
        ? first
        : typeof first === "object" && first !== null && "text" in first
          ? String((first as { text: unknown }).text)
          : "?";
    if (counting) {
      const key = text.replace(/\s+/g, " ").slice(0, 160);
      const c = counts.get(key) ?? { n: 0, text: key };
      c.n++;
      counts.set(key, c);
    }
    return (query as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof pg.Client.prototype.query;
  return { counts, on: (v) => (counting = v) };
}

const args = process.argv.slice(2);
const n = Math.max(1, Math.floor(option(args, "count", 20)));
const at = args.indexOf("--postgres");
const url = at >= 0 ? (args[at + 1] ?? DEFAULT_POSTGRES_URL) : DEFAULT_POSTGRES_URL;
const chainAt = args.indexOf("--chain");
const chain = (chainAt >= 0 ? args[chainAt + 1] : "ethereum") as Chain;
const lanes = Math.max(1, Math.floor(option(args, "lanes", 1)));
const token = createTestToken("kw-bench-wq");
const dataDir = mkdtempSync(path.join(tmpdir(), "keyward-bench-wq-"));
Object.assign(process.env, { ...hsmEnvironment(token, dataDir), KEYWARD_HSM_POOL_SIZE: "2" });
const counter = countStatements();
const database = await createBenchDatabase("postgres", url);
try {
  const chains = await startChains();
  const setup = await setUp(database.db, chains, {
    perChain: lanes,
    psbtsPerKey: n + 2,
    seedLoaded: () => Promise.resolve(),
  });
  const keys = setup.keys[chain].slice(0, lanes);
  if (keys.length < lanes) throw new Error(`only ${keys.length} ${chain} keys`);
  await Promise.all(keys.map((key) => oneWithdrawal(setup, chain, key, emptyPhases())));
  counter.on(true);
  const each = Math.ceil(n / lanes);
  await Promise.all(
    keys.map(async (key) => {
      for (let i = 0; i < each; i++) await oneWithdrawal(setup, chain, key, emptyPhases());
    }),
  );
  counter.on(false);
  const done = each * lanes;
  const rows = [...counter.counts.values()].sort((a, b) => b.n - a.n);
  const all = rows.reduce((t, r) => t + r.n, 0);
  console.log(
    `${(all / done).toFixed(1)} statements per ${chain} withdrawal (${done} withdrawals, ${lanes} at a time):`,
  );
  for (const r of rows) console.log(`${(r.n / done).toFixed(2).padStart(6)}  ${r.text}`);
  stopChains();
} finally {
  await database.drop();
  await closeServerTokenSet();
  closeHsm();
  token.cleanup();
  rmSync(dataDir, { recursive: true, force: true });
}
