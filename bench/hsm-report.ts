// Prints bench/hsm.ts's result: tables for people, the targets with PASS/MISS, and one JSON line
// ("BENCH_JSON {…}") for machines.
import type { HsmBenchResult } from "./hsm";
import { median } from "./measure";

const TARGETS = { oneWorker: 0.9, pool: 1.5, loopP99Ms: 20 };

function n(value: number): string {
  return Math.round(value).toLocaleString("en-US");
}

function x(ratio: number, digits = 2): string {
  return `${ratio.toFixed(digits)}x`;
}

/** The 10th to 90th percentile of per-turn ratios: how much the machine moved under the figure. */
function spread(ratios: number[]): string {
  const sorted = ratios.filter(Number.isFinite).sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
  return `${at(0.1).toFixed(2)}-${at(0.9).toFixed(2)}`;
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length))) ?? [];
  const cell = (text: string, c: number) =>
    c === 0 ? text.padEnd(widths[c] ?? 0) : text.padStart(widths[c] ?? 0);
  return rows.map((r) => r.map(cell).join("   ")).join("\n");
}

/** The one-worker target, and the pool and event-loop targets for every pool larger than one thread. */
function targets(result: HsmBenchResult): string[] {
  const lines: string[] = [];
  const check = (ok: boolean, text: string) => lines.push(`${ok ? "PASS" : "MISS"}  ${text}`);
  for (const row of result.sign) {
    for (const p of row.pools) {
      if (p.size === 1) {
        check(
          p.ratio >= TARGETS.oneWorker,
          `${row.curve} one worker ${x(p.ratio, 3)} raw (>= ${TARGETS.oneWorker})`,
        );
        continue;
      }
      const ceiling = `raw on ${p.size} threads: ${x(p.ceiling / row.raw)}`;
      check(
        p.ratio >= TARGETS.pool,
        `${row.curve} pool x${p.size} ${x(p.ratio, 3)} raw (>= ${TARGETS.pool}; ${ceiling})`,
      );
      check(
        p.loopP99Ms < TARGETS.loopP99Ms,
        `${row.curve} pool x${p.size} event-loop p99 ${p.loopP99Ms.toFixed(1)} ms (< ${TARGETS.loopP99Ms})`,
      );
    }
  }
  for (const r of result.inFlight) {
    const mode = `${r.latencyMs > 0 ? ` +${r.latencyMs} ms/call` : ""} signing from ${r.signFrom}`;
    const ratio = r.module.rate / r.raw.rate;
    check(
      ratio >= 0.9,
      `${r.curve}${mode}, ${r.inFlight} in flight: module ${x(ratio, 3)} raw async (>= 0.9)`,
    );
    check(
      r.module.loopP99Ms < 20,
      `${r.curve}${mode}, ${r.inFlight} in flight: event-loop p99 ${r.module.loopP99Ms.toFixed(1)} ms (< 20)`,
    );
  }
  for (const f of result.firstUse) {
    check(
      f.maxMs < 5,
      `first use among ${f.keys} keys, signing from ${f.signFrom}: max ${f.maxMs.toFixed(2)} ms, median ${f.medianMs.toFixed(2)} ms (< 5)`,
    );
  }
  return lines;
}

function header(result: HsmBenchResult): void {
  const load = (l: number[]) => l.map((v) => v.toFixed(2)).join(" ");
  console.log(`\nHSM benchmark, ${result.date}`);
  console.log(`${result.machine}; ${result.library}`);
  console.log(`load average ${load(result.load.before)} before, ${load(result.load.after)} after`);
}

function signing(result: HsmBenchResult): void {
  const sizes = result.sign[0]?.pools.map((p) => p.size) ?? [];
  const name = (s: number) => (s === 1 ? "1 worker" : `pool x${s}`);
  console.log(
    `\nSignatures per second: medians of ${result.rounds} interleaved rounds of ${result.seconds} s; ratio to raw pkcs11js on one thread`,
  );
  const rows = result.sign.map((row) => [
    row.curve,
    n(row.raw),
    ...row.pools.map((p) => `${n(p.rate)} (${x(p.ratio)})`),
  ]);
  console.log(table([["curve", "raw 1 thread", ...sizes.map(name)], ...rows]));
  const busy = result.sign.map((row) => {
    const pct = (v: number) => `${Math.round(100 * v)} %`;
    return `${row.curve} ${pct(median(row.others))} (worst round ${pct(Math.max(...row.others))})`;
  });
  console.log(`Other processes' share of the CPUs during these rounds, median: ${busy.join(", ")}`);
  console.log(
    "\nCeiling: raw pkcs11js on N plain worker threads, one session each (ratio to raw on the main thread; the pool's share of it)",
  );
  const ceilings = result.sign.map((row) => [
    row.curve,
    ...row.pools.map(
      (p) => `${n(p.ceiling)} (${x(p.ceiling / row.raw)}; ${Math.round((100 * p.rate) / p.ceiling)} %)`,
    ),
  ]);
  console.log(table([["curve", ...sizes.map((s) => `raw x${s} thread${s > 1 ? "s" : ""}`)], ...ceilings]));
  console.log("\nEvent-loop delay p99 while signing at full rate (worst round), ms");
  const loops = result.sign.map((row) => [row.curve, ...row.pools.map((p) => p.loopP99Ms.toFixed(1))]);
  console.log(table([["curve", ...sizes.map(name)], ...loops]));
}

export function printReport(result: HsmBenchResult): void {
  header(result);
  if (result.sign.length > 0) signing(result);
  if (result.generate.length > 0) generation(result);
  lookupAndRest(result);
}

function generation(result: HsmBenchResult): void {
  console.log("\nKey pairs generated per second");
  const genSizes = result.generate[0]?.pools.map((p) => p.size) ?? [];
  const genHead = ["curve", "raw 1 thread", ...genSizes.map((s) => (s === 1 ? "1 worker" : `pool x${s}`))];
  const genRows = result.generate.map((row) => [row.curve, n(row.raw), ...row.pools.map((p) => n(p.rate))]);
  console.log(table([genHead, ...genRows]));
}

function lookupAndRest(result: HsmBenchResult): void {
  const l = result.lookup;
  if (l) {
    console.log(
      `\nOne key among ${n(l.keys)} (${n(2 * l.keys)} key objects; made in ${l.populateSeconds.toFixed(0)} s)`,
    );
    console.log(
      table([
        ["measure", "ms"],
        ["find, fresh session (median)", l.findMedianMs.toFixed(1)],
        ["find, fresh session (p95)", l.findP95Ms.toFixed(1)],
        ["first sign with an uncached key (median)", l.coldSignMedianMs.toFixed(1)],
        ["sign again, handle cached (median)", l.warmSignMedianMs.toFixed(2)],
        ["raw C_FindObjects, private half (median)", l.rawFindMedianMs.toFixed(1)],
        ["1 worker, one key flat out, signs/s", n(l.warmSignRate)],
      ]),
    );
  }
  if (result.inFlight.length > 0) {
    console.log(
      `\nSignatures per second at equal calls in flight: module pool vs raw pkcs11js async C_Sign (UV_THREADPOOL_SIZE ${result.uvThreadpoolSize})`,
    );
    console.log(
      table([
        [
          "mode",
          "curve",
          "in flight",
          "signing from",
          "threads",
          "raw async",
          "module",
          "ratio",
          "ratio per turn p10-p90",
          "loop p99 module / raw",
          "CPU us/sig module / raw",
        ],
        ...result.inFlight.map((r) => [
          r.latencyMs > 0 ? `+${r.latencyMs} ms/call (network HSM stand-in)` : "SoftHSM as is",
          r.curve,
          String(r.inFlight),
          r.signFrom,
          String(r.threads),
          n(r.raw.rate),
          n(r.module.rate),
          `${(r.module.rate / r.raw.rate).toFixed(2)}x`,
          `${spread(r.ratios)}`,
          `${r.module.loopP99Ms.toFixed(1)} / ${r.raw.loopP99Ms.toFixed(1)} ms`,
          `${r.module.cpuUsPerCall.toFixed(0)} / ${r.raw.cpuUsPerCall.toFixed(0)}`,
        ]),
      ]),
    );
  }
  for (const f of result.firstUse) {
    console.log(
      `\nFirst signature with a key among ${n(f.keys)}, fresh pool of ${f.threads} threads, signing from ${f.signFrom}`,
    );
    console.log(
      table([
        ["measure", "value"],
        ["pool start, handle index included (ms)", f.poolStartMs.toFixed(0)],
        ["keys indexed", n(f.indexed)],
        [`first sign, median of ${f.samples} keys (ms)`, f.medianMs.toFixed(2)],
        ["first sign, p95 / max (ms)", `${f.p95Ms.toFixed(2)} / ${f.maxMs.toFixed(2)}`],
        [
          "same key signed again at once, median / p95 / max (ms)",
          `${f.warmMedianMs.toFixed(2)} / ${f.warmP95Ms.toFixed(2)} / ${f.warmMaxMs.toFixed(2)}`,
        ],
        ["the pool's very first signature, before those (ms)", f.firstCallMs.toFixed(2)],
        [
          "first signs during a garbage collection here / max of the others (ms)",
          `${f.gcSamples} / ${f.maxWithoutGcMs.toFixed(2)}`,
        ],
        [
          "slowest first signs (ms @ position)",
          f.slowest.map((x) => `${x.ms.toFixed(2)} @ ${x.at}`).join(", "),
        ],
        ["searches during those first signs", String(f.searches)],
      ]),
    );
  }
  console.log("\nTargets");
  for (const line of targets(result)) console.log(line);
  console.log(`\nBENCH_JSON ${JSON.stringify({ bench: "hsm", ...result })}`);
}
