// The signing part of bench/hsm.ts: for one curve, raw pkcs11js on one thread (the baseline), the module
// through pools of each size, and raw pkcs11js on as many plain threads as the pool has (its ceiling).
import { randomBytes } from "node:crypto";
import { availableParallelism } from "node:os";
import { type Curve, HsmPool, type TestToken, verifySignature } from "../server/hsm/testing/bench";
import type { RawHsm } from "./hsm-raw";
import { RawThreads } from "./hsm-raw-threads";
import { cpuSnapshot, median, othersLoad, storm } from "./measure";

/**
 * Medians over the rounds; `ratio` is the median of the per-round ratios to raw on one thread; `loopP99Ms`
 * is the worst round's event-loop delay p99; `ceiling` is raw pkcs11js on `size` plain threads.
 */
export type PoolFigure = {
  size: number;
  rate: number;
  ratio: number;
  loopP99Ms: number;
  ceiling: number;
  rounds: number[];
};
/** `others`: per round, the share of all CPUs that other processes used (0 quiet, 1 every CPU busy). */
export type SignRow = {
  curve: Curve;
  raw: number;
  rawRounds: number[];
  others: number[];
  pools: PoolFigure[];
};

type Runner = { size: number; pool: HsmPool; ceiling: RawThreads };
type Series = { rates: number[]; ratios: number[]; p99: number[]; ceil: number[] };

async function runners(token: TestToken, sizes: number[], curve: Curve, ref: string, data: Uint8Array) {
  const list: Runner[] = [];
  for (const size of sizes) {
    const pool = await HsmPool.start(token.config, { size });
    list.push({ size, pool, ceiling: await RawThreads.start(token, curve, ref, data, size) });
  }
  return list;
}

/**
 * Everything measured in turn, round after round, each for `seconds`: this machine's speed drifts by ±20 %
 * from one second to the next (other jobs share it), so the figures compared are medians of runs taken close
 * together, and each ratio is the median of per-round ratios.
 */
export async function signRow(
  token: TestToken,
  raw: RawHsm,
  curve: Curve,
  sizes: number[],
  seconds: number,
  rounds: number,
): Promise<SignRow> {
  const setup = await HsmPool.start(token.config, { size: 1 });
  const key = await setup
    .execute({ op: "generate", curve, label: `bench-${curve}`, exportable: "never" })
    .finally(() => setup.close());
  // 32 bytes for every curve: a digest for ECDSA, a short message for Ed25519.
  const data = randomBytes(32);
  const list = await runners(token, sizes, curve, key.ref, data);
  try {
    for (const { pool } of list) {
      const check = await pool.execute({ op: "sign", ref: key.ref, data });
      if (!verifySignature(curve, key.publicKey, data, check)) throw new Error(`${curve}: invalid signature`);
    }
    const rawRounds: number[] = [];
    const others: number[] = [];
    const figures = list.map((): Series => ({ rates: [], ratios: [], p99: [], ceil: [] }));
    for (let round = 0; round < rounds; round++) {
      const before = cpuSnapshot();
      const rawRate = raw.signRate(curve, key.ref, data, seconds);
      rawRounds.push(rawRate);
      for (const [i, { pool, ceiling }] of list.entries()) {
        const f = figures[i];
        if (f === undefined) continue;
        // Enough calls outstanding that every thread always has its next batch at hand.
        const call = () => pool.execute({ op: "sign", ref: key.ref, data });
        const r = await storm(call, 64 * pool.size, seconds, round === 0 ? 500 : 100);
        f.rates.push(r.rate);
        f.ratios.push(r.rate / rawRate);
        f.p99.push(r.loopP99Ms);
        f.ceil.push(await ceiling.rate(seconds));
      }
      others.push(othersLoad(before, availableParallelism()));
      const line = list.map((r, i) => `x${r.size} ${figures[i]?.rates.at(-1)?.toFixed(0)}`).join(", ");
      const busy = `others ${Math.round(100 * (others.at(-1) ?? 0))} %`;
      console.log(`  ${curve} round ${round + 1}/${rounds}: raw ${rawRate.toFixed(0)}/s, ${line} (${busy})`);
    }
    return {
      curve,
      raw: median(rawRounds),
      rawRounds,
      others,
      pools: list.map(({ size }, i) => {
        const f: Series = figures[i] ?? { rates: [], ratios: [], p99: [], ceil: [] };
        const loopP99Ms = Math.max(...f.p99);
        return {
          size,
          rate: median(f.rates),
          ratio: median(f.ratios),
          loopP99Ms,
          ceiling: median(f.ceil),
          rounds: f.rates,
        };
      }),
    };
  } finally {
    for (const { pool, ceiling } of list) {
      await pool.close();
      await ceiling.close();
    }
  }
}
