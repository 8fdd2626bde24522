// Lives under server/operations/kinds/ because it wraps the signer facade (to count HSM signatures), which the HSM
// boundary lets only the executor side import (server/hsm/boundary.test.ts).
// withdrawal.speedup end to end on PGlite and PostgreSQL with a real SoftHSM key and the EDR engine: an ETH
// withdrawal is executed and broadcast, then stuck (the next block's base fee raised above its max fee, so mining
// leaves it pending); a speed-up (same nonce, higher fees) is proposed with the chain's base fee, approved by two,
// executed (rebuilt from the stored original, decoded, compared, signed once), broadcast by the tracker (the stuck
// original never sent again), mined: the replacement confirmed, the original dead naming it, the amount moved once.
// Refusals (not a withdrawal, not Ethereum, already confirmed, already in a block, fees not 10 % higher, over the
// cap, another speed-up open) write nothing; a repeated execution signs nothing more; a stored replacement that
// differs from the original in anything but its fees is never signed; chained speed-ups replace the latest.
import { asc, eq } from "drizzle-orm";
import { type Hex, toHex } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "@/db/client";
import { auditEvents, keys, operations, withdrawals } from "@/db/schema";
import type { ChainConfig } from "@/server/chains/config";
import { installChainConfig } from "@/server/chains/current";
import { installChainClients } from "@/server/chains/registry";
import type { EthereumClient } from "@/server/chains/types";
import { addressOn } from "@/server/custody/addresses";
import { NATIVE_ASSETS } from "@/server/custody/assets";
import { buildTransfer, decodeSigned, replaceFees } from "@/server/custody/ethereum";
import { fakeUtxos, makePsbtBase64 } from "@/server/custody/testing/psbt";
import { startTestEvm, type TestEvm } from "@/server/custody/testing/evm";
import { AppError } from "@/server/errors";
import * as signerFacade from "@/server/hsm/signer";
import { createTestToken, type TestToken } from "@/server/hsm/testing/test-token";
import { runExecutorRound } from "@/server/operations/executor/run";
import { useTokenForServer } from "@/server/operations/executor/testing/fixtures";
import type { WithdrawalSigner } from "@/server/operations/executor/types";
import { cancelOperation } from "@/server/operations/cancel";
import { proposeOperation } from "@/server/operations/propose";
import { approveInTurn } from "@/server/operations/testing/approve";
import {
  TEST_WEBAUTHN_CONFIG as config,
  firstAdmin,
  invitedMember,
  type Person,
} from "@/server/testing/identity-fixtures";
import { createTestDatabase, type TestDatabase, testEngines } from "@/server/testing/test-db";
import { trackWithdrawals } from "@/server/withdrawals/broadcast";
import { listWithdrawals } from "@/server/withdrawals/read";
import { feesOf } from "@/server/withdrawals/speedup-fees";
import { speedUpView } from "@/server/withdrawals/speedup-read";
import { withdrawalSteps } from "@/server/withdrawals/steps";
import { operationKind } from ".";
import { SPEEDUP_KIND, speedUpPayloadSchema } from "./withdrawal-speedup-schema";

let token: TestToken;
let server: ReturnType<typeof useTokenForServer>;

beforeAll(() => {
  token = createTestToken("kw-speedup");
  server = useTokenForServer(token);
});

afterAll(async () => {
  installChainClients(null);
  installChainConfig(null);
  await server.close();
  token.cleanup();
});

const ETH = 10n ** 18n;
const GWEI = 10n ** 9n;

describe.each(testEngines())("withdrawal speed-ups on %s", (engine) => {
  let database: TestDatabase;
  let evm: TestEvm;
  let admin: Person;
  let operator: Person;
  let alice: Person;
  let bob: Person;
  let chains: ChainConfig;
  let key: { id: string; publicKey: string; curve: string };
  let from: string;
  const now = new Date("2027-03-01T10:00:00.000Z");
  const clock = () => now;
  let trackerAt = now;
  const noWait = { attempts: 3, backoffMs: 0, maxBackoffMs: 0 };
  const receiver =
    engine === "pglite"
      ? "0x000000000000000000000000000000000000bEEF"
      : "0x000000000000000000000000000000000000cafE";
  /** Every raw transaction handed to the node, in order. */
  const sent: string[] = [];
  let client: EthereumClient;

  beforeAll(async () => {
    evm = await startTestEvm();
    client = {
      chainId: () => evm.client.chainId(),
      pendingNonce: (a) => evm.client.pendingNonce(a),
      minedNonce: (a) => evm.client.minedNonce(a),
      fees: () => evm.client.fees(),
      balance: (a, asset) => evm.client.balance(a, asset),
      broadcast: (raw) => {
        sent.push(raw);
        return evm.client.broadcast(raw);
      },
      status: (txid, s) => evm.client.status(txid, s),
    };
    installChainClients({ ethereum: client, solana: null });
    database = await createTestDatabase(engine);
    admin = await firstAdmin(database.db, { now });
    operator = await invitedMember(database.db, admin.acting, { now, roles: ["operator"] });
    alice = await invitedMember(database.db, admin.acting, { now, roles: ["approver"] });
    bob = await invitedMember(database.db, admin.acting, { now, roles: ["approver"] });
    chains = {
      networks: { bitcoin: "regtest", ethereum: { chainId: evm.chainId }, solana: "localnet" },
      rpc: { ethereum: null, solana: null },
      confirmations: { ethereum: 1, solana: 1 },
      assets: [NATIVE_ASSETS.bitcoin, NATIVE_ASSETS.ethereum, NATIVE_ASSETS.solana],
      assetsSource: "test",
    };
    installChainConfig(chains);
    installChainClients({ ethereum: client, solana: null });
    const { id: opId } = await approved("key.create", {
      label: `speedup ${engine}`,
      curve: "secp256k1",
      tags: ["hot"],
      exportable: "never",
    });
    const outcomes = await runExecutorRound({ db: database.db, clock, retry: noWait }, { concurrency: 1 });
    const [row] = await database.db.select().from(keys).where(eq(keys.operationId, opId));
    if (row?.state !== "active") throw new Error(`key not active: ${JSON.stringify(outcomes)}`);
    key = row;
    from = addressOn(key, "ethereum", chains.networks) ?? "";
    await evm.setBalance(from, 10n * ETH);
    await evm.setAutoMine(false);
  }, 120_000);

  afterAll(async () => {
    await database.drop();
  });

  async function propose(kind: string, payload: unknown, db = database.db) {
    return proposeOperation(db, { actor: operator.acting, kind, payload, now });
  }
  async function approved(kind: string, payload: unknown) {
    const op = await propose(kind, payload);
    expect(await approveInTurn(database.db, config, { operationId: op.id, voters: [alice, bob], now })).toBe(
      "approved",
    );
    return op;
  }
  let signs = 0;
  const counting: WithdrawalSigner = {
    sign: (ref, data) => {
      signs++;
      return signerFacade.sign(ref, data);
    },
  };
  async function execute() {
    const outcomes = await runExecutorRound(
      { db: database.db, clock, retry: noWait, withdrawalSigner: counting },
      { concurrency: 1 },
    );
    return outcomes;
  }
  async function track() {
    trackerAt = new Date(trackerAt.getTime() + 10_000);
    return trackWithdrawals({
      db: database.db,
      clock: () => trackerAt,
      clients: { ethereum: client },
      confirmations: { ethereum: 1, solana: 1 },
    });
  }
  async function rowOf(operationId: string) {
    const [row] = await database.db
      .select()
      .from(withdrawals)
      .where(eq(withdrawals.operationId, operationId));
    if (!row) throw new Error(`no withdrawal row for ${operationId}`);
    return row;
  }
  async function rowCount(): Promise<number> {
    return (await database.db.select().from(withdrawals)).length;
  }
  async function written(): Promise<[number, number, number]> {
    return [
      (await database.db.select().from(operations)).length,
      (await database.db.select().from(auditEvents)).length,
      await rowCount(),
    ];
  }
  /** The next block's base fee, then one block mined. */
  async function mineAtBaseFee(gwei: bigint) {
    await evm.rpc("hardhat_setNextBlockBaseFeePerGas", [toHex(gwei * GWEI)]);
    await evm.mine(1);
  }

  /** An ETH withdrawal executed, broadcast by the tracker, then stuck: a block at 50 gwei leaves it pending. */
  async function stuckWithdrawal(amount: string) {
    await mineAtBaseFee(1n); // fees back to normal for the withdrawal's proposal
    const op = await approved("withdrawal", {
      keyId: key.id,
      chain: "ethereum",
      asset: "ETH",
      amount,
      destination: receiver,
      feeCap: "0.001",
    });
    signs = 0;
    await execute();
    expect(signs).toBe(1);
    expect((await track()).broadcast).toBe(1);
    await mineAtBaseFee(50n);
    await track();
    const row = await rowOf(op.id);
    expect(row).toMatchObject({ state: "broadcast", confirmations: 0, block: null });
    expect(await evm.client.status(row.txid ?? "", { from, nonce: Number(row.nonce) })).toEqual({
      state: "pending",
    });
    return { op, row };
  }

  /** Mines whatever is left in the pool at a low base fee (a refusal test's stuck withdrawal). */
  async function unstick() {
    await mineAtBaseFee(1n);
    await track();
  }

  async function refusal(payload: unknown): Promise<AppError> {
    const before = await written();
    const error = await propose(SPEEDUP_KIND, payload).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect(await written()).toEqual(before);
    return error as AppError;
  }

  it("a stuck ETH withdrawal sped up: approved as its own operation, signed once, mined instead, the amount moved once", async () => {
    const receivedBefore = await evm.client.balance(receiver, NATIVE_ASSETS.ethereum);
    const heldBefore = await evm.client.balance(from, NATIVE_ASSETS.ethereum);
    const { op, row: original } = await stuckWithdrawal("0.25");
    const oldFees = feesOf(original.unsigned);
    expect((await evm.client.fees()).baseFeePerGas).toBe(50n * GWEI);

    const speedUp = await propose(SPEEDUP_KIND, {
      withdrawalOperationId: op.id,
      maxFeePerGas: "120",
      maxPriorityFeePerGas: "3",
      feeCap: "0.01",
    });
    expect(speedUp.state).toBe("pending");
    expect(speedUp.ruleId).toBe("default");
    const payload = speedUpPayloadSchema.parse(speedUp.payload);
    expect(payload).toMatchObject({
      withdrawalOperationId: op.id,
      originalTxid: original.txid,
      replaces: {
        operationId: op.id,
        txid: original.txid,
        maxFeePerGas: oldFees.maxFeePerGas.toString(),
        maxPriorityFeePerGas: oldFees.maxPriorityFeePerGas.toString(),
      },
      nonce: original.nonce,
      amount: (ETH / 4n).toString(),
      destination: receiver,
      maxFeePerGas: (120n * GWEI).toString(),
      maxPriorityFeePerGas: (3n * GWEI).toString(),
      feeCap: (ETH / 100n).toString(),
      baseFeeWhenProposed: (50n * GWEI).toString(),
    });
    // Approvers read it in words: the transaction replaced, its nonce, old → new fees, the same transfer.
    const display = operationKind(SPEEDUP_KIND)?.describe(speedUp.payload);
    const line = (label: string) => display?.lines.find((l) => l.label === label)?.value;
    expect(line("Original transaction")).toBe(original.txid);
    expect(line("Nonce")).toMatch(new RegExp(`^${original.nonce}, unchanged`));
    expect(line("Max fee per gas")).toBe(`${Number(oldFees.maxFeePerGas) / 1e9} gwei → 120 gwei`);
    expect(line("Priority fee per gas")).toBe(`${Number(oldFees.maxPriorityFeePerGas) / 1e9} gwei → 3 gwei`);
    expect(line("Amount")).toMatch(/^0\.25 ETH /);
    expect(line("Destination")).toMatch(new RegExp(`^${receiver}`));
    expect(line("Fee at most")).toMatch(/^0\.01 ETH .*0\.00252 ETH/);
    expect(line("Base fee when proposed")).toBe("50 gwei per gas");

    // Nothing happens until it is approved; the tracker leaves the original as it is.
    await track();
    expect((await rowOf(op.id)).state).toBe("broadcast");
    await approveInTurn(database.db, config, { operationId: speedUp.id, voters: [alice, bob], now });
    signs = 0;
    const outcome = (await execute()).find((o) => o.operationId === speedUp.id);
    expect(outcome?.outcome).toBe("executed");
    expect(signs).toBe(1);
    const replacement = await rowOf(speedUp.id);
    expect(replacement).toMatchObject({ state: "signed", nonce: original.nonce, keyId: key.id });
    // The very same transaction with the new fees: the original's bytes with only the fees changed.
    expect(replacement.unsigned).toBe(
      replaceFees(original.unsigned, { maxFeePerGas: 120n * GWEI, maxPriorityFeePerGas: 3n * GWEI }),
    );
    expect(decodeSigned(replacement.raw ?? "", chains.assets)).toMatchObject({
      from,
      nonce: original.nonce,
      transfers: [{ asset: "ETH", amount: ETH / 4n, destination: receiver }],
    });
    expect(await rowOf(op.id)).toMatchObject({ state: "broadcast", txid: original.txid });

    // The tracker sends the replacement; the node drops the original for it, and the original is not re-sent.
    const sentBefore = sent.length;
    await track();
    expect(await rowOf(speedUp.id)).toMatchObject({ state: "broadcast", reason: null });
    expect(await evm.client.status(original.txid ?? "", { from, nonce: Number(original.nonce) })).toEqual({
      state: "unknown",
    });
    for (let i = 0; i < 3; i++) await track();
    expect(sent.slice(sentBefore)).toEqual([replacement.raw]);

    // Mined: the replacement confirmed, the original provably dead, naming the one mined instead.
    await mineAtBaseFee(50n);
    const report = await track();
    expect(report).toMatchObject({ confirmed: 1, dead: 1 });
    expect(await rowOf(speedUp.id)).toMatchObject({ state: "confirmed", confirmations: 1 });
    const dead = await rowOf(op.id);
    expect(dead.state).toBe("dead");
    expect(dead.reason).toContain(`was used by another transaction`);
    expect(dead.reason).toContain(
      `Keyward's transaction ${replacement.txid} with the same nonce (operation ${speedUp.id}) was mined instead`,
    );
    const receipt = await evm.receipt(replacement.txid ?? "");
    expect(receipt?.status).toBe("success");
    expect(await evm.receipt(original.txid ?? "")).toBeNull();
    // Exactly one transfer: the receiver got the amount once, the key paid it once plus the replacement's fee.
    expect(await evm.client.balance(receiver, NATIVE_ASSETS.ethereum)).toBe(receivedBefore + ETH / 4n);
    const fee = (receipt?.gasUsed ?? 0n) * (receipt?.effectiveGasPrice ?? 0n);
    expect(fee).toBeLessThanOrEqual(ETH / 100n);
    expect(await evm.client.balance(from, NATIVE_ASSETS.ethereum)).toBe(heldBefore - ETH / 4n - fee);
    expect(await evm.client.minedNonce(from)).toBe(Number(original.nonce) + 1);
    // The trail: the replacement's signature on the speed-up, the original's death on the withdrawal.
    const actions = async (id: string) =>
      (
        await database.db
          .select({ action: auditEvents.action })
          .from(auditEvents)
          .where(eq(auditEvents.subject, `operation:${id}`))
          .orderBy(asc(auditEvents.id)) // staging order: the order they were written in
      )
        .map((e) => e.action)
        .filter((a) => a.startsWith("withdrawal."));
    expect(await actions(speedUp.id)).toEqual([
      "withdrawal.signed",
      "withdrawal.broadcast",
      "withdrawal.confirmed",
    ]);
    expect(await actions(op.id)).toEqual(["withdrawal.signed", "withdrawal.broadcast", "withdrawal.dead"]);
    // The withdrawal's page shows the transaction that confirmed: the speed-up's.
    const view = await speedUpView(database.db, op.id, { mayPropose: true });
    expect(view?.confirmed).toEqual({ operationId: speedUp.id, txid: replacement.txid, speedUp: true });
    expect(view?.proposal).toMatchObject({ possible: false });
    // And the withdrawals list shows it confirmed, by the replacement's hash.
    const listed = (await listWithdrawals(database.db, {})).items.find((i) => i.operationId === op.id);
    expect(listed?.transaction).toEqual({ state: "confirmed", txid: replacement.txid, confirmations: 1 });
    // Both are final: later sweeps send nothing.
    const finalSent = sent.length;
    await track();
    await track();
    expect(sent.length).toBe(finalSent);

    // A second execution of the same speed-up finds the signed replacement: nothing is signed again.
    signs = 0;
    const again = await withdrawalSteps(database.db).speedUp({
      operationId: speedUp.id,
      payload,
      signer: counting,
      now,
    });
    expect(signs).toBe(0);
    expect(again.result.txid).toBe(replacement.txid);
    expect(
      await database.db.select().from(withdrawals).where(eq(withdrawals.operationId, speedUp.id)),
    ).toHaveLength(1);
  }, 60_000);

  it("refuses, writing nothing: not a withdrawal, not Ethereum, fees not 10 % higher, over the cap, another speed-up open", async () => {
    const fees = { maxFeePerGas: "120", maxPriorityFeePerGas: "3", feeCap: "0.01" };
    // Not a withdrawal: the key.create that made the key.
    const [keyOp] = await database.db.select().from(operations).where(eq(operations.kind, "key.create"));
    let error = await refusal({ withdrawalOperationId: keyOp?.id, ...fees });
    expect(error.field).toBe("payload.withdrawalOperationId");
    expect(error.message).toMatch(/is a key\.create, not a withdrawal/);
    // Not Ethereum: an executed Bitcoin withdrawal (a PSBT from the wallet backend).
    const btcFrom = addressOn(key, "bitcoin", chains.networks) ?? "";
    // The generator point's address: a key that is not ours.
    const btcDest =
      addressOn(
        {
          curve: "secp256k1",
          publicKey:
            "0479be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8",
        },
        "bitcoin",
        chains.networks,
      ) ?? "";
    const btc = await approved("withdrawal", {
      keyId: key.id,
      chain: "bitcoin",
      asset: "BTC",
      amount: "0.0007",
      destination: btcDest,
      feeCap: "0.00002",
      psbt: makePsbtBase64({
        network: "regtest",
        utxos: fakeUtxos(btcFrom, [80_000n], "regtest"),
        outputs: [
          { address: btcDest, value: 70_000n },
          { address: btcFrom, value: 8_500n },
        ],
      }),
    });
    await execute();
    expect((await rowOf(btc.id)).state).toBe("signed");
    error = await refusal({ withdrawalOperationId: btc.id, ...fees });
    expect(error.field).toBe("payload.withdrawalOperationId");
    expect(error.message).toMatch(/only an Ethereum transaction can be sped up.*bitcoin/);
    // No such operation.
    error = await refusal({ withdrawalOperationId: "00000000-0000-4000-8000-000000000000", ...fees });
    expect(error.code).toBe("NOT_FOUND");

    const { op, row } = await stuckWithdrawal("0.01");
    const old = feesOf(row.unsigned);
    // Fees not 10 % higher: the max fee raised by 9 %, then the tip not raised at all.
    const nine = (old.maxFeePerGas * 109n) / 100n;
    error = await refusal({
      withdrawalOperationId: op.id,
      maxFeePerGas: (Number(nine) / 1e9).toString(),
      maxPriorityFeePerGas: "3",
      feeCap: "0.01",
    });
    expect(error.field).toBe("payload.maxFeePerGas");
    expect(error.message).toMatch(/at least .* gwei per gas \(10% above the stuck transaction's/);
    error = await refusal({
      withdrawalOperationId: op.id,
      maxFeePerGas: "120",
      maxPriorityFeePerGas: (Number(old.maxPriorityFeePerGas) / 1e9).toString(),
      feeCap: "0.01",
    });
    expect(error.field).toBe("payload.maxPriorityFeePerGas");
    // Over the cap: 21000 gas × 120 gwei is 0.00252 ETH, above a 0.002 ETH cap.
    error = await refusal({ withdrawalOperationId: op.id, ...fees, feeCap: "0.002" });
    expect(error.field).toBe("payload.feeCap");
    expect(error.message).toMatch(/up to 0\.00252 ETH .* above the fee cap of 0\.002 ETH/);
    // Below the chain's base fee now (50 gwei): it would be stuck as well.
    error = await refusal({ withdrawalOperationId: op.id, ...fees, maxFeePerGas: "40" });
    expect(error.field).toBe("payload.maxFeePerGas");
    // One speed-up at a time: while one is pending, a second is refused.
    const first = await propose(SPEEDUP_KIND, { withdrawalOperationId: op.id, ...fees });
    error = await refusal({ withdrawalOperationId: op.id, ...fees, maxFeePerGas: "200" });
    expect(error.code).toBe("CONFLICT");
    expect(error.message).toContain(`The speed-up ${first.id} of this withdrawal is still pending`);
    await cancelOperation(database.db, { actor: operator.acting, operationId: first.id, now });
    await unstick();
    expect((await rowOf(op.id)).state).toBe("confirmed");
  }, 60_000);

  it("refuses a withdrawal already in a block or confirmed, and one the node saw mined before the tracker did", async () => {
    const fees = { maxFeePerGas: "120", maxPriorityFeePerGas: "3", feeCap: "0.01" };
    const { op } = await stuckWithdrawal("0.02");
    // Mined, but the tracker has not looked yet: the node says the nonce is used.
    await mineAtBaseFee(1n);
    let error = await refusal({ withdrawalOperationId: op.id, ...fees });
    expect(error.code).toBe("CONFLICT");
    expect(error.message).toMatch(/Nonce \d+ of 0x[0-9a-fA-F]{40} is already used on chain/);
    // In a block, not yet at the confirmations asked for.
    await trackWithdrawals({
      db: database.db,
      clock: () => trackerAt,
      clients: { ethereum: client },
      confirmations: { ethereum: 3, solana: 1 },
    });
    expect(await rowOf(op.id)).toMatchObject({ state: "broadcast", confirmations: 1 });
    error = await refusal({ withdrawalOperationId: op.id, ...fees });
    expect(error.message).toMatch(/already in block 0x[0-9a-f]+ \(1 confirmation\)/);
    // Confirmed.
    await track();
    expect((await rowOf(op.id)).state).toBe("confirmed");
    error = await refusal({ withdrawalOperationId: op.id, ...fees });
    expect(error.code).toBe("CONFLICT");
    expect(error.message).toMatch(/it is confirmed \(1 confirmations in block 0x/);
  }, 60_000);

  it("a stored replacement that differs from the original in more than its fees is never signed", async () => {
    const { op, row } = await stuckWithdrawal("0.03");
    const speedUp = await approved(SPEEDUP_KIND, {
      withdrawalOperationId: op.id,
      maxFeePerGas: "120",
      maxPriorityFeePerGas: "3",
      feeCap: "0.01",
    });
    // Someone with database access stores a replacement first: same nonce, fees, destination and amount (so it
    // passes the intent check) but a higher gas limit.
    const swapped = buildTransfer({
      chainId: evm.chainId,
      asset: NATIVE_ASSETS.ethereum,
      amount: (ETH / 100n) * 3n,
      destination: receiver,
      nonce: Number(row.nonce),
      gasLimit: 60_000n,
      maxFeePerGas: 120n * GWEI,
      maxPriorityFeePerGas: 3n * GWEI,
    });
    await database.db.insert(withdrawals).values({
      operationId: speedUp.id,
      chain: "ethereum",
      network: String(evm.chainId),
      keyId: key.id,
      asset: "ETH",
      nonce: row.nonce,
      unsigned: swapped as Hex,
      decoded: {},
      state: "built",
    });
    signs = 0;
    const outcome = (await execute()).find((o) => o.operationId === speedUp.id);
    expect(outcome?.outcome).toBe("failed");
    expect(outcome && "reason" in outcome ? outcome.reason : "").toContain(
      "its gas limit is 60000, the original's 21000",
    );
    expect(signs).toBe(0);
    expect((await rowOf(speedUp.id)).raw).toBeNull();
    await unstick();
  }, 60_000);

  it("chained speed-ups: a second replaces the first (10 % above it), the one mined confirms, both others dead", async () => {
    const { op, row } = await stuckWithdrawal("0.04");
    const first = await approved(SPEEDUP_KIND, {
      withdrawalOperationId: op.id,
      maxFeePerGas: "60",
      maxPriorityFeePerGas: "2",
      feeCap: "0.01",
    });
    await execute();
    await track();
    expect((await rowOf(first.id)).state).toBe("broadcast");
    // The base fee rises again: the first replacement is stuck too.
    await mineAtBaseFee(100n);
    await track();
    expect(await rowOf(first.id)).toMatchObject({ state: "broadcast", confirmations: 0 });
    // 10 % above the original but not above the first speed-up: refused, naming the latest.
    const error = await refusal({
      withdrawalOperationId: op.id,
      maxFeePerGas: "62",
      maxPriorityFeePerGas: "2.1",
      feeCap: "0.01",
    });
    expect(error.field).toBe("payload.maxFeePerGas");
    expect(error.message).toMatch(/at least 66 gwei per gas \(10% above the latest speed-up's 60 gwei\)/);
    const second = await approved(SPEEDUP_KIND, {
      withdrawalOperationId: op.id,
      maxFeePerGas: "250",
      maxPriorityFeePerGas: "3",
      feeCap: "0.01",
    });
    expect(speedUpPayloadSchema.parse(second.payload).replaces).toMatchObject({
      operationId: first.id,
      txid: (await rowOf(first.id)).txid,
    });
    await execute();
    await track();
    await mineAtBaseFee(100n);
    await track();
    await track();
    expect((await rowOf(second.id)).state).toBe("confirmed");
    expect((await rowOf(first.id)).state).toBe("dead");
    expect((await rowOf(op.id)).state).toBe("dead");
    expect((await rowOf(op.id)).nonce).toBe(row.nonce);
    const view = await speedUpView(database.db, op.id, { mayPropose: true });
    expect(view?.transactions.map((t) => [t.operationId, t.state])).toEqual([
      [op.id, "dead"],
      [first.id, "dead"],
      [second.id, "confirmed"],
    ]);
  }, 60_000);

  it.skipIf(engine !== "postgres")(
    "two speed-ups of one withdrawal proposed at once on two pools: one is stored, the other refused",
    async () => {
      const second = await openDatabase({ engine: "postgres", url: database.url ?? "" });
      try {
        const { op } = await stuckWithdrawal("0.05");
        for (let round = 0; round < 3; round++) {
          const results = await Promise.allSettled(
            [database.db, second.db].map((db) =>
              propose(
                SPEEDUP_KIND,
                {
                  withdrawalOperationId: op.id,
                  maxFeePerGas: "120",
                  maxPriorityFeePerGas: "3",
                  feeCap: "0.01",
                },
                db,
              ),
            ),
          );
          const stored = results.filter((r) => r.status === "fulfilled");
          expect(stored).toHaveLength(1);
          const refused = results.find((r) => r.status === "rejected");
          expect(refused?.status === "rejected" ? (refused.reason as AppError).code : "").toBe("CONFLICT");
          const id = stored[0]?.status === "fulfilled" ? stored[0].value.id : "";
          await cancelOperation(database.db, { actor: operator.acting, operationId: id, now });
        }
        await unstick();
      } finally {
        await second.close();
      }
    },
    60_000,
  );
});
