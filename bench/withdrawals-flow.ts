// The withdrawal path of bench/withdrawals.ts, through the same code a server runs: a service account POSTs a
// withdrawal to the HTTP API's handler function (server/service-accounts/http.ts postWithdrawal, the function the
// route app/api/v1/withdrawals/route.ts calls, given a Request) → the policy's automatic rule approves it with
// no vote under its velocity caps → the executor claims it and runs the withdrawal step (build from chain data,
// decode, check against the intent, sign on the HSM, assemble, record) → every audit event on the way, sealed by
// the integrator after each commit. Setup (people, keys, funds, policy, account) is made through the domain too;
// only the 10,000 keys that are "loaded" around the bench's own are seeded rows (bench/operations-keys.ts).
import { randomUUID } from "node:crypto";
import { secp256k1 } from "@noble/curves/secp256k1";
import { randomBytes } from "node:crypto";
import { desc, eq } from "drizzle-orm";
import type { Db } from "@/db/client";
import { keys, operations, policyVersions } from "@/db/schema";
import type { ChainConfig } from "@/server/chains/config";
import { installChainConfig } from "@/server/chains/current";
import { installChainClients } from "@/server/chains/registry";
import { addressOn } from "@/server/custody/addresses";
import { NATIVE_ASSETS } from "@/server/custody/assets";
import { startTestEvm, type TestEvm } from "@/server/custody/testing/evm";
import { fakeUtxos, makePsbtBase64 } from "@/server/custody/testing/psbt";
import { createTestSolana, type TestSolana } from "@/server/custody/testing/svm";
import type { Chain } from "@/server/custody/types";
import { claimApproved } from "@/server/operations/executor/claim";
import { executeClaimed } from "@/server/operations/executor/execute";
import { runExecutorRound } from "@/server/operations/executor/run";
import { judgeOperation } from "@/server/operations/judgement";
import { updatePolicy } from "@/server/operations/policy-store";
import { proposeOperation } from "@/server/operations/propose";
import { settleJudgement } from "@/server/operations/settle";
import { approveInTurn } from "@/server/operations/testing/approve";
import { DEFAULT_POLICY } from "@/server/policy/document";
import { postWithdrawal } from "@/server/service-accounts/http";
import { createServiceAccount } from "@/server/service-accounts/manage";
import { memoryServiceRateLimits } from "@/server/service-accounts/rate-limit";
import {
  TEST_WEBAUTHN_CONFIG as config,
  firstAdmin,
  invitedMember,
} from "@/server/testing/identity-fixtures";

export const BENCH_CHAINS: readonly Chain[] = ["ethereum", "solana", "bitcoin"];
export const PHASES = ["api", "approve", "claim", "execute"] as const;
export type Phase = (typeof PHASES)[number];
export type PhaseTimes = Record<Phase, number[]>;
export const emptyPhases = (): PhaseTimes => ({ api: [], approve: [], claim: [], execute: [] });

/** One chain engine for the whole run: EDR for Ethereum, litesvm for Solana (Bitcoin needs none: PSBTs). */
export type Chains = { evm: TestEvm; sol: TestSolana; config: ChainConfig };

export async function startChains(): Promise<Chains> {
  const evm = await startTestEvm();
  const sol = createTestSolana();
  const config: ChainConfig = {
    networks: { bitcoin: "regtest", ethereum: { chainId: evm.chainId }, solana: "localnet" },
    rpc: { ethereum: null, solana: null },
    confirmations: { ethereum: 1, solana: 1 },
    assets: [NATIVE_ASSETS.bitcoin, NATIVE_ASSETS.ethereum, NATIVE_ASSETS.solana],
    assetsSource: "test",
  };
  installChainConfig(config);
  installChainClients({ ethereum: evm.client, solana: sol.client });
  return { evm, sol, config };
}

export function stopChains(): void {
  installChainClients(null);
  installChainConfig(null);
}

type BenchKey = { id: string; hsmRef: string; publicKey: string; curve: string };

export type Setup = {
  db: Db;
  chains: Chains;
  apiKey: string;
  /** Keys per chain, one lane after another taking them in turn (ETH nonces are locked per key). */
  keys: Record<Chain, BenchKey[]>;
  /** Each Bitcoin key's unsigned PSBTs, made up front (the wallet backend's work, not Keyward's). */
  psbts: Map<string, string[]>;
  destinations: Record<Chain, string>;
  limits: ReturnType<typeof memoryServiceRateLimits>;
};

const ETH = 10n ** 18n;
const AMOUNT: Record<Chain, string> = { ethereum: "0.000001", solana: "0.000001", bitcoin: "0.00001" };
const FEE_CAP: Record<Chain, string> = { ethereum: "0.001", solana: "0.001", bitcoin: "0.0001" };
const BTC_UTXO = 100_000n;
const BTC_PAY = 1_000n;
const BTC_FEE = 1_000n;

/** The automatic rule judged: the backend's small withdrawals on every chain, capped per chain per day. */
export function benchPolicy() {
  const assets = BENCH_CHAINS.map((chain) => ({ chain, symbol: NATIVE_ASSETS[chain].symbol }));
  return {
    ...DEFAULT_POLICY,
    rules: [
      {
        id: "bench-api-small",
        description: "The exchange backend's small withdrawals, no vote (benchmark)",
        match: { kinds: ["withdrawal"], initiators: ["service"], assets },
        automatic: true,
        // Far above what a run withdraws, so every proposal is counted under the cap and approved.
        velocity: assets.map((asset) => ({
          per: "chain",
          asset,
          limit: (10n ** 30n).toString(),
          windowHours: 24,
          over: "deny",
        })),
      },
    ],
  };
}

/**
 * People, `perChain` keys per curve made by key.create through quorum and the executor on the HSM, funds on
 * the chains, the policy, a service account and the Bitcoin PSBTs. Then `loadedKeys` more key rows.
 */
export async function setUp(
  db: Db,
  chains: Chains,
  o: { perChain: number; psbtsPerKey: number; seedLoaded: (db: Db) => Promise<void> },
): Promise<Setup> {
  const now = new Date();
  const clock = () => new Date();
  const admin = await firstAdmin(db, { now });
  const operator = await invitedMember(db, admin.acting, { now, roles: ["operator"] });
  const voters = [
    await invitedMember(db, admin.acting, { now, roles: ["approver"], name: "Approver 1" }),
    await invitedMember(db, admin.acting, { now, roles: ["approver"], name: "Approver 2" }),
  ];
  const made: string[] = [];
  for (const curve of ["secp256k1", "ed25519"] as const) {
    for (let i = 0; i < o.perChain; i++) {
      const op = await proposeOperation(db, {
        actor: operator.acting,
        kind: "key.create",
        payload: { label: `bench hot ${curve} ${i}`, curve, tags: ["hot"], exportable: "never" },
        now,
      });
      await approveInTurn(db, config, { operationId: op.id, voters, now });
      made.push(op.id);
    }
  }
  const noWait = { attempts: 3, backoffMs: 0, maxBackoffMs: 0 };
  await runExecutorRound({ db, clock, retry: noWait }, { concurrency: 2 });
  const rows: BenchKey[] = [];
  for (const id of made) {
    const [row] = await db.select().from(keys).where(eq(keys.operationId, id));
    if (row?.state !== "active") throw new Error(`bench key of operation ${id} is not active`);
    rows.push({ id: row.id, hsmRef: row.hsmRef, publicKey: row.publicKey, curve: row.curve });
  }
  const secp = rows.filter((k) => k.curve === "secp256k1");
  const ed = rows.filter((k) => k.curve === "ed25519");
  const { networks } = chains.config;
  for (const k of secp) await chains.evm.setBalance(addressOn(k, "ethereum", networks) ?? "", 10_000n * ETH);
  for (const k of ed) chains.sol.airdrop(addressOn(k, "solana", networks) ?? "", 10n * 10n ** 9n);
  const psbts = new Map<string, string[]>();
  const stranger = Buffer.from(secp256k1.getPublicKey(secp256k1.utils.randomPrivateKey(), false)).toString(
    "hex",
  );
  const btcDestination = addressOn({ curve: "secp256k1", publicKey: stranger }, "bitcoin", networks) ?? "";
  for (const k of secp) {
    const from = addressOn(k, "bitcoin", networks) ?? "";
    const list: string[] = [];
    for (let i = 0; i < o.psbtsPerKey; i++) {
      list.push(
        makePsbtBase64({
          network: "regtest",
          utxos: fakeUtxos(from, [BTC_UTXO], "regtest"),
          outputs: [
            { address: btcDestination, value: BTC_PAY },
            { address: from, value: BTC_UTXO - BTC_PAY - BTC_FEE },
          ],
        }),
      );
    }
    psbts.set(k.id, list);
  }
  await updatePolicy(db, { actor: admin.acting, now, document: benchPolicy() });
  const account = await createServiceAccount(db, {
    actorId: admin.acting.id,
    account: {
      name: "exchange-backend",
      scopes: ["withdrawals:propose", "withdrawals:read"],
      expiresInDays: 30,
      ratePerMinute: 100_000,
    },
    now,
  });
  await o.seedLoaded(db);
  return {
    db,
    chains,
    apiKey: account.apiKey,
    keys: { ethereum: secp, bitcoin: secp, solana: ed },
    psbts,
    destinations: {
      ethereum: "0x000000000000000000000000000000000000bEEF",
      solana: addressOn({ curve: "ed25519", publicKey: "11".repeat(32) }, "solana", networks) ?? "",
      bitcoin: btcDestination,
    },
    limits: memoryServiceRateLimits(),
  };
}

/**
 * `count` withdrawals executed earlier today (spread over the last 23 hours, within the caps' 24 h window), as
 * rows straight into `operations` with valid withdrawal payloads from the bench's keys, spread over the three
 * chains: the history a busy day leaves behind, which every capped judgement has to count. No audit events (the
 * audit chain verified at the end is the run's own); the amounts are tiny beside the caps.
 */
export async function prefillHistory(s: Setup, count: number): Promise<void> {
  const [policy] = await s.db
    .select({ version: policyVersions.version })
    .from(policyVersions)
    .orderBy(desc(policyVersions.version))
    .limit(1);
  if (policy === undefined) throw new Error("no policy version");
  const now = Date.now();
  const { networks } = s.chains.config;
  const network: Record<Chain, string> = {
    bitcoin: networks.bitcoin,
    ethereum: String(networks.ethereum.chainId),
    solana: networks.solana,
  };
  for (let from = 0; from < count; from += 1_000) {
    const rows = Array.from({ length: Math.min(1_000, count - from) }, (_, j) => {
      const i = from + j;
      const chain = BENCH_CHAINS[i % BENCH_CHAINS.length] ?? "ethereum";
      const key = s.keys[chain][i % s.keys[chain].length];
      if (key === undefined) throw new Error(`no ${chain} key`);
      const executedAt = new Date(now - Math.floor(((i + 0.5) / count) * 23 * 3_600_000));
      return {
        id: randomUUID(),
        kind: "withdrawal",
        payload: {
          keyId: key.id,
          keyLabel: "bench hot",
          keyTags: ["hot"],
          chain,
          network: network[chain],
          from: addressOn(key, chain, networks) ?? "",
          asset: NATIVE_ASSETS[chain].symbol,
          decimals: NATIVE_ASSETS[chain].decimals,
          amount: "1000",
          destination: s.destinations[chain],
          feeCap: "1000",
          ...(chain === "bitcoin" ? { psbt: "cHNidP8BAAoCAAAAAAAAAAAAAAA=" } : {}),
        },
        systemInitiator: "rotation-sweep" as const,
        state: "executed" as const,
        digest: randomBytes(32).toString("hex"),
        policyVersion: policy.version,
        ruleId: "bench-api-small",
        createdAt: executedAt,
        expiresAt: new Date(executedAt.getTime() + 48 * 3_600_000),
        decidedAt: executedAt,
        executedAt,
        attempts: 1,
      };
    });
    await s.db.insert(operations).values(rows);
  }
}

/** Set when the API's answer was already approved (the proposing transaction applied the automatic rule). */
export const approvedAtProposal = { seen: 0, settledByBench: 0 };

/**
 * The automatic rule's approval for a proposal left pending: the judgement and its settlement under the row
 * lock, as a release does (server/operations/release.ts), in a transaction of its own. Needed only while
 * proposeOperation does not yet apply an automatic rule in the proposing transaction itself; the bench says
 * which of the two it measured.
 */
async function settleAutomatic(db: Db, operationId: string): Promise<string> {
  return db.transaction(async (tx) => {
    const [op] = await tx.select().from(operations).where(eq(operations.id, operationId)).for("update");
    if (op === undefined) throw new Error(`no operation ${operationId}`);
    if (op.state !== "pending") return op.state;
    const now = new Date();
    return settleJudgement(tx, op, await judgeOperation(tx, op, now), { actor: "system", at: now });
  });
}

async function timed<T>(phases: PhaseTimes, phase: Phase, work: () => Promise<T>): Promise<T> {
  const start = performance.now();
  try {
    return await work();
  } finally {
    phases[phase].push(performance.now() - start);
  }
}

/** One withdrawal from the API request to the recorded signature; throws on anything but that. */
export async function oneWithdrawal(
  s: Setup,
  chain: Chain,
  key: BenchKey,
  phases: PhaseTimes,
): Promise<void> {
  const psbt = chain === "bitcoin" ? s.psbts.get(key.id)?.pop() : undefined;
  if (chain === "bitcoin" && psbt === undefined)
    throw new Error("out of Bitcoin PSBTs: raise --psbts-per-key");
  const body = {
    keyId: key.id,
    chain,
    asset: NATIVE_ASSETS[chain].symbol,
    amount: AMOUNT[chain],
    destination: s.destinations[chain],
    feeCap: FEE_CAP[chain],
    ...(psbt !== undefined ? { psbt } : {}),
  };
  const request = new Request("http://localhost:3000/api/v1/withdrawals", {
    method: "POST",
    headers: {
      Authorization: `Bearer ${s.apiKey}`,
      "Content-Type": "application/json",
      "Idempotency-Key": randomUUID(),
    },
    body: JSON.stringify(body),
  });
  const deps = { db: s.db, clock: () => new Date(), limits: s.limits };
  const answer = await timed(phases, "api", async () => {
    const response = await postWithdrawal(request, deps);
    return { status: response.status, body: (await response.json()) as { id?: string; state?: string } };
  });
  if (answer.status !== 201 || answer.body.id === undefined)
    throw new Error(`POST /api/v1/withdrawals answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  const id = answer.body.id;
  if (answer.body.state === "approved") approvedAtProposal.seen++;
  else {
    const state = await timed(phases, "approve", () => settleAutomatic(s.db, id));
    if (state !== "approved") throw new Error(`withdrawal ${id} is ${state}, not approved automatically`);
    approvedAtProposal.settledByBench++;
  }
  const claimed = await timed(phases, "claim", () => claimApproved(s.db, new Date(), id));
  if (claimed === null) throw new Error(`withdrawal ${id} could not be claimed`);
  const outcome = await timed(phases, "execute", () =>
    executeClaimed({ db: s.db, clock: () => new Date() }, claimed),
  );
  if (outcome.outcome !== "executed") throw new Error(`withdrawal ${id}: ${JSON.stringify(outcome)}`);
}

/** Closed loop: `lanes` lanes each run withdrawals back to back for `seconds`; withdrawals per second. */
export async function runLanes(
  s: Setup,
  chain: Chain,
  lanes: number,
  seconds: number,
  phases: PhaseTimes,
): Promise<{ rate: number; withdrawals: number }> {
  const pool = s.keys[chain];
  const until = performance.now() + seconds * 1000;
  const start = performance.now();
  const counts = await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      const key = pool[lane % pool.length];
      if (key === undefined) throw new Error(`no ${chain} key`);
      let done = 0;
      while (performance.now() < until) {
        await oneWithdrawal(s, chain, key, phases);
        done++;
      }
      return done;
    }),
  );
  const withdrawals = counts.reduce((a, b) => a + b, 0);
  return { rate: withdrawals / ((performance.now() - start) / 1000), withdrawals };
}
