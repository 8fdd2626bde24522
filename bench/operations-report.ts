// Prints bench/operations.ts's results as Markdown tables (for bench/README.md), each figure beside its target
// with PASS or MISS, then the whole result as one JSON line for machines.
import { median, percentile } from "./measure";
import type { OperationsBenchResult, ThroughputRow } from "./operations";
import type { BenchEngine } from "./operations-db";
import { STEPS } from "./operations-flow";

const TARGETS = {
  /** Two-vote operations per second, PostgreSQL. */
  operationsPerSecond: 200,
  voteP99Ms: 50,
  firstUseMs: 5,
  keysListMs: 100,
};

const verdict = (ok: boolean) => (ok ? "PASS" : "**MISS**");
const ms = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "—");
const rate = (x: number | null) => (x === null || !Number.isFinite(x) ? "—" : x.toFixed(0));

const ENGINE_NAMES: Record<OperationsBenchResult["engines"][number]["engine"], string> = {
  pglite: "PGlite",
  postgres: "PostgreSQL",
  "postgres-nosync": "PostgreSQL, synchronous_commit off (diagnostic)",
};

const WHAT: Record<ThroughputRow["kind"], string> = {
  p256: "key.create P-256",
  secp256k1: "key.create secp256k1",
  resume: "key.resume (no HSM step)",
};

/** Every end-to-end row, the one measured among many keys (after the first-use part) last. */
function throughputRows(result: OperationsBenchResult): { engine: BenchEngine; row: ThroughputRow }[] {
  const rows = result.engines.flatMap((e) => e.throughput.map((row) => ({ engine: e.engine, row })));
  return result.atScale ? [...rows, { engine: result.atScale.engine, row: result.atScale }] : rows;
}

function throughputTable(result: OperationsBenchResult): string[] {
  const lines = [
    "| engine | operation | keys on the token | lanes | operations/s (median; rounds) | raw keygen /s (1 session) | pool keygen /s | e2e ÷ raw | e2e ÷ pool | bench CPU ms / operation | others' CPU | target ≥ 200/s (PostgreSQL) |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const { engine, row: r } of throughputRows(result)) {
    const target =
      engine === "postgres" ? verdict(r.rate >= TARGETS.operationsPerSecond) : "(not the target's engine)";
    lines.push(
      `| ${ENGINE_NAMES[engine]} | ${WHAT[r.kind]} | ${r.kind === "resume" ? "—" : r.tokenKeysAtStart.toLocaleString("en")} | ${r.lanes} | ${r.rate.toFixed(1)} (${r.rates.map((x) => x.toFixed(0)).join(", ")}) | ${rate(r.rawKeygen)} | ${rate(r.poolKeygen)} | ${r.rawKeygen ? `${(r.rate / r.rawKeygen).toFixed(2)}×` : "—"} | ${r.poolKeygen ? `${(r.rate / r.poolKeygen).toFixed(2)}×` : "—"} | ${r.cpuMsPerOperation.toFixed(1)} | ${(100 * r.othersLoad).toFixed(0)} % | ${target} |`,
    );
  }
  return lines;
}

function stepsTable(result: OperationsBenchResult): string[] {
  const lines = [
    `| engine | operation | ${STEPS.map((s) => `${s} p50 / p99 ms`).join(" | ")} |`,
    `| --- | --- | ${STEPS.map(() => "---").join(" | ")} |`,
  ];
  for (const { engine, row: r } of throughputRows(result)) {
    const cells = STEPS.map((s) =>
      r.steps[s].length === 0 ? "—" : `${ms(median(r.steps[s]))} / ${ms(percentile(r.steps[s], 99))}`,
    );
    lines.push(`| ${ENGINE_NAMES[engine]} | ${WHAT[r.kind]} | ${cells.join(" | ")} |`);
  }
  return lines;
}

/** "audit lock 61 %, Node 20 %, …": shares of the busy connection samples, largest first. */
function waitsText(waits: Record<string, number> | null): string {
  if (waits === null) return "";
  const total = Object.values(waits).reduce((a, b) => a + b, 0);
  if (total === 0) return "no samples";
  return Object.entries(waits)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${((100 * n) / total).toFixed(0)} %`)
    .join("; ");
}

function waitsLines(result: OperationsBenchResult): string[] {
  const lines: string[] = [];
  for (const e of result.engines) {
    for (const r of e.throughput)
      if (r.waits) lines.push(`- ${ENGINE_NAMES[e.engine]}, ${WHAT[r.kind]}: ${waitsText(r.waits)}`);
    for (const v of e.votes) {
      if (v.waits)
        lines.push(
          `- ${ENGINE_NAMES[e.engine]}, ${v.voters} voters on ${v.shape === "one" ? "one operation" : `${v.operations} operations`}: ${waitsText(v.waits)}`,
        );
    }
  }
  return lines.length === 0
    ? []
    : [
        "",
        "What PostgreSQL's connections were doing (pg_stat_activity sampled every 5 ms, busy samples only):",
        "",
        ...lines,
      ];
}

function votesTable(result: OperationsBenchResult): string[] {
  const lines = [
    "| engine | voters at once | on | samples | vote p50 / p99 ms (begin + tap + complete) | completeVote p50 / p99 ms | target p99 < 50 ms |",
    "| --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const e of result.engines) {
    for (const v of e.votes) {
      lines.push(
        `| ${ENGINE_NAMES[e.engine]} | ${v.voters} | ${v.shape === "one" ? "one operation needing all their votes" : `${v.operations} operations, 2 votes each`} | ${v.samples} | ${ms(v.p50Ms)} / ${ms(v.p99Ms)} | ${ms(v.completeP50Ms)} / ${ms(v.completeP99Ms)} | ${e.engine === "postgres-nosync" ? "(diagnostic)" : verdict(v.p99Ms < TARGETS.voteP99Ms)} |`,
      );
    }
  }
  return lines;
}

function keysTable(result: OperationsBenchResult): string[] {
  const lines = [
    "| engine | keys | query (page of 50, with its total) | matches | p50 ms | p99 ms | target < 100 ms (p99) |",
    "| --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const e of result.engines) {
    for (const k of e.keys) {
      for (const f of k.figures) {
        lines.push(
          `| ${ENGINE_NAMES[e.engine]} | ${k.keys.toLocaleString("en")} | ${f.name} | ${f.capped ? "more than " : ""}${f.total.toLocaleString("en")} | ${ms(f.p50Ms)} | ${ms(f.p99Ms)} | ${verdict(f.p99Ms < TARGETS.keysListMs)} |`,
        );
      }
    }
  }
  return lines;
}

export function printOperationsReport(result: OperationsBenchResult): void {
  const out: string[] = [];
  out.push(
    `Operations bench, ${result.date}: ${result.machine}; ${result.library}; HSM pool ${result.threads} threads; ` +
      `load average ${result.load.before.map((x) => x.toFixed(1)).join(" ")} before, ${result.load.after.map((x) => x.toFixed(1)).join(" ")} after.`,
  );
  for (const e of result.engines) if (e.skipped) out.push(`- ${e.skipped}`);
  if (throughputRows(result).length > 0) {
    out.push(
      "",
      `One operation = propose (key.create or key.resume) → two approvals, each beginVote + a real WebAuthn assertion from a software authenticator + completeVote → the executor's claim → its execute step (key.create: key generation on SoftHSM through the signer facade) and recording transaction; 7 audit events. ${result.rounds} rounds of ${result.seconds} s, interleaved with the bases.`,
      "",
      ...throughputTable(result),
      "",
      "Where an operation's time goes (per call; votes counted twice per operation; hsm = createKey through the token set; record = execute step less hsm):",
      "",
      ...stepsTable(result),
    );
  }
  if (result.engines.some((e) => e.votes.length > 0)) out.push("", ...votesTable(result));
  out.push(...waitsLines(result));
  if (result.engines.some((e) => e.keys.length > 0)) {
    out.push(
      "",
      "Keys rows seeded with one INSERT … SELECT (the query is measured, not key creation):",
      "",
      ...keysTable(result),
    );
  }
  if (result.atScaleError)
    out.push("", `key.create among many keys did not complete: ${result.atScaleError}`);
  const f = result.firstUse;
  if (f) {
    out.push(
      "",
      "| first use among keys | keys on the token | pool start (with the handle index) | first signature median / p95 / max | searches | target < 5 ms (p95) |",
      "| --- | --- | --- | --- | --- | --- |",
      `| ${f.samples} never-used keys, ${f.threads} threads | ${f.indexed.toLocaleString("en")} indexed | ${f.poolStartMs.toFixed(0)} ms | ${ms(f.medianMs)} / ${ms(f.p95Ms)} / ${ms(f.maxMs)} ms | ${f.searches} | ${verdict(f.p95Ms < TARGETS.firstUseMs)} |`,
    );
  }
  console.log(`\n${out.join("\n")}\n`);
  // Machine-readable, with each step's samples summarised rather than listed.
  const summary = (steps: ThroughputRow["steps"]) =>
    Object.fromEntries(
      STEPS.map((s) => [s, { p50: median(steps[s]), p99: percentile(steps[s], 99), n: steps[s].length }]),
    );
  console.log(
    JSON.stringify({
      ...result,
      engines: result.engines.map((e) => ({
        ...e,
        throughput: e.throughput.map((r) => ({ ...r, steps: summary(r.steps) })),
      })),
      atScale: result.atScale ? { ...result.atScale, steps: summary(result.atScale.steps) } : undefined,
    }),
  );
}
