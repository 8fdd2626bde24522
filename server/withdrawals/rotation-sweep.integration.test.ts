// Rotation sweeps on PGlite and PostgreSQL with a real SoftHSM token and chain engines we did not write: a funded
// secp256k1 key (ETH and a real ERC-20 on EDR) is rotated by key.rotate through the executor; the job its
// completion enqueued proposes an ETH and a USDC withdrawal to the successor's address (initiator
// "rotation-sweep"), records the Bitcoin skip, and a repeated or concurrent run proposes and records nothing new;
// both sweeps are approved, executed by the executor (the deactivated key signs them: they pay its successor) and
// mined by EDR (balances); the deactivated key can pay nobody else; a chain without a client records why; an
// Ed25519 key's SOL and SPL are swept on litesvm.
import { and, eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditEvents, jobs, keys, operations, withdrawals } from "@/db/schema";
import type { ChainConfig } from "@/server/chains/config";
import { installChainConfig } from "@/server/chains/current";
import { installChainClients } from "@/server/chains/registry";
import { addressOn } from "@/server/custody/addresses";
import { NATIVE_ASSETS } from "@/server/custody/assets";
import type { BitcoinClient } from "@/server/chains/types";
import { TestBitcoinChain } from "@/server/custody/testing/btc-chain";
import { startTestEvm, type TestEvm } from "@/server/custody/testing/evm";
import { createTestSolana, type TestSolana } from "@/server/custody/testing/svm";
import type { Asset } from "@/server/custody/types";
import { createTestToken, type TestToken } from "@/server/hsm/testing/test-token";
import { runExecutorRound } from "@/server/operations/executor/run";
import { useTokenForServer } from "@/server/operations/executor/testing/fixtures";
import { proposeOperation } from "@/server/operations/propose";
import { defaultHandlers } from "@/server/operations/scheduler/handlers";
import { approveInTurn } from "@/server/operations/testing/approve";
import {
  TEST_WEBAUTHN_CONFIG as config,
  firstAdmin,
  invitedMember,
  type Person,
} from "@/server/testing/identity-fixtures";
import { createTestDatabase, type TestDatabase, testEngines } from "@/server/testing/test-db";
import { runRotationSweep } from "./rotation-sweep";
import { ROTATION_SWEEP_JOB, rotationSweepJobPayload } from "./rotation-sweep-job";
import { rotationSweepsOf } from "./rotation-sweeps-of";

let token: TestToken;
let server: ReturnType<typeof useTokenForServer>;
let evm: TestEvm;
let sol: TestSolana;

beforeAll(async () => {
  token = createTestToken("kw-sweep");
  server = useTokenForServer(token);
  evm = await startTestEvm();
  sol = createTestSolana();
  installChainClients({ ethereum: evm.client, solana: sol.client });
}, 60_000);

afterAll(async () => {
  installChainClients(null);
  installChainConfig(null);
  await server.close();
  token.cleanup();
});

const ETH = 10n ** 18n;

describe.each(testEngines())("rotation sweeps on %s", (engine) => {
  let database: TestDatabase;
  let operator: Person;
  let alice: Person;
  let bob: Person;
  let usdc: Asset;
  let splUsdc: Asset;
  let chains: ChainConfig;
  const now = new Date("2027-03-01T10:00:00.000Z");
  const clock = () => now;
  const noWait = { attempts: 3, backoffMs: 0, maxBackoffMs: 0 };

  beforeAll(async () => {
    database = await createTestDatabase(engine);
    const admin = await firstAdmin(database.db, { now });
    operator = await invitedMember(database.db, admin.acting, { now, roles: ["operator"] });
    alice = await invitedMember(database.db, admin.acting, { now, roles: ["approver"] });
    bob = await invitedMember(database.db, admin.acting, { now, roles: ["approver"] });
    splUsdc = sol.createMint({ symbol: "USDC" });
    // A token contract to begin with; the Ethereum test deploys its own, held by the key it sweeps.
    usdc = await evm.deployToken({
      holder: "0x000000000000000000000000000000000000dEaD",
      amount: 10n ** 12n,
    });
    chains = {
      networks: { bitcoin: "regtest", ethereum: { chainId: evm.chainId }, solana: "localnet" },
      rpc: { ethereum: null, solana: null },
      confirmations: { ethereum: 1, solana: 1 },
      assets: [NATIVE_ASSETS.bitcoin, NATIVE_ASSETS.ethereum, NATIVE_ASSETS.solana, usdc, splUsdc],
      assetsSource: "test",
    };
    installChainConfig(chains);
  }, 120_000);

  afterAll(async () => {
    await database.drop();
  });

  async function approved(kind: string, payload: unknown) {
    const op = await proposeOperation(database.db, { actor: operator.acting, kind, payload, now });
    await approve(op.id);
    return op;
  }

  async function approve(operationId: string) {
    expect(await approveInTurn(database.db, config, { operationId, voters: [alice, bob], now })).toBe(
      "approved",
    );
  }

  const execute = () => runExecutorRound({ db: database.db, clock, retry: noWait }, { concurrency: 1 });

  async function activeKey(curve: "secp256k1" | "ed25519", label: string) {
    const { id: opId } = await approved("key.create", { label, curve, tags: ["hot"], exportable: "never" });
    await execute();
    const [row] = await database.db.select().from(keys).where(eq(keys.operationId, opId));
    if (row?.state !== "active") throw new Error(`key ${label} not active`);
    return row;
  }

  /** key.rotate approved and executed; the old key (deactivated), its successor and the job enqueued. */
  async function rotate(keyId: string) {
    await approved("key.rotate", { keyId });
    await execute();
    const [old] = await database.db.select().from(keys).where(eq(keys.id, keyId));
    const [successor] = await database.db.select().from(keys).where(eq(keys.predecessorId, keyId));
    if (old?.state !== "deactivated" || successor === undefined) throw new Error("not rotated");
    const [job] = await database.db
      .select()
      .from(jobs)
      .where(and(eq(jobs.kind, ROTATION_SWEEP_JOB), eq(jobs.subject, `key:${keyId}`)));
    if (job === undefined) throw new Error("no sweep job enqueued by the rotation");
    return { old, successor, job };
  }

  async function sweepsOf(keyId: string) {
    return database.db
      .select()
      .from(operations)
      .where(
        and(
          eq(operations.kind, "withdrawal"),
          eq(operations.systemInitiator, "rotation-sweep"),
          sql`${operations.payload}->>'keyId' = ${keyId}`,
        ),
      );
  }

  async function skipsOf(keyId: string) {
    return database.db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.action, "key.sweep_skipped"), eq(auditEvents.subject, `key:${keyId}`)));
  }

  const deps = () => ({
    db: database.db,
    now,
    clients: { ethereum: evm.client, solana: sol.client },
    chains,
  });

  it("a rotated Ethereum key: ETH and ERC-20 sweeps to the successor, once, executed and mined", async () => {
    const key = await activeKey("secp256k1", `swept eth ${engine}`);
    const from = addressOn(key, "ethereum", chains.networks) ?? "";
    await evm.setBalance(from, 10n * ETH);
    await fundToken(from, 250_000_000n);
    const { old, successor, job } = await rotate(key.id);
    const to = addressOn(successor, "ethereum", chains.networks) ?? "";
    expect(to).not.toBe(from);

    // The job as the scheduler runs it (handlers.ts, with the configuration and clients installed).
    const handler = defaultHandlers()[ROTATION_SWEEP_JOB];
    if (handler === undefined) throw new Error("no handler for the sweep job");
    // Run twice at once (a job taken back while its first run still went on): one proposal per asset.
    const payload = rotationSweepJobPayload.parse(job.payload);
    await Promise.all([handler.run({ db: database.db, clock, job }), runRotationSweep(deps(), payload)]);

    const sweeps = await sweepsOf(old.id);
    expect(sweeps.map((s) => (s.payload as { asset: string }).asset).sort()).toEqual(["ETH", "USDC"]);
    const byAsset = new Map(sweeps.map((s) => [(s.payload as { asset: string }).asset, s]));
    const eth = byAsset.get("ETH");
    const tok = byAsset.get("USDC");
    if (!eth || !tok) throw new Error("both sweeps");
    const ethPayload = eth.payload as { amount: string; feeCap: string; destination: string; from: string };
    const tokPayload = tok.payload as { amount: string; feeCap: string; destination: string };
    for (const p of [ethPayload, tokPayload]) expect(p.destination).toBe(to);
    expect(ethPayload.from).toBe(from);
    expect(tokPayload.amount).toBe("250000000");
    // The native coin less both fee caps, so both fees are covered whichever executes first.
    expect(BigInt(ethPayload.amount)).toBe(10n * ETH - BigInt(ethPayload.feeCap) - BigInt(tokPayload.feeCap));
    expect(eth.state).toBe("pending");
    // Bitcoin has no client in the registry: said once in the audit trail.
    const skips = await skipsOf(old.id);
    expect(skips.map((s) => s.data)).toEqual([
      expect.objectContaining({ chain: "bitcoin", asset: null, successorId: successor.id }),
    ]);

    // Repeated, and twice at once again: nothing new proposed or recorded.
    const again = await Promise.all([runRotationSweep(deps(), payload), runRotationSweep(deps(), payload)]);
    for (const r of again) {
      expect(r.proposed).toEqual([]);
      expect(r.skipped).toEqual([]);
      expect(r.existing).toHaveLength(3);
    }
    expect(await sweepsOf(old.id)).toHaveLength(2);
    expect(await skipsOf(old.id)).toHaveLength(1);
    // What the key page shows (keyLifecycle.sweeps): both sweeps with their amounts, the skip with its reason.
    const view = await rotationSweepsOf(database.db, old.id);
    expect(view?.successor.id).toBe(successor.id);
    expect(view?.sweeps.map((w) => [w.asset, w.state, w.destination]).sort()).toEqual([
      ["ETH", "pending", to],
      ["USDC", "pending", to],
    ]);
    expect(view?.sweeps.find((w) => w.asset === "USDC")?.amount).toBe("250 USDC");
    expect(view?.skipped.map((k) => k.chain)).toEqual(["bitcoin"]);
    expect(await rotationSweepsOf(database.db, successor.id)).toBeNull();

    // Approved and executed like any withdrawal: the deactivated key signs them, EDR mines them.
    for (const s of [tok, eth]) await approve(s.id);
    const outcomes = await execute();
    for (const s of [tok, eth])
      expect(outcomes.find((o) => o.operationId === s.id)?.outcome).toBe("executed");
    // Broadcast in nonce order (the executor assigned them in the order it ran them).
    const rows = await database.db.select().from(withdrawals);
    const mine = rows
      .filter((r) => r.operationId === tok.id || r.operationId === eth.id)
      .sort((a, b) => Number(a.nonce) - Number(b.nonce));
    expect(mine.map((r) => r.nonce)).toEqual(["0", "1"]);
    for (const row of mine) {
      await evm.client.broadcast(row.raw ?? "");
      expect((await evm.receipt(row.txid ?? ""))?.status).toBe("success");
    }
    expect(await evm.client.balance(to, usdc)).toBe(250_000_000n);
    expect(await evm.client.balance(from, usdc)).toBe(0n);
    expect(await evm.client.balance(to, NATIVE_ASSETS.ethereum)).toBe(BigInt(ethPayload.amount));
    const left = await evm.client.balance(from, NATIVE_ASSETS.ethereum);
    expect(left).toBeGreaterThanOrEqual(0n);
    expect(left).toBeLessThanOrEqual(BigInt(ethPayload.feeCap) + BigInt(tokPayload.feeCap));
  }, 120_000);

  it("a deactivated key can pay nobody but its successor, whoever proposes", async () => {
    const key = await activeKey("secp256k1", `rotated paying ${engine}`);
    const from = addressOn(key, "ethereum", chains.networks) ?? "";
    await evm.setBalance(from, ETH);
    const { successor } = await rotate(key.id);
    const input = {
      keyId: key.id,
      chain: "ethereum",
      asset: "ETH",
      amount: "0.1",
      destination: "0x000000000000000000000000000000000000bEEF",
      feeCap: "0.001",
    };
    const before = await database.db.select({ id: operations.id }).from(operations);
    await expect(
      proposeOperation(database.db, { actor: operator.acting, kind: "withdrawal", payload: input, now }),
    ).rejects.toThrow(/may only sweep its funds to its successor/);
    expect(await database.db.select({ id: operations.id }).from(operations)).toHaveLength(before.length);
    // To the successor it may (a person may propose the sweep by hand too).
    const to = addressOn(successor, "ethereum", chains.networks) ?? "";
    const op = await proposeOperation(database.db, {
      actor: operator.acting,
      kind: "withdrawal",
      payload: { ...input, destination: to },
      now,
    });
    expect(op.state).toBe("pending");
  }, 60_000);

  it("a withdrawal proposed before the rotation, to someone else, fails at execution: nothing signed", async () => {
    const key = await activeKey("secp256k1", `rotated before approval ${engine}`);
    const from = addressOn(key, "ethereum", chains.networks) ?? "";
    await evm.setBalance(from, ETH);
    const early = await proposeOperation(database.db, {
      actor: operator.acting,
      kind: "withdrawal",
      payload: {
        keyId: key.id,
        chain: "ethereum",
        asset: "ETH",
        amount: "0.1",
        destination: "0x000000000000000000000000000000000000bEEF",
        feeCap: "0.001",
      },
      now,
    });
    await rotate(key.id);
    await approve(early.id);
    const outcomes = await execute();
    expect(outcomes.find((o) => o.operationId === early.id)?.outcome).toBe("failed");
    const [row] = await database.db.select().from(operations).where(eq(operations.id, early.id));
    expect(row?.failure ?? "").toMatch(/may only sweep its funds to its successor/);
    expect(await database.db.select().from(withdrawals).where(eq(withdrawals.operationId, early.id))).toEqual(
      [],
    );
  }, 60_000);

  it("a chain without a client records the skip with the reason, and proposes nothing there", async () => {
    const key = await activeKey("secp256k1", `no client ${engine}`);
    await evm.setBalance(addressOn(key, "ethereum", chains.networks) ?? "", ETH);
    const { old, job } = await rotate(key.id);
    const report = await runRotationSweep(
      { ...deps(), clients: { ethereum: null, solana: null } },
      rotationSweepJobPayload.parse(job.payload),
    );
    expect(report.proposed).toEqual([]);
    expect(await sweepsOf(old.id)).toHaveLength(0);
    const skips = (await skipsOf(old.id)).map((s) => s.data as { chain: string; reason: string });
    expect(skips.map((s) => s.chain).sort()).toEqual(["bitcoin", "ethereum"]);
    expect(skips.find((s) => s.chain === "ethereum")?.reason).toMatch(/KEYWARD_ETHEREUM_RPC_URL/);
  }, 60_000);

  it("a token the node does not have is skipped with the reason; the ETH is still swept", async () => {
    const key = await activeKey("secp256k1", `no contract ${engine}`);
    await evm.setBalance(addressOn(key, "ethereum", chains.networks) ?? "", ETH);
    const { old, job } = await rotate(key.id);
    // An asset list that names a contract this chain never had (a list for another network, say).
    const missing: Asset = {
      ...usdc,
      symbol: "USDT",
      contract: "0x00000000000000000000000000000000000C0DE5",
    };
    const report = await runRotationSweep(
      { ...deps(), chains: { ...chains, assets: [...chains.assets, missing] } },
      rotationSweepJobPayload.parse(job.payload),
    );
    expect(report.proposed.map((p) => p.asset)).toEqual(["ETH"]);
    const skip = report.skipped.find((k) => k.asset === "USDT");
    expect(skip?.reason).toMatch(
      /^cannot read the old key's USDT balance: the node has no ERC-20 contract at 0x0+C0DE5, .*KEYWARD_ASSETS_FILE/,
    );
    // Recorded once, so the next run says nothing new about it either.
    expect((await skipsOf(old.id)).map((k) => (k.data as { asset: string | null }).asset).sort()).toEqual(
      expect.arrayContaining(["USDT"]),
    );
    const again = await runRotationSweep(
      { ...deps(), chains: { ...chains, assets: [...chains.assets, missing] } },
      rotationSweepJobPayload.parse(job.payload),
    );
    expect(again.proposed).toEqual([]);
    expect(again.skipped).toEqual([]);
  }, 60_000);

  it("a rotated Bitcoin key: every UTXO spent to the successor in one PSBT, signed, accepted by the test chain", async () => {
    const key = await activeKey("secp256k1", `swept btc ${engine}`);
    const from = addressOn(key, "bitcoin", chains.networks) ?? "";
    const chain = new TestBitcoinChain("regtest");
    const funded = chain.fund(from, [60_000n, 25_000n, 15_000n]);
    // A client over the test chain that also lists the key's UTXOs and gives their previous transactions, as
    // the Esplora client does (server/chains/bitcoin-esplora.ts).
    const bitcoin: BitcoinClient = {
      ...chain.client(),
      utxos: async (address) =>
        address === from ? funded.map((u) => ({ txid: u.txid, vout: u.vout, value: u.value })) : [],
      transactionHex: async (txid) => {
        const u = funded.find((f) => f.txid === txid);
        return u ? Buffer.from(u.previous).toString("hex") : null;
      },
    };
    const { old, successor, job } = await rotate(key.id);
    const to = addressOn(successor, "bitcoin", chains.networks) ?? "";
    const report = await runRotationSweep(
      { ...deps(), clients: { ...deps().clients, bitcoin } },
      rotationSweepJobPayload.parse(job.payload),
    );
    expect(report.proposed.map((p) => [p.chain, p.asset])).toEqual([["bitcoin", "BTC"]]);
    const [sweep] = (await sweepsOf(old.id)).filter(
      (s) => (s.payload as { chain: string }).chain === "bitcoin",
    );
    if (sweep === undefined) throw new Error("no BTC sweep");
    const p = sweep.payload as { amount: string; feeCap: string; feeEstimate: string; destination: string };
    // 3 inputs, 1 output: 10.5 + 3 x 68 + 31 = 246 vB at the 6-block rate of 5 sat/vB.
    expect(p).toMatchObject({ destination: to, feeCap: "1230", feeEstimate: "1230" });
    expect(BigInt(p.amount)).toBe(100_000n - 1230n);
    await approve(sweep.id);
    const outcomes = await execute();
    expect(outcomes.find((o) => o.operationId === sweep.id)?.outcome).toBe("executed");
    const [row] = await database.db.select().from(withdrawals).where(eq(withdrawals.operationId, sweep.id));
    // The test chain checks every input's low-S signature against @scure/btc-signer's own BIP143 sighash.
    await chain.client().broadcast(row?.raw ?? "");
    chain.mine();
    expect(await chain.client().balance(to)).toBe(100_000n - 1230n);
    expect(await chain.client().balance(from)).toBe(0n);
  }, 120_000);

  it("a rotated Solana key: SOL and SPL swept to the successor on litesvm", async () => {
    const key = await activeKey("ed25519", `swept sol ${engine}`);
    const from = addressOn(key, "solana", chains.networks) ?? "";
    sol.airdrop(from, 2n * 10n ** 9n);
    await sol.mintTo(from, splUsdc, 40_000_000n);
    const { old, successor, job } = await rotate(key.id);
    const to = addressOn(successor, "solana", chains.networks) ?? "";
    const report = await runRotationSweep(deps(), rotationSweepJobPayload.parse(job.payload));
    expect(report.proposed.map((p) => p.asset).sort()).toEqual(["SOL", "USDC"]);
    expect(report.skipped).toEqual([]);
    const sweeps = await sweepsOf(old.id);
    const lamports = await sol.client.balance(from, NATIVE_ASSETS.solana);
    for (const s of sweeps) await approve(s.id);
    await execute();
    // The SPL sweep first (it creates the successor's token account), then SOL.
    const ordered = [...sweeps].sort((a) => ((a.payload as { asset: string }).asset === "USDC" ? -1 : 1));
    for (const s of ordered) {
      const [row] = await database.db.select().from(withdrawals).where(eq(withdrawals.operationId, s.id));
      expect(row?.state).toBe("signed");
      await sol.client.broadcast(row?.raw ?? "");
    }
    expect(await sol.client.balance(to, splUsdc)).toBe(40_000_000n);
    const solSweep = sweeps.find((s) => (s.payload as { asset: string }).asset === "SOL");
    if (solSweep === undefined) throw new Error("no SOL sweep");
    const solAmount = BigInt((solSweep.payload as { amount: string }).amount);
    expect(await sol.client.balance(to, NATIVE_ASSETS.solana)).toBe(solAmount);
    expect(solAmount).toBe(lamports - 5000n - (5000n + 2_039_280n));
    expect(await sol.client.balance(from, NATIVE_ASSETS.solana)).toBe(0n);
  }, 120_000);

  /** A fresh deployment of the test ERC-20 (symbol USDC) with `amount` held by `owner`, as the configured USDC. */
  async function fundToken(owner: string, amount: bigint) {
    usdc = await evm.deployToken({ holder: owner, amount });
    chains = {
      ...chains,
      assets: [...chains.assets.filter((a) => a.symbol !== "USDC" || a.chain !== "ethereum"), usdc],
    };
    installChainConfig(chains);
  }
});
