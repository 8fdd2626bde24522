// Broadcast and tracking (server/withdrawals/broadcast.ts) on PGlite and PostgreSQL against real chain engines:
// litesvm (Solana) and EDR (Ethereum), with transactions signed by a real SoftHSM key. A signed withdrawal is
// broadcast once and confirmed at the configured confirmations with its audit events; a dropped Solana
// transaction is re-sent as the same bytes only and is dead once its blockhash expired; a refused one is tracked
// to death, never rebuilt; a failed one is recorded failed; an Ethereum transaction whose nonce another
// transaction used is dead; nothing happens on a chain without a client; two trackers at once record each once.
import { randomBytes } from "node:crypto";
import { getBase64EncodedWireTransaction, getTransactionDecoder, type SignatureBytes } from "@solana/kit";
import { asc, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditEvents, keys, withdrawals } from "@/db/schema";
import { insertExecutedWithdrawal } from "./testing/executed-operation";
import * as ethereum from "@/server/custody/ethereum";
import { solanaAddress } from "@/server/custody/solana";
import * as solana from "@/server/custody/solana";
import { startTestEvm, type TestEvm } from "@/server/custody/testing/evm";
import { createTestSolana, type TestSolana } from "@/server/custody/testing/svm";
import type { Asset, DecodedTransaction, SignedTransaction } from "@/server/custody/types";
import { closeHsm } from "@/server/hsm";
import { makeKeyOnToken } from "@/server/hsm/testing/key-on-token";
import { signOnToken } from "@/server/hsm/testing/sign-on-token";
import { createTestToken, type TestToken } from "@/server/hsm/testing/test-token";
import { ensurePolicySeeded } from "@/server/operations/policy-store";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";
import { startScheduler } from "@/server/operations/scheduler/scheduler";
import { type TrackerDeps, trackWithdrawals } from "./broadcast";
import { trackingJob, WITHDRAWAL_TRACK_JOB } from "./track-job";

const SOL: Asset = { chain: "solana", symbol: "SOL", name: "Solana", decimals: 9, kind: "native" };
const ETH: Asset = { chain: "ethereum", symbol: "ETH", name: "Ether", decimals: 18, kind: "native" };

let token: TestToken;
let edKey: { ref: string; publicKey: string };
let ecKey: { ref: string; publicKey: string };

beforeAll(async () => {
  token = createTestToken("kw-broadcast");
  edKey = await makeKeyOnToken(token, { curve: "ed25519", label: "broadcast solana" });
  ecKey = await makeKeyOnToken(token, { curve: "secp256k1", label: "broadcast ethereum" });
});
afterAll(() => {
  closeHsm();
  token?.cleanup();
});

function decodedJson(d: DecodedTransaction) {
  return {
    ...d,
    maxFee: d.maxFee.toString(),
    transfers: d.transfers.map((t) => ({ ...t, amount: t.amount.toString() })),
  };
}

describe.each(testEngines())("broadcast and tracking on %s", (engine) => {
  const db = useTestDatabase(engine);
  let chain: TestSolana;
  let from: string;
  let evm: TestEvm;
  let ethFrom: string;
  let edKeyId: string;
  let ecKeyId: string;
  let policyVersion: number;
  let at = new Date("2026-12-02T12:00:00Z");
  const clock = () => at;

  beforeAll(async () => {
    chain = createTestSolana();
    from = solanaAddress(edKey.publicKey);
    chain.airdrop(from, 100_000_000_000n);
    evm = await startTestEvm();
    ethFrom = ethereum.ethereumAddress(ecKey.publicKey);
    await evm.setBalance(ethFrom, 10n ** 18n);
    policyVersion = (await ensurePolicySeeded(db(), at)).version;
    const keyRow = (curve: string, publicKey: string) => ({
      label: `broadcast ${curve}`,
      curve,
      state: "active" as const,
      hsmRef: randomBytes(16).toString("hex"),
      publicKey,
      exportable: "never" as const,
    });
    const [ed, ec] = await db()
      .insert(keys)
      .values([keyRow("ed25519", edKey.publicKey), keyRow("secp256k1", ecKey.publicKey)])
      .returning({ id: keys.id });
    if (!ed || !ec) throw new Error("keys not inserted");
    edKeyId = ed.id;
    ecKeyId = ec.id;
  });

  const deps = (overrides: Partial<TrackerDeps> = {}): TrackerDeps => ({
    db: db(),
    clock,
    clients: { solana: chain.client, ethereum: evm.client },
    confirmations: { ethereum: 2, solana: 1 },
    ...overrides,
  });

  /** An executed withdrawal operation with its signed transaction stored, as the executor leaves it. */
  async function storeSigned(input: {
    chain: "solana" | "ethereum";
    signed: SignedTransaction;
    nonce?: string;
    lastValidBlockHeight?: bigint;
  }): Promise<{ id: string; operationId: string }> {
    const operationId = await insertExecutedWithdrawal(db(), {
      keyId: input.chain === "solana" ? edKeyId : ecKeyId,
      chain: input.chain,
      transfer: input.signed.decoded.transfers[0],
      policyVersion,
      at,
    });
    const [row] = await db()
      .insert(withdrawals)
      .values({
        operationId,
        chain: input.chain,
        network: input.signed.decoded.network,
        keyId: input.chain === "solana" ? edKeyId : ecKeyId,
        asset: input.signed.decoded.transfers[0]?.asset ?? "",
        nonce: input.nonce ?? input.signed.decoded.nonce ?? null,
        lastValidBlockHeight: input.lastValidBlockHeight?.toString() ?? null,
        unsigned: "-",
        raw: input.signed.raw,
        txid: input.signed.txid,
        decoded: decodedJson(input.signed.decoded),
        state: "signed",
        signedAt: at,
      })
      .returning({ id: withdrawals.id });
    if (!row) throw new Error("withdrawal not inserted");
    return { id: row.id, operationId };
  }

  async function solTransfer(destination: string, amount: bigint) {
    const config = { cluster: "localnet" as const, assets: [SOL] };
    const { blockhash, lastValidBlockHeight } = await chain.client.latestBlockhash();
    const built = await solana.buildTransfer({
      from,
      destination,
      asset: SOL,
      amount,
      blockhash,
      lastValidBlockHeight,
    });
    const sigs = await Promise.all(
      solana.signingRequests(built.unsigned).map((r) => signOnToken(token, edKey.ref, r.data)),
    );
    return { built, signed: solana.assemble(built.unsigned, sigs, edKey.publicKey, config) };
  }

  async function newWallet(): Promise<string> {
    return solanaAddress((await makeKeyOnToken(token, { curve: "ed25519", label: "destination" })).publicKey);
  }

  async function row(id: string) {
    const [r] = await db().select().from(withdrawals).where(eq(withdrawals.id, id));
    if (!r) throw new Error("no row");
    return r;
  }
  async function events(operationId: string) {
    const rows = await db()
      .select({ action: auditEvents.action, data: auditEvents.data })
      .from(auditEvents)
      .where(eq(auditEvents.subject, `operation:${operationId}`))
      .orderBy(asc(auditEvents.id)); // staging order: the order they were written in
    return rows.filter((r) => r.action.startsWith("withdrawal."));
  }
  const advance = (ms = 1000) => {
    at = new Date(at.getTime() + ms);
  };

  it("broadcasts a signed SOL withdrawal once and confirms it, with withdrawal.broadcast and .confirmed", async () => {
    const destination = await newWallet();
    const { built, signed } = await solTransfer(destination, 2_000_000_000n);
    const w = await storeSigned({
      chain: "solana",
      signed,
      lastValidBlockHeight: built.lastValidBlockHeight,
    });
    const sentBefore = chain.sent.length;
    advance();
    const report = await trackWithdrawals(deps());
    expect(report.confirmed).toBe(1);
    expect(await chain.client.balance(destination, SOL)).toBe(2_000_000_000n);
    const r = await row(w.id);
    expect(r).toMatchObject({ state: "confirmed", confirmations: 1, txid: signed.txid, reason: null });
    expect(r.broadcastAt).toEqual(at);
    // Later sweeps leave it alone: sent exactly once.
    advance();
    await trackWithdrawals(deps());
    expect(chain.sent.length - sentBefore).toBe(1);
    expect((await events(w.operationId)).map((e) => e.action)).toEqual([
      "withdrawal.broadcast",
      "withdrawal.confirmed",
    ]);
    expect((await events(w.operationId))[1]?.data).toMatchObject({ txid: signed.txid, confirmations: 1 });
  });

  it("waits for the configured confirmations before confirming", async () => {
    const { built, signed } = await solTransfer(await newWallet(), 1_000_000_000n);
    const w = await storeSigned({
      chain: "solana",
      signed,
      lastValidBlockHeight: built.lastValidBlockHeight,
    });
    const three = deps({ confirmations: { ethereum: 2, solana: 3 } });
    await trackWithdrawals(three);
    expect(await row(w.id)).toMatchObject({ state: "broadcast", confirmations: 1 });
    chain.advance(1n);
    await trackWithdrawals(three);
    expect(await row(w.id)).toMatchObject({ state: "broadcast", confirmations: 2 });
    chain.advance(1n);
    await trackWithdrawals(three);
    expect(await row(w.id)).toMatchObject({ state: "confirmed", confirmations: 3 });
  });

  it("a dropped SOL transaction is re-sent only as the same bytes, then dead past its last valid block height", async () => {
    const destination = await newWallet();
    const { built, signed } = await solTransfer(destination, 1_000_000_000n);
    const w = await storeSigned({
      chain: "solana",
      signed,
      lastValidBlockHeight: built.lastValidBlockHeight,
    });
    const sentBefore = chain.sent.length;
    chain.hold(true);
    try {
      await trackWithdrawals(deps());
      expect(await row(w.id)).toMatchObject({ state: "broadcast" });
      expect(chain.sent.length - sentBefore).toBe(1);
      // Looks within the first 2 s send nothing again; at 2 s and 4 s the same bytes go out again.
      advance(1000);
      expect((await trackWithdrawals(deps())).resent).toBe(0);
      advance(1000);
      expect((await trackWithdrawals(deps())).resent).toBe(1);
      advance(1000);
      expect((await trackWithdrawals(deps())).resent).toBe(0);
      advance(1000);
      expect((await trackWithdrawals(deps())).resent).toBe(1);
      chain.advance(100n);
      advance(60_000);
      await trackWithdrawals(deps());
      expect(await row(w.id)).toMatchObject({ state: "broadcast" });
      chain.advance(60n); // past lastValidBlockHeight (150 blocks after the blockhash)
      advance(1000);
      const report = await trackWithdrawals(deps());
      expect(report.dead).toBe(1);
    } finally {
      chain.hold(false);
    }
    const r = await row(w.id);
    expect(r.state).toBe("dead");
    expect(r.reason).toMatch(/blockhash expired at block height/);
    const sends = chain.sent.slice(sentBefore);
    expect(sends.length).toBe(4);
    expect(new Set(sends)).toEqual(new Set([signed.raw]));
    expect(await chain.client.balance(destination, SOL)).toBe(0n);
    expect((await events(w.operationId)).map((e) => e.action)).toEqual([
      "withdrawal.broadcast",
      "withdrawal.dead",
    ]);
    // Dead is final: no sweep touches it again.
    await trackWithdrawals(deps());
    expect(chain.sent.length - sentBefore).toBe(sends.length);
  });

  it("a transaction the node refuses is recorded broadcast with the refusal and tracked to death, never rebuilt", async () => {
    const { built, signed } = await solTransfer(await newWallet(), 1_000_000_000n);
    // The stored signature broken (as a corrupted row would be): the node refuses it at every send.
    const tx = getTransactionDecoder().decode(solana.wireBytes(signed.raw));
    const broken = Uint8Array.from(Object.values(tx.signatures)[0] ?? new Uint8Array(64));
    broken[0] = (broken[0] ?? 0) ^ 1;
    const raw = getBase64EncodedWireTransaction({ ...tx, signatures: { [from]: broken as SignatureBytes } });
    const w = await storeSigned({
      chain: "solana",
      signed: { ...signed, raw },
      lastValidBlockHeight: built.lastValidBlockHeight,
    });
    const sentBefore = chain.sent.length;
    await trackWithdrawals(deps());
    expect(await row(w.id)).toMatchObject({
      state: "broadcast",
      reason: expect.stringMatching(/node refused it.*SignatureFailure/),
    });
    const [broadcastEvent] = await events(w.operationId);
    expect(broadcastEvent?.data).toMatchObject({ refused: expect.stringMatching(/SignatureFailure/) });
    chain.advance(200n);
    await trackWithdrawals(deps());
    expect(await row(w.id)).toMatchObject({ state: "dead" });
    expect(new Set(chain.sent.slice(sentBefore))).toEqual(new Set([raw]));
  });

  it("a transaction that fails in its block is recorded failed with the reason (withdrawal.failed)", async () => {
    // 1,000 lamports to a new account leaves it below rent exemption: executed, fee taken, the transfer fails.
    const { built, signed } = await solTransfer(await newWallet(), 1_000n);
    const w = await storeSigned({
      chain: "solana",
      signed,
      lastValidBlockHeight: built.lastValidBlockHeight,
    });
    const report = await trackWithdrawals(deps());
    expect(report.failed).toBe(1);
    const r = await row(w.id);
    expect(r.state).toBe("failed");
    expect(r.reason).toMatch(/InsufficientFundsForRent/);
    expect((await events(w.operationId)).map((e) => e.action)).toEqual([
      "withdrawal.broadcast",
      "withdrawal.failed",
    ]);
  });

  it("leaves withdrawals of a chain with no client signed (offered as a download)", async () => {
    const { built, signed } = await solTransfer(await newWallet(), 1_000_000_000n);
    const w = await storeSigned({
      chain: "solana",
      signed,
      lastValidBlockHeight: built.lastValidBlockHeight,
    });
    const sentBefore = chain.sent.length;
    await trackWithdrawals(deps({ clients: { ethereum: evm.client, solana: null } }));
    expect(await row(w.id)).toMatchObject({ state: "signed" });
    expect(chain.sent.length).toBe(sentBefore);
    await trackWithdrawals(deps());
    expect(await row(w.id)).toMatchObject({ state: "confirmed" });
  });

  async function ethTransfer(nonce: number, tip: bigint) {
    const fees = await evm.client.fees();
    const unsigned = ethereum.buildTransfer({
      chainId: evm.chainId,
      asset: ETH,
      amount: 10n ** 15n,
      destination: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
      nonce,
      maxFeePerGas: fees.baseFeePerGas * 2n + tip,
      maxPriorityFeePerGas: tip,
    });
    const sigs = await Promise.all(
      ethereum.signingRequests(unsigned).map((r) => signOnToken(token, ecKey.ref, r.data)),
    );
    return ethereum.assemble(unsigned, sigs, { publicKey: ecKey.publicKey, assets: [ETH] });
  }

  it("Ethereum on EDR: mined, confirmed at 2 confirmations", async () => {
    const nonce = await evm.client.pendingNonce(ethFrom);
    const signed = await ethTransfer(nonce, 10n ** 9n);
    const w = await storeSigned({ chain: "ethereum", signed, nonce: String(nonce) });
    await trackWithdrawals(deps());
    expect(await row(w.id)).toMatchObject({ state: "broadcast", confirmations: 1 });
    await evm.mine(1);
    await trackWithdrawals(deps());
    expect(await row(w.id)).toMatchObject({ state: "confirmed", confirmations: 2 });
    expect(await evm.client.minedNonce(ethFrom)).toBe(nonce + 1);
  });

  it("Ethereum on EDR: dead once another transaction used its nonce, never re-sent after", async () => {
    await evm.setAutoMine(false);
    try {
      const nonce = await evm.client.pendingNonce(ethFrom);
      const ours = await ethTransfer(nonce, 10n ** 9n);
      const w = await storeSigned({ chain: "ethereum", signed: ours, nonce: String(nonce) });
      await trackWithdrawals(deps());
      expect(await row(w.id)).toMatchObject({ state: "broadcast" });
      // Another transaction with the same nonce and a higher fee (as a separately approved speed-up would be).
      const other = await ethTransfer(nonce, 5n * 10n ** 9n);
      await evm.client.broadcast(other.raw);
      await evm.mine(1);
      const report = await trackWithdrawals(deps());
      expect(report.dead).toBe(1);
      expect((await row(w.id)).reason).toMatch(/was used by another transaction/);
      expect((await events(w.operationId)).map((e) => e.action)).toEqual([
        "withdrawal.broadcast",
        "withdrawal.dead",
      ]);
    } finally {
      await evm.setAutoMine(true);
    }
  });

  it("two trackers at once broadcast and record each withdrawal once", async () => {
    const made = [];
    for (let i = 0; i < 4; i++) {
      const { built, signed } = await solTransfer(await newWallet(), 1_000_000_000n + BigInt(i));
      made.push(
        await storeSigned({ chain: "solana", signed, lastValidBlockHeight: built.lastValidBlockHeight }),
      );
    }
    await Promise.all([trackWithdrawals(deps()), trackWithdrawals(deps())]);
    for (const w of made) {
      expect(await row(w.id)).toMatchObject({ state: "confirmed" });
      expect((await events(w.operationId)).map((e) => e.action)).toEqual([
        "withdrawal.broadcast",
        "withdrawal.confirmed",
      ]);
    }
  });

  it("a node that does not answer leaves the row as it was; the job run fails saying so, and a later one goes on", async () => {
    const { built, signed } = await solTransfer(await newWallet(), 1_000_000_000n);
    const w = await storeSigned({
      chain: "solana",
      signed,
      lastValidBlockHeight: built.lastValidBlockHeight,
    });
    const down = {
      ...chain.client,
      status: async () => {
        throw new Error("connect ECONNREFUSED 127.0.0.1:8899");
      },
    };
    const report = await trackWithdrawals(deps({ clients: { solana: down } }));
    expect(report.error).toBe(1);
    expect(report.errors[0]).toMatch(/did not say what became of .*ECONNREFUSED/);
    // Sent and recorded broadcast; only the status is unknown to us.
    expect(await row(w.id)).toMatchObject({ state: "broadcast" });
    const job = trackingJob(() => ({ clients: { solana: down }, confirmations: { ethereum: 2, solana: 1 } }));
    await expect(job.run({ db: db(), clock, job: {} as never })).rejects.toThrow(/ECONNREFUSED/);
    await trackWithdrawals(deps());
    expect(await row(w.id)).toMatchObject({ state: "confirmed" });
  });

  it("runs as the withdrawal.track job of the operations scheduler", async () => {
    const { built, signed } = await solTransfer(await newWallet(), 1_000_000_000n);
    const w = await storeSigned({
      chain: "solana",
      signed,
      lastValidBlockHeight: built.lastValidBlockHeight,
    });
    const scheduler = startScheduler({
      db: db(),
      clock,
      intervalMs: 3_600_000,
      handlers: {
        [WITHDRAWAL_TRACK_JOB]: trackingJob(() => ({
          clients: { solana: chain.client },
          confirmations: { ethereum: 2, solana: 1 },
        })),
      },
    });
    try {
      const report = await scheduler.tick();
      expect(report.ran).toContainEqual({ kind: WITHDRAWAL_TRACK_JOB, subject: "recurring", ok: true });
      expect(await row(w.id)).toMatchObject({ state: "confirmed" });
    } finally {
      await scheduler.stop();
    }
  });
});
