// Lives under server/operations/ because it wraps the signer facade (to lose an HSM answer), which the HSM
// boundary lets only the executor side import (server/hsm/boundary.test.ts).
// Withdrawals end to end on PGlite and PostgreSQL with a real SoftHSM token, real taps and chain engines we did
// not write: keys made by key.create through the executor; withdrawals proposed (prepare checks every input),
// approved by two approvers, executed (nonce under the key's lock stored before signing, decoded, checked against
// the intent, signed by the HSM, assembled), and the signed transactions accepted by EDR (ETH and an ERC-20,
// balances checked), litesvm (SOL and SPL) and bitcoinjs-lib (PSBT finalised). Out-of-order approvals leave no
// nonce gap; a lost HSM answer repeats with the same stored transaction; bad inputs create nothing.
import { eq } from "drizzle-orm";
import { openDatabase } from "@/db/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditEvents, ethereumNonces, keys, operations, withdrawals } from "@/db/schema";
import type { ChainConfig } from "@/server/chains/config";
import { installChainConfig } from "@/server/chains/current";
import { installChainClients } from "@/server/chains/registry";
import { addressOn } from "@/server/custody/addresses";
import { NATIVE_ASSETS } from "@/server/custody/assets";
import { buildTransfer, decodeSigned } from "@/server/custody/ethereum";
import { makePsbtBase64, fakeUtxos } from "@/server/custody/testing/psbt";
import { createTestSolana, type TestSolana } from "@/server/custody/testing/svm";
import { startTestEvm, type TestEvm } from "@/server/custody/testing/evm";
import type { Asset } from "@/server/custody/types";
import { AppError } from "@/server/errors";
import { HsmError } from "@/server/hsm";
import * as signerFacade from "@/server/hsm/signer";
import { createTestToken, type TestToken } from "@/server/hsm/testing/test-token";
import { runExecutorRound } from "@/server/operations/executor/run";
import { useTokenForServer } from "@/server/operations/executor/testing/fixtures";
import type { WithdrawalSigner } from "@/server/operations/executor/types";
import { updatePolicy } from "@/server/operations/policy-store";
import { proposeOperation } from "@/server/operations/propose";
import { DEFAULT_POLICY } from "@/server/policy/document";
import type { PolicyDocument } from "@/server/policy/schema";
import { approveInTurn } from "@/server/operations/testing/approve";
import {
  TEST_WEBAUTHN_CONFIG as config,
  firstAdmin,
  invitedMember,
  type Person,
} from "@/server/testing/identity-fixtures";
import { createTestDatabase, type TestDatabase, testEngines } from "@/server/testing/test-db";
import { Psbt, Transaction } from "bitcoinjs-lib";

let token: TestToken;
let server: ReturnType<typeof useTokenForServer>;
let evm: TestEvm;
let sol: TestSolana;

beforeAll(async () => {
  token = createTestToken("kw-withdraw");
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
const GWEI = 10n ** 9n;

describe.each(testEngines())("withdrawals on %s", (engine) => {
  let database: TestDatabase;
  let admin: Person;
  let operator: Person;
  let alice: Person;
  let bob: Person;
  let usdc: Asset;
  let splUsdc: Asset;
  let chains: ChainConfig;
  let secpKey: { id: string; publicKey: string; curve: string };
  let edKey: { id: string; publicKey: string; curve: string };
  let ethFrom: string;
  let solFrom: string;
  const now = new Date("2027-03-01T10:00:00.000Z");
  const clock = () => now;
  const noWait = { attempts: 3, backoffMs: 0, maxBackoffMs: 0 };
  const receiver = "0x000000000000000000000000000000000000bEEF";
  const solReceiver = () =>
    addressOn(
      { curve: "ed25519", publicKey: (engine === "pglite" ? "11" : "22").repeat(32) },
      "solana",
      chains.networks,
    ) ?? "";

  beforeAll(async () => {
    database = await createTestDatabase(engine);
    admin = await firstAdmin(database.db, { now });
    operator = await invitedMember(database.db, admin.acting, { now, roles: ["operator"] });
    alice = await invitedMember(database.db, admin.acting, { now, roles: ["approver"] });
    bob = await invitedMember(database.db, admin.acting, { now, roles: ["approver"] });
    splUsdc = sol.createMint({ symbol: "USDC" });
    // The token contract is deployed before the key exists: holder is set once the key's address is known.
    chains = {
      networks: { bitcoin: "regtest", ethereum: { chainId: evm.chainId }, solana: "localnet" },
      rpc: { ethereum: null, solana: null },
      confirmations: { ethereum: 1, solana: 1 },
      assets: [NATIVE_ASSETS.bitcoin, NATIVE_ASSETS.ethereum, NATIVE_ASSETS.solana, splUsdc],
      assetsSource: "test",
    };
    installChainConfig(chains);
    secpKey = await activeKey("secp256k1", `hot eth ${engine}`);
    edKey = await activeKey("ed25519", `hot sol ${engine}`);
    ethFrom = addressOn(secpKey, "ethereum", chains.networks) ?? "";
    solFrom = addressOn(edKey, "solana", chains.networks) ?? "";
    usdc = await evm.deployToken({ holder: ethFrom, amount: 1_000_000_000n });
    chains = { ...chains, assets: [...chains.assets, usdc] };
    installChainConfig(chains);
    await evm.setBalance(ethFrom, 10n * ETH);
    sol.airdrop(solFrom, 10n * 10n ** 9n);
    await sol.mintTo(solFrom, splUsdc, 500_000_000n);
  }, 120_000);

  afterAll(async () => {
    await database.drop();
  });

  async function activeKey(curve: "secp256k1" | "ed25519", label: string) {
    const { id: opId } = await approved("key.create", { label, curve, tags: ["hot"], exportable: "never" });
    await runExecutorRound({ db: database.db, clock, retry: noWait }, { concurrency: 1 });
    const [row] = await database.db.select().from(keys).where(eq(keys.operationId, opId));
    if (row?.state !== "active") throw new Error(`key ${label} not active`);
    return row;
  }

  async function propose(kind: string, payload: unknown) {
    return proposeOperation(database.db, { actor: operator.acting, kind, payload, now });
  }

  async function approved(kind: string, payload: unknown) {
    const op = await propose(kind, payload);
    expect(await approveInTurn(database.db, config, { operationId: op.id, voters: [alice, bob], now })).toBe(
      "approved",
    );
    return op;
  }

  async function execute(signer?: WithdrawalSigner) {
    return runExecutorRound(
      { db: database.db, clock, retry: noWait, ...(signer ? { withdrawalSigner: signer } : {}) },
      { concurrency: 1 },
    );
  }

  async function withdrawalOf(operationId: string) {
    const [row] = await database.db
      .select()
      .from(withdrawals)
      .where(eq(withdrawals.operationId, operationId));
    if (!row) throw new Error(`no withdrawal for ${operationId}`);
    return row;
  }

  const ethInput = (over: Record<string, unknown> = {}) => ({
    keyId: secpKey.id,
    chain: "ethereum",
    asset: "ETH",
    amount: "0.25",
    destination: receiver,
    feeCap: "0.001",
    ...over,
  });

  it("an ETH withdrawal: proposed with the fee estimate, approved by two, signed once, mined by EDR", async () => {
    const before = await evm.client.balance(receiver, NATIVE_ASSETS.ethereum);
    const op = await propose("withdrawal", ethInput());
    const payload = op.payload as Record<string, string>;
    expect(payload).toMatchObject({
      amount: (ETH / 4n).toString(),
      from: ethFrom,
      network: String(evm.chainId),
    });
    expect(BigInt(payload.feeEstimate ?? "0")).toBeGreaterThan(0n);
    await approveInTurn(database.db, config, { operationId: op.id, voters: [alice, bob], now });
    const outcomes = await execute();
    expect(outcomes.find((o) => o.operationId === op.id)?.outcome).toBe("executed");
    const row = await withdrawalOf(op.id);
    expect(row).toMatchObject({ state: "signed", nonce: "0", chain: "ethereum" });
    // The signed bytes decode (by their own signature) to exactly the intent, from the key's address.
    const decoded = decodeSigned(row.raw ?? "", chains.assets);
    expect(decoded.from).toBe(ethFrom);
    expect(decoded.transfers).toEqual([{ asset: "ETH", amount: ETH / 4n, destination: receiver }]);
    // EDR accepts and mines it.
    const txid = await evm.client.broadcast(row.raw ?? "");
    expect(txid).toBe(row.txid);
    expect((await evm.receipt(txid))?.status).toBe("success");
    expect(await evm.client.balance(receiver, NATIVE_ASSETS.ethereum)).toBe(before + ETH / 4n);
    // withdrawal.signed holds the decoded signed transaction and its hash.
    const [event] = await database.db
      .select()
      .from(auditEvents)
      .where(eq(auditEvents.action, "withdrawal.signed"));
    expect(event?.data).toMatchObject({ operationId: op.id, txid, nonce: "0" });
  });

  it("an ERC-20 withdrawal of the real token contract is mined with token balances moved", async () => {
    const op = await approved("withdrawal", ethInput({ asset: "USDC", amount: "12.5" }));
    await execute();
    const row = await withdrawalOf(op.id);
    expect(row.nonce).toBe("1");
    const held = await evm.client.balance(ethFrom, usdc);
    await evm.client.broadcast(row.raw ?? "");
    expect((await evm.receipt(row.txid ?? ""))?.status).toBe("success");
    expect(await evm.client.balance(receiver, usdc)).toBe(12_500_000n);
    expect(await evm.client.balance(ethFrom, usdc)).toBe(held - 12_500_000n);
  });

  it("approvals arriving out of order leave no nonce gap: nonces follow execution, all three mine", async () => {
    const ops = [];
    for (const amount of ["0.01", "0.02", "0.03"])
      ops.push(await propose("withdrawal", ethInput({ amount })));
    const [a, b, c] = ops.map((o) => o.id);
    if (!a || !b || !c) throw new Error("three proposals");
    // The last proposed is approved and executed first, then the first, then the second.
    for (const id of [c, a, b]) {
      await approveInTurn(database.db, config, { operationId: id, voters: [alice, bob], now });
      await execute();
    }
    const nonces = await Promise.all([c, a, b].map(async (id) => (await withdrawalOf(id)).nonce));
    expect(nonces).toEqual(["2", "3", "4"]);
    for (const id of [c, a, b]) {
      const row = await withdrawalOf(id);
      await evm.client.broadcast(row.raw ?? "");
      expect((await evm.receipt(row.txid ?? ""))?.status).toBe("success");
    }
    expect(await evm.client.minedNonce(ethFrom)).toBe(5);
    const [counter] = await database.db
      .select()
      .from(ethereumNonces)
      .where(eq(ethereumNonces.keyId, secpKey.id));
    expect(counter?.nextNonce).toBe(5n);
  });

  it("an HSM answer lost after signing: the repeat re-signs the same stored transaction (same nonce, fees)", async () => {
    const op = await approved("withdrawal", ethInput({ amount: "0.05" }));
    const unsignedSeen: string[] = [];
    let signs = 0;
    const losing: WithdrawalSigner = {
      sign: async (ref, data) => {
        signs++;
        const made = await signerFacade.sign(ref, data);
        const row = await withdrawalOf(op.id);
        unsignedSeen.push(row.unsigned);
        if (signs === 1) {
          throw new HsmError("outcome-unknown", "the HSM's answer was lost (injected after it signed)", {
            operation: "sign",
          });
        }
        return made;
      },
    };
    const outcomes = await execute(losing);
    expect(outcomes.find((o) => o.operationId === op.id)?.outcome).toBe("executed");
    expect(signs).toBe(2);
    // Both signatures were over the one stored transaction: nonce 5, stored before the first signature.
    expect(new Set(unsignedSeen).size).toBe(1);
    const row = await withdrawalOf(op.id);
    expect(row.nonce).toBe("5");
    expect(row.unsigned).toBe(unsignedSeen[0]);
    expect(
      await database.db.select().from(withdrawals).where(eq(withdrawals.keyId, secpKey.id)),
    ).toHaveLength(6);
    await evm.client.broadcast(row.raw ?? "");
    expect((await evm.receipt(row.txid ?? ""))?.status).toBe("success");
  });

  it("a stored transaction that differs from the intent is never signed: the operation fails saying why", async () => {
    const op = await approved("withdrawal", ethInput({ amount: "0.06" }));
    // Someone with database access swaps in a transaction paying themselves, before the executor runs.
    const thief = "0x000000000000000000000000000000000000dEaD";
    const unsigned = buildTransfer({
      chainId: evm.chainId,
      asset: NATIVE_ASSETS.ethereum,
      amount: (ETH / 100n) * 6n,
      destination: thief,
      nonce: 6,
      maxFeePerGas: 2n * GWEI,
      maxPriorityFeePerGas: GWEI,
    });
    await database.db.insert(withdrawals).values({
      operationId: op.id,
      chain: "ethereum",
      network: String(evm.chainId),
      keyId: secpKey.id,
      asset: "ETH",
      nonce: "6",
      unsigned,
      decoded: {},
      state: "built",
    });
    let signs = 0;
    const counting: WithdrawalSigner = {
      sign: (ref, data) => {
        signs++;
        return signerFacade.sign(ref, data);
      },
    };
    const outcome = (await execute(counting)).find((o) => o.operationId === op.id);
    expect(outcome?.outcome).toBe("failed");
    expect(outcome && "reason" in outcome ? outcome.reason : "").toContain(
      `the payment goes to ${thief}, not to the approved destination ${receiver}`,
    );
    expect(signs).toBe(0);
    expect((await withdrawalOf(op.id)).raw).toBeNull();
  });

  it.skipIf(engine !== "postgres")(
    "two executors on two pools at once, the same key: one nonce each, consecutive, every one mined",
    async () => {
      const second = await openDatabase({ engine: "postgres", url: database.url ?? "" });
      // The node answers slowly, so both executions are inside their nonce step at the same time.
      const slow = {
        ...evm.client,
        pendingNonce: async (address: string) => {
          await new Promise((r) => setTimeout(r, 150));
          return evm.client.pendingNonce(address);
        },
      };
      Object.setPrototypeOf(slow, Object.getPrototypeOf(evm.client));
      installChainClients({ ethereum: slow, solana: sol.client });
      try {
        for (let round = 0; round < 3; round++) {
          const ids = [];
          for (const amount of ["0.001", "0.002"])
            ids.push((await approved("withdrawal", ethInput({ amount }))).id);
          const start = Number(
            (await database.db.select().from(ethereumNonces).where(eq(ethereumNonces.keyId, secpKey.id)))[0]
              ?.nextNonce ?? 0n,
          );
          await Promise.all(
            [database.db, second.db].map((db) =>
              runExecutorRound({ db, clock, retry: noWait }, { concurrency: 1 }),
            ),
          );
          const nonces = (
            await Promise.all(ids.map(async (id) => Number((await withdrawalOf(id)).nonce)))
          ).sort();
          expect(nonces).toEqual([start, start + 1]);
          // Broadcast in nonce order (auto-mining refuses a nonce ahead of the next).
          const rows = await Promise.all(ids.map(withdrawalOf));
          rows.sort((x, y) => Number(x.nonce) - Number(y.nonce));
          for (const row of rows) {
            await evm.client.broadcast(row.raw ?? "");
            expect((await evm.receipt(row.txid ?? ""))?.status).toBe("success");
          }
        }
      } finally {
        installChainClients({ ethereum: evm.client, solana: sol.client });
        await second.close();
      }
    },
    60_000,
  );

  it("SOL and SPL withdrawals through litesvm, balances checked", async () => {
    const dest = solReceiver();
    const solOp = await approved("withdrawal", {
      keyId: edKey.id,
      chain: "solana",
      asset: "SOL",
      amount: "1.5",
      destination: dest,
      feeCap: "0.00001",
    });
    const splOp = await approved("withdrawal", {
      keyId: edKey.id,
      chain: "solana",
      asset: "USDC",
      amount: "7",
      destination: dest,
      feeCap: "0.01",
    });
    await execute();
    for (const id of [solOp.id, splOp.id]) {
      const row = await withdrawalOf(id);
      expect(row.state).toBe("signed");
      await sol.client.broadcast(row.raw ?? "");
    }
    expect(await sol.client.balance(dest, NATIVE_ASSETS.solana)).toBe(1_500_000_000n);
    expect(await sol.client.balance(dest, splUsdc)).toBe(7_000_000n);
    expect(await sol.client.balance(solFrom, splUsdc)).toBe(493_000_000n);
  });

  it("a Bitcoin PSBT from the wallet backend: approved as bytes, signed, finalised by bitcoinjs-lib", async () => {
    const from = addressOn(secpKey, "bitcoin", chains.networks) ?? "";
    const dest =
      addressOn({ curve: "secp256k1", publicKey: evmPublicKeyOfAnother() }, "bitcoin", chains.networks) ?? "";
    const psbt = makePsbtBase64({
      network: "regtest",
      utxos: fakeUtxos(from, [60_000n, 50_000n], "regtest"),
      outputs: [
        { address: dest, value: 70_000n },
        { address: from, value: 38_500n },
      ],
    });
    const op = await approved("withdrawal", {
      keyId: secpKey.id,
      chain: "bitcoin",
      asset: "BTC",
      amount: "0.0007",
      destination: dest,
      feeCap: "0.00002",
      psbt,
    });
    expect((op.payload as { feeEstimate?: string }).feeEstimate).toBe("1500");
    await execute();
    const row = await withdrawalOf(op.id);
    expect(row.state).toBe("signed");
    const tx = Transaction.fromHex(row.raw ?? "");
    expect(tx.getId()).toBe(row.txid);
    expect(tx.ins).toHaveLength(2);
    expect(tx.ins.every((i) => i.witness.length === 2)).toBe(true);
    // The approved PSBT's unsigned transaction is the one signed: same inputs and outputs.
    const unsignedTx = Psbt.fromBase64(psbt).data.getTransaction();
    const stripped = Transaction.fromHex(row.raw ?? "");
    for (const input of stripped.ins) input.witness = [];
    expect(Buffer.from(stripped.toBuffer()).equals(Buffer.from(unsignedTx))).toBe(true);
  });

  it("bad inputs are refused by name and create nothing", async () => {
    const count = async () => (await database.db.select().from(operations)).length;
    const before = await count();
    const cases: [Record<string, unknown>, string][] = [
      [ethInput({ destination: "0x000000000000000000000000000000000000bee" }), "payload.destination"],
      [ethInput({ destination: "0x000000000000000000000000000000000000BeeF" }), "payload.destination"],
      [ethInput({ amount: "-1" }), "payload.amount"],
      [ethInput({ amount: "0" }), "payload.amount"],
      [ethInput({ amount: "0.0000000000000000001" }), "payload.amount"],
      [ethInput({ asset: "DOGE" }), "payload.asset"],
      [ethInput({ network: "1" }), "payload.network"],
      [ethInput({ keyId: edKey.id }), "payload.keyId"],
      [ethInput({ amount: "100000" }), "payload.amount"],
      [ethInput({ feeCap: "0.000000001" }), "payload.feeCap"],
      [ethInput({ destination: ethFrom }), "payload.destination"],
      [
        ethInput({
          chain: "bitcoin",
          asset: "BTC",
          destination: "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
        }),
        "payload.destination",
      ],
      [
        ethInput({
          chain: "bitcoin",
          asset: "BTC",
          destination: addressOn(secpKey, "bitcoin", { ...chains.networks, bitcoin: "regtest" }),
        }),
        "payload.destination",
      ],
      [ethInput({ psbt: "cHNidP8=" }), "payload.psbt"],
    ];
    // Solana's rent: a new account opened with less than the rent-exempt minimum, and the key left with dust.
    const solHeld = await sol.client.balance(solFrom, NATIVE_ASSETS.solana);
    const lamportsText = (n: bigint) => `${n / 10n ** 9n}.${(n % 10n ** 9n).toString().padStart(9, "0")}`;
    const solInput = (amount: string, destination: string) => ({
      keyId: edKey.id,
      chain: "solana",
      asset: "SOL",
      amount,
      destination,
      feeCap: "0.00001",
    });
    const unopened =
      addressOn({ curve: "ed25519", publicKey: "33".repeat(32) }, "solana", chains.networks) ?? "";
    const rentCases: [Record<string, unknown>, RegExp][] = [
      [
        solInput("0.000001", unopened),
        /^payload\.amount: The destination holds no SOL yet: .* at least 0\.00089088 SOL/,
      ],
      [
        solInput(lamportsText(solHeld - 5_000n - 1_000n), solReceiver()),
        /^payload\.amount: This would leave the key's account 0\.000001 SOL, below Solana's rent-exempt minimum/,
      ],
    ];
    for (const [input, message] of rentCases) {
      const error = await propose("withdrawal", input).catch((e: unknown) => e);
      expect(error, JSON.stringify(input)).toBeInstanceOf(AppError);
      expect((error as AppError).field).toBe("payload.amount");
      expect((error as AppError).message).toMatch(message);
    }
    for (const [input, field] of cases) {
      const error = await propose("withdrawal", input).catch((e: unknown) => e);
      expect(error, JSON.stringify(input)).toBeInstanceOf(AppError);
      expect((error as AppError).field, `${JSON.stringify(input)}: ${(error as AppError).message}`).toBe(
        field,
      );
    }
    // A Bitcoin PSBT whose inputs do not cover its outputs, and one paying someone else.
    const from = addressOn(secpKey, "bitcoin", chains.networks) ?? "";
    const dest =
      addressOn({ curve: "secp256k1", publicKey: evmPublicKeyOfAnother() }, "bitcoin", chains.networks) ?? "";
    const short = makePsbtBase64({
      network: "regtest",
      utxos: fakeUtxos(from, [10_000n], "regtest"),
      outputs: [{ address: dest, value: 70_000n }],
    });
    for (const psbt of [short]) {
      const error = await propose("withdrawal", {
        keyId: secpKey.id,
        chain: "bitcoin",
        asset: "BTC",
        amount: "0.0007",
        destination: dest,
        feeCap: "0.0001",
        psbt,
      }).catch((e: unknown) => e);
      expect((error as AppError).field).toBe("payload.psbt");
    }
    expect(await count()).toBe(before);
  });

  it("execution re-checks velocity: a withdrawal approved under a cap lowered since is failed, nothing signed", async () => {
    const capped = (limitEth: bigint): PolicyDocument => ({
      ...DEFAULT_POLICY,
      rules: [
        {
          id: "eth-daily-cap",
          description: "ETH withdrawals: two approvals, at most the limit a day",
          match: { kinds: ["withdrawal"], assets: [{ chain: "ethereum", symbol: "ETH" }] },
          require: [{ group: "approvers", approvals: 2 }],
          velocity: [
            {
              per: "chain",
              asset: { chain: "ethereum", symbol: "ETH" },
              limit: (limitEth * ETH).toString(),
              windowHours: 24,
              over: "deny",
            },
          ],
        },
      ],
    });
    // Everything executed so far today counts: about 0.37 ETH. A 2 ETH cap leaves room for 1 ETH.
    await updatePolicy(database.db, { actor: admin.acting, document: capped(2n), now });
    const op = await approved("withdrawal", ethInput({ amount: "1" }));
    // In setup mode the policy changes directly; the open operation is then judged under the lower cap.
    const lowered = await updatePolicy(database.db, { actor: admin.acting, document: capped(1n), now });
    await database.db
      .update(operations)
      .set({ judgedVersion: lowered.version })
      .where(eq(operations.id, op.id));
    let signs = 0;
    const outcome = (
      await execute({
        sign: (ref, data) => {
          signs++;
          return signerFacade.sign(ref, data);
        },
      })
    ).find((o) => o.operationId === op.id);
    expect(outcome?.outcome).toBe("failed");
    expect(outcome && "reason" in outcome ? outcome.reason : "").toMatch(
      /^the velocity limits no longer allow it, so nothing was signed: over the 24 h limit of 1 ETH by /,
    );
    expect(signs).toBe(0);
    expect(
      await database.db.select().from(withdrawals).where(eq(withdrawals.operationId, op.id)),
    ).toHaveLength(0);
    await updatePolicy(database.db, { actor: admin.acting, document: DEFAULT_POLICY, now });
  });

  it("a withdrawal refused by the HSM after taking its nonce leaves no gap: the next one gets that nonce and mines", async () => {
    const refusedOp = await approved("withdrawal", ethInput({ amount: "0.004" }));
    const refusing: WithdrawalSigner = {
      sign: async () => {
        throw new HsmError("refused", "the HSM refuses this key (injected)", { operation: "C_SignInit" });
      },
    };
    const failed = (await execute(refusing)).find((o) => o.operationId === refusedOp.id);
    expect(failed?.outcome).toBe("failed");
    const burnt = await withdrawalOf(refusedOp.id);
    expect(burnt.state).toBe("built");
    expect(burnt.raw).toBeNull();
    const gap = Number(burnt.nonce);
    const [counter] = await database.db
      .select()
      .from(ethereumNonces)
      .where(eq(ethereumNonces.keyId, secpKey.id));
    expect(counter?.nextNonce).toBe(BigInt(gap + 1));
    expect(await evm.client.pendingNonce(ethFrom)).toBe(gap);

    const nextOp = await approved("withdrawal", ethInput({ amount: "0.005" }));
    expect((await execute()).find((o) => o.operationId === nextOp.id)?.outcome).toBe("executed");
    const row = await withdrawalOf(nextOp.id);
    expect(row.nonce).toBe(String(gap));
    await evm.client.broadcast(row.raw ?? "");
    expect((await evm.receipt(row.txid ?? ""))?.status).toBe("success");
    // The counter did not move: the one after it takes the next nonce, with nothing waiting in between.
    const [after] = await database.db
      .select()
      .from(ethereumNonces)
      .where(eq(ethereumNonces.keyId, secpKey.id));
    expect(after?.nextNonce).toBe(BigInt(gap + 1));
    expect((await withdrawalOf(refusedOp.id)).reason).toBe(
      `never signed (its operation failed); nonce ${gap} was given to the withdrawal of operation ${nextOp.id}`,
    );
    const third = await approved("withdrawal", ethInput({ amount: "0.006" }));
    await execute();
    const thirdRow = await withdrawalOf(third.id);
    expect(thirdRow.nonce).toBe(String(gap + 1));
    await evm.client.broadcast(thirdRow.raw ?? "");
    expect((await evm.receipt(thirdRow.txid ?? ""))?.status).toBe("success");
  });
});

/** An uncompressed secp256k1 public key that is not ours (the generator point), for a destination address. */
function evmPublicKeyOfAnother(): string {
  return "0479be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8";
}
