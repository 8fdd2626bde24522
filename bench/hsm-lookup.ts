// The "one key among many" part of bench/hsm.ts: fill the token with secp256k1 keys, then time looking keys
// up on a fresh session (no cached handles), as a newly started worker would.
import { randomBytes } from "node:crypto";
import type { HsmPool } from "../server/hsm/testing/bench";
import type { RawHsm } from "./hsm-raw";
import { median, percentile, storm, timed } from "./measure";

export type LookupResult = {
  keys: number;
  /** Time to fill the token, and the rate it ran at. */
  populateSeconds: number;
  /** `find` (private and public halves, attributes) through one worker, ms. */
  findMedianMs: number;
  findP95Ms: number;
  /** First `sign` with a key this worker never used (lookup + sign), ms. */
  coldSignMedianMs: number;
  /** The same keys signed again (cached handle), ms. */
  warmSignMedianMs: number;
  /** Raw C_FindObjects for the private half on the main thread, ms. */
  rawFindMedianMs: number;
  /** One worker signing one key flat out with all these keys on the token. */
  warmSignRate: number;
};

export type Population = { refs: string[]; seconds: number };

/** Generates `count` keys through the pool, printing progress. */
export async function populate(pool: HsmPool, count: number): Promise<Population> {
  const started = performance.now();
  const refs: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      const key = await pool.execute({
        op: "generate",
        curve: "secp256k1",
        label: "bench-many",
        exportable: "never",
      });
      refs.push(key.ref);
      if (refs.length % 500 === 0 || refs.length === count) {
        const rate = refs.length / ((performance.now() - started) / 1000);
        const left = (count - refs.length) / rate;
        process.stdout.write(
          `  keys: ${refs.length}/${count} (${rate.toFixed(0)}/s, ~${left.toFixed(0)} s left)\n`,
        );
      }
    }
  };
  await Promise.all(Array.from({ length: 2 * pool.size }, worker));
  return { refs, seconds: (performance.now() - started) / 1000 };
}

/** Lookups on a pool whose one worker has a fresh session. */
export async function measureLookup(
  pool: HsmPool,
  raw: RawHsm,
  population: Population,
  seconds: number,
): Promise<LookupResult> {
  const { refs } = population;
  const sample = (n: number) =>
    Array.from({ length: n }, () => refs[randomBytes(4).readUInt32BE(0) % refs.length] ?? "");
  const digest = randomBytes(32);
  const find: number[] = [];
  for (const ref of sample(20)) find.push(await timed(() => pool.execute({ op: "find", ref })));
  const cold: number[] = [];
  const warm: number[] = [];
  const signed = sample(20);
  for (const ref of signed) cold.push(await timed(() => pool.execute({ op: "sign", ref, data: digest })));
  for (const ref of signed) warm.push(await timed(() => pool.execute({ op: "sign", ref, data: digest })));
  const rawFind: number[] = [];
  for (const ref of sample(20)) {
    const start = performance.now();
    raw.findPrivate(ref);
    rawFind.push(performance.now() - start);
  }
  const one = signed[0] ?? "";
  const { rate } = await storm(() => pool.execute({ op: "sign", ref: one, data: digest }), 32, seconds);
  return {
    keys: refs.length,
    populateSeconds: population.seconds,
    findMedianMs: median(find),
    findP95Ms: percentile(find, 95),
    coldSignMedianMs: median(cold),
    warmSignMedianMs: median(warm),
    rawFindMedianMs: median(rawFind),
    warmSignRate: rate,
  };
}
