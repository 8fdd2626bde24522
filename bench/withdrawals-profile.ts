// Where a withdrawal's time goes, for bench/withdrawals.ts: a CPU profile of this process's main thread taken
// with node:inspector during one extra round, summarised as self time per part of the code (audit, policy,
// drizzle, pg, PGlite, chain libraries, …); and, on PostgreSQL, what the connections were doing, sampled from
// pg_stat_activity with the lock each waiter waits for named (the audit integrator's, a chain's velocity lock,
// a row). The HSM pool's threads are not in the profile: their share is the HSM base's.
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import pg from "pg";

type ProfileNode = { id: number; callFrame: { url: string; functionName: string }; children?: number[] };
type Profile = { nodes: ProfileNode[]; samples?: number[]; timeDeltas?: number[] };

/** The part of the code a function belongs to, by its file. */
function partOf(url: string, fn: string): string {
  if (url === "") {
    if (fn === "(garbage collector)") return "garbage collection";
    if (fn === "(idle)") return "idle (waiting for the database, the HSM)";
    if (fn === "(program)") return "native / program";
    return `native ${fn}`;
  }
  const parts: [RegExp, string][] = [
    [/\/server\/audit\//, "audit trail (events, hash chain, integrator)"],
    [/\/db\/after-commit|\/db\/client/, "database handle (after-commit hook)"],
    [/\/node_modules\/canonicalize\//, "canonical JSON (audit hashes, digests)"],
    [/\/server\/policy\/|\/server\/operations\/judgement/, "policy and judgement"],
    [/\/server\/withdrawals\/|\/server\/custody\/|\/server\/chains\//, "withdrawal build, check, assemble"],
    [/\/server\/service-accounts\//, "HTTP API (auth, rate limit, idempotency)"],
    [/\/server\/operations\//, "operations (propose, transitions, executor)"],
    [/\/server\//, "other server code"],
    [/\/node_modules\/drizzle-orm\//, "drizzle-orm (building SQL, mapping rows)"],
    [/\/node_modules\/(pg|pg-protocol|pg-pool|pg-types)\//, "pg driver"],
    [/\/node_modules\/@electric-sql\/pglite\//, "PGlite"],
    [/\/node_modules\/zod\//, "zod"],
    [
      /\/node_modules\/(@noble|@scure|bitcoinjs-lib|viem|ox|abitype|@solana|@solana-program)\//,
      "chain libraries",
    ],
    [/\/node_modules\/(@nomicfoundation|litesvm)/, "test chain engines (EDR, litesvm)"],
    [/\/node_modules\/rate-limiter-flexible\//, "rate limiter"],
    [/\/node_modules\//, "other libraries"],
    [/^node:/, "Node internals"],
    [/^wasm:/, "WebAssembly (PGlite's PostgreSQL)"],
  ];
  for (const [pattern, name] of parts) if (pattern.test(url)) return name;
  return "other";
}

export type ProfileShare = { part: string; ms: number; share: number };

/**
 * Runs `work` under the CPU profiler; returns its result and the self time per part, largest first. With `saveTo`,
 * also writes the raw profile there (a .cpuprofile: Chrome DevTools, or a script, reads it function by function).
 */
export async function profiled<T>(
  work: () => Promise<T>,
  saveTo?: string,
): Promise<{ result: T; shares: ProfileShare[] }> {
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.setSamplingInterval", { interval: 500 });
  await session.post("Profiler.start");
  let result: T;
  let profile: Profile;
  try {
    result = await work();
  } finally {
    profile = (await session.post("Profiler.stop")).profile as Profile;
    await session.post("Profiler.disable");
    session.disconnect();
  }
  if (saveTo !== undefined) writeFileSync(saveTo, JSON.stringify(profile));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const totals = new Map<string, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  let all = 0;
  for (const [i, id] of samples.entries()) {
    const node = byId.get(id);
    const ms = (deltas[i] ?? 0) / 1000;
    if (node === undefined) continue;
    const part = partOf(node.callFrame.url, node.callFrame.functionName);
    totals.set(part, (totals.get(part) ?? 0) + ms);
    all += ms;
  }
  const shares = [...totals.entries()]
    .map(([part, ms]) => ({ part, ms, share: all > 0 ? ms / all : 0 }))
    .sort((a, b) => b.ms - a.ms);
  return { result, shares };
}

export type Waits = Record<string, number>;

/** "KWIG" from an advisory lock's key, when it is four letters (Keyward names its locks so). */
function lockName(objid: string | null): string {
  const n = Number(objid);
  if (!Number.isInteger(n) || n <= 0) return "?";
  const text = Buffer.from([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]).toString("latin1");
  return /^[A-Z]{4}$/.test(text) ? text : String(n);
}

const ADVISORY: Record<string, string> = {
  KWIG: "waiting for the audit integrator's lock (one sealing at a time)",
  KWFZ: "waiting for the freeze lock",
  KWNT: "waiting for the notification deriver's lock",
};

type ActivityRow = {
  state: string | null;
  wait_event_type: string | null;
  wait_event: string | null;
  locktype: string | null;
  classid: string | null;
  objid: string | null;
  objsubid: number | null;
};

function waitKind(row: ActivityRow): string {
  if (row.wait_event_type === "Lock" && row.locktype === "advisory") {
    // Two-key advisory locks: the first key names the class ("KWVL" = velocity, the second its chain).
    if (row.objsubid === 2) {
      const name = lockName(row.classid);
      return name === "KWVL" ? "waiting for a chain's velocity lock" : `waiting for advisory lock ${name}`;
    }
    const name = lockName(row.objid);
    return ADVISORY[name] ?? `waiting for advisory lock ${name}`;
  }
  // Seen in pg_stat_activity but already granted when pg_locks was read: which one is not known.
  if (row.wait_event_type === "Lock" && row.wait_event === "advisory")
    return "waiting for an advisory lock (gone)";
  if (row.wait_event_type === "Lock") return `waiting for a row lock (${row.wait_event})`;
  if (row.wait_event_type === "IO" || row.wait_event_type === "LWLock")
    return `commit / WAL (${row.wait_event})`;
  if (row.state === "idle in transaction") return "in a transaction, waiting for Node";
  if (row.state === "active") return "running a statement";
  return "idle";
}

/** What the sampler saw: connection time per kind, and how often each chain's velocity lock was held. */
export type Sampled = {
  waits: Waits;
  /** Samples taken. */
  ticks: number;
  /** Per chain index (CHAINS order): samples in which some transaction held that chain's velocity lock. */
  velocityLockHeld: Record<number, number>;
};

/** "KWVL": velocity-lock.ts VELOCITY_LOCK_CLASS (not imported: it is server-only). */
const VELOCITY_LOCK_CLASS = 0x4b57_564c;

/**
 * Samples every `everyMs` what the connections to `url`'s database are doing, and which chains' velocity locks
 * are held (granted): the share of samples a chain's lock is held is the share of the run it is the one thing
 * its withdrawals pass through one at a time — near 100 %, the lock is the limit; well below, something else.
 */
export async function sampleWaits(url: string, everyMs = 5): Promise<{ stop: () => Promise<Sampled> }> {
  const database = new URL(url).pathname.slice(1);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const samples: Waits = {};
  const held: Record<number, number> = {};
  let ticks = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const { rows } = await client.query<ActivityRow>(
        `SELECT a.state, a.wait_event_type, a.wait_event, l.locktype, l.classid::text, l.objid::text, l.objsubid
           FROM pg_stat_activity a
           LEFT JOIN pg_locks l ON l.pid = a.pid AND NOT l.granted
          WHERE a.datname = $1 AND a.pid <> pg_backend_pid()`,
        [database],
      );
      const locks = await client.query<{ chain: number }>(
        `SELECT DISTINCT objid::int AS chain FROM pg_locks
          WHERE locktype = 'advisory' AND granted AND objsubid = 2 AND classid::bigint = $1`,
        [VELOCITY_LOCK_CLASS],
      );
      ticks++;
      for (const { chain } of locks.rows) held[chain] = (held[chain] ?? 0) + 1;
      for (const row of rows) {
        const kind = waitKind(row);
        if (kind !== "idle") samples[kind] = (samples[kind] ?? 0) + 1;
      }
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      await client.end();
      return { waits: samples, ticks, velocityLockHeld: held };
    },
  };
}

/** Shares of the sampled connection time, largest first. */
export function waitShares(w: Waits): { kind: string; share: number }[] {
  const total = Object.values(w).reduce((a, b) => a + b, 0);
  return Object.entries(w)
    .map(([kind, n]) => ({ kind, share: total > 0 ? n / total : 0 }))
    .sort((a, b) => b.share - a.share);
}
