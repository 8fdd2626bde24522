// Lives under server/operations/ because it wraps the signer facade (to count HSM signatures), which the HSM
// boundary lets only the executor side import (server/hsm/boundary.test.ts).
// Imported unsigned Ethereum and Solana transactions end to end (issue 14 item 2), on PGlite and PostgreSQL with a
// real SoftHSM token, EDR and litesvm: a wallet backend's transaction — built here with viem and @solana/kit
// directly, not with Keyward's builders — is proposed, shown decoded, approved by two taps, signed by the HSM as
// exactly those bytes, and mined by EDR / processed by litesvm with balances checked. Refused at proposal, creating
// nothing: another chain id, another amount, another destination, a fee over the cap, a nonce the chain already
// counts, bad bytes over the HTTP API. Refused at execution, storing nothing, taking no nonce, signing nothing: a
// nonce gap, an expired blockhash, a stored transaction that is not the approved one; on PostgreSQL, two imported
// transactions with one nonce executed at once: exactly one is signed.
import { ed25519 } from "@noble/curves/ed25519";
import { getTransferSolInstruction } from "@solana-program/system";
import {
  appendTransactionMessageInstructions,
  type Blockhash,
  compileTransaction,
  createNoopSigner,
  createTransactionMessage,
  getBase64Decoder,
  address as kitAddress,
  pipe,
  setTransactionMessageFeePayer,
  setTransactionMessageLifetimeUsingBlockhash,
} from "@solana/kit";
import { and, count, eq } from "drizzle-orm";
import { encodeFunctionData, erc20Abi, parseTransaction, serializeTransaction } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "@/db/client";
import { ethereumNonces, keys, operations, withdrawals } from "@/db/schema";
import type { ChainConfig } from "@/server/chains/config";
import { installChainConfig } from "@/server/chains/current";
import { installChainClients } from "@/server/chains/registry";
import { addressOn } from "@/server/custody/addresses";
import { NATIVE_ASSETS } from "@/server/custody/assets";
import { buildTransfer, decodeSigned } from "@/server/custody/ethereum";
import { startTestEvm, type TestEvm } from "@/server/custody/testing/evm";
import { createTestSolana, type TestSolana } from "@/server/custody/testing/svm";
import type { Asset } from "@/server/custody/types";
import { AppError } from "@/server/errors";
import * as signerFacade from "@/server/hsm/signer";
import { createTestToken, type TestToken } from "@/server/hsm/testing/test-token";
import { runExecutorRound } from "@/server/operations/executor/run";
import { useTokenForServer } from "@/server/operations/executor/testing/fixtures";
import type { WithdrawalSigner } from "@/server/operations/executor/types";
import { proposeOperation } from "@/server/operations/propose";
import { approveInTurn } from "@/server/operations/testing/approve";
import { postWithdrawal } from "@/server/service-accounts/http";
import { createServiceAccount } from "@/server/service-accounts/manage";
import { memoryServiceRateLimits } from "@/server/service-accounts/rate-limit";
import {
  TEST_WEBAUTHN_CONFIG as config,
  firstAdmin,
  invitedMember,
  type Person,
} from "@/server/testing/identity-fixtures";
import { createTestDatabase, type TestDatabase, testEngines } from "@/server/testing/test-db";
import { describeWithdrawal } from "./withdrawal";
import { withdrawalPayloadSchema } from "./withdrawal-schema";

let token: TestToken;
let server: ReturnType<typeof useTokenForServer>;
let evm: TestEvm;
let sol: TestSolana;

beforeAll(async () => {
  token = createTestToken("kw-import");
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

describe.each(testEngines())("imported unsigned transactions on %s", (engine) => {
  let database: TestDatabase;
  let admin: Person;
  let operator: Person;
  let alice: Person;
  let bob: Person;
  let chains: ChainConfig;
  let usdc: Asset;
  let secpKey: { id: string; publicKey: string; curve: string };
  let edKey: { id: string; publicKey: string; curve: string };
  let ethFrom: string;
  let solFrom: string;
  let signs = 0;
  const now = new Date("2027-03-01T10:00:00.000Z");
  const clock = () => now;
  const noWait = { attempts: 3, backoffMs: 0, maxBackoffMs: 0 };
  const receiver = "0x000000000000000000000000000000000000bEEF";
  const elsewhere = "0x000000000000000000000000000000000000dEaD";
  const counting: WithdrawalSigner = {
    sign: (ref, data) => {
      signs++;
      return signerFacade.sign(ref, data);
    },
  };

  beforeAll(async () => {
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
    secpKey = await activeKey("secp256k1", `import eth ${engine}`);
    edKey = await activeKey("ed25519", `import sol ${engine}`);
    ethFrom = addressOn(secpKey, "ethereum", chains.networks) ?? "";
    solFrom = addressOn(edKey, "solana", chains.networks) ?? "";
    usdc = await evm.deployToken({ holder: ethFrom, amount: 1_000_000_000n });
    chains = { ...chains, assets: [...chains.assets, usdc] };
    installChainConfig(chains);
    await evm.setBalance(ethFrom, 10n * ETH);
    sol.airdrop(solFrom, 10n * 10n ** 9n);
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

  const propose = (kind: string, payload: unknown) =>
    proposeOperation(database.db, { actor: operator.acting, kind, payload, now });

  async function approved(kind: string, payload: unknown) {
    const op = await propose(kind, payload);
    expect(await approveInTurn(database.db, config, { operationId: op.id, voters: [alice, bob], now })).toBe(
      "approved",
    );
    return op;
  }

  async function execute(operationId: string) {
    const outcomes = await runExecutorRound(
      { db: database.db, clock, retry: noWait, withdrawalSigner: counting },
      { concurrency: 1 },
    );
    const outcome = outcomes.find((o) => o.operationId === operationId);
    return {
      outcome: outcome?.outcome,
      reason: outcome && "reason" in outcome ? String(outcome.reason) : "",
    };
  }

  const rowsOf = (operationId: string) =>
    database.db.select().from(withdrawals).where(eq(withdrawals.operationId, operationId));

  async function withdrawalOf(operationId: string) {
    const [row] = await rowsOf(operationId);
    if (!row) throw new Error(`no withdrawal for ${operationId}`);
    return row;
  }

  const operationCount = async () => (await database.db.select({ n: count() }).from(operations))[0]?.n ?? 0;

  /** The key's next nonce as the executor decides it: Keyward's counter or the chain's pending count. */
  async function nextNonce(): Promise<number> {
    const [counter] = await database.db
      .select()
      .from(ethereumNonces)
      .where(and(eq(ethereumNonces.keyId, secpKey.id), eq(ethereumNonces.chainId, evm.chainId)));
    const pending = await evm.client.pendingNonce(ethFrom);
    return Math.max(Number(counter?.nextNonce ?? 0n), pending);
  }

  /** The wallet backend's EIP-1559 transaction, serialised by viem itself (not Keyward's builder). */
  async function backendEth(over: Record<string, unknown> = {}) {
    const fees = await evm.client.fees();
    return serializeTransaction({
      type: "eip1559",
      chainId: evm.chainId,
      nonce: await nextNonce(),
      gas: 21_000n,
      maxFeePerGas: 2n * fees.baseFeePerGas + fees.maxPriorityFeePerGas,
      maxPriorityFeePerGas: fees.maxPriorityFeePerGas,
      to: receiver,
      value: (3n * ETH) / 10n,
      ...over,
    });
  }

  const ethInput = (unsignedTransaction: string, over: Record<string, unknown> = {}) => ({
    keyId: secpKey.id,
    chain: "ethereum",
    asset: "ETH",
    amount: "0.3",
    destination: receiver,
    feeCap: "0.001",
    unsignedTransaction,
    ...over,
  });

  /** A Solana legacy message built with @solana/kit's own builders on litesvm's latest blockhash, base64. */
  function backendSolMessage(to: string, lamports: bigint): string {
    const message = pipe(
      createTransactionMessage({ version: "legacy" }),
      (m) => setTransactionMessageFeePayer(kitAddress(solFrom), m),
      (m) =>
        setTransactionMessageLifetimeUsingBlockhash(
          { blockhash: sol.svm.latestBlockhash() as Blockhash, lastValidBlockHeight: 0n },
          m,
        ),
      (m) =>
        appendTransactionMessageInstructions(
          [
            getTransferSolInstruction({
              source: createNoopSigner(kitAddress(solFrom)),
              destination: kitAddress(to),
              amount: lamports,
            }),
          ],
          m,
        ),
    );
    return getBase64Decoder().decode(compileTransaction(message).messageBytes);
  }

  /** A fresh wallet address (an Ed25519 public key on the curve, as destinations must be). */
  const solWallet = () =>
    addressOn(
      {
        curve: "ed25519",
        publicKey: Buffer.from(ed25519.getPublicKey(ed25519.utils.randomPrivateKey())).toString("hex"),
      },
      "solana",
      chains.networks,
    ) ?? "";

  it("an imported ETH transaction is approved as bytes, shown decoded, signed as exactly them, mined by EDR", async () => {
    const unsigned = await backendEth();
    const op = await propose("withdrawal", ethInput(unsigned));
    const payload = withdrawalPayloadSchema.parse(op.payload);
    expect(payload.unsignedTransaction).toBe(unsigned);
    const lines = Object.fromEntries(describeWithdrawal(payload).lines.map((l) => [l.label, l.value]));
    expect(lines).toMatchObject({
      "Imported transaction: From": ethFrom,
      "Imported transaction: Destination": receiver,
      "Imported transaction: Amount": "0.3 ETH",
      "Imported transaction: Chain id": String(evm.chainId),
      "Imported transaction: Nonce": "0",
      "Imported transaction bytes (hex)": unsigned,
    });
    await approveInTurn(database.db, config, { operationId: op.id, voters: [alice, bob], now });
    const before = {
      from: await evm.client.balance(ethFrom, NATIVE_ASSETS.ethereum),
      to: await evm.client.balance(receiver, NATIVE_ASSETS.ethereum),
    };
    signs = 0;
    expect((await execute(op.id)).outcome).toBe("executed");
    expect(signs).toBe(1);
    const row = await withdrawalOf(op.id);
    expect(row).toMatchObject({ state: "signed", nonce: "0", unsigned });
    // The signed transaction is the imported one plus a signature: the same fields, serialised the same.
    const { r: _r, s: _s, yParity: _y, v: _v, ...fields } = parseTransaction(row.raw as `0x${string}`);
    expect(serializeTransaction(fields)).toBe(unsigned);
    expect(decodeSigned(row.raw ?? "", chains.assets).from).toBe(ethFrom);
    const txid = await evm.client.broadcast(row.raw ?? "");
    const receipt = await evm.receipt(txid);
    expect(receipt?.status).toBe("success");
    expect(await evm.client.balance(receiver, NATIVE_ASSETS.ethereum)).toBe(before.to + (3n * ETH) / 10n);
    const paid = (receipt?.gasUsed ?? 0n) * (receipt?.effectiveGasPrice ?? 0n);
    expect(await evm.client.balance(ethFrom, NATIVE_ASSETS.ethereum)).toBe(
      before.from - (3n * ETH) / 10n - paid,
    );
    expect(await nextNonce()).toBe(1);
  }, 60_000);

  it("an imported ERC-20 transfer of the real token contract is mined with token balances moved", async () => {
    const data = encodeFunctionData({
      abi: erc20Abi,
      functionName: "transfer",
      args: [receiver, 4_250_000n],
    });
    const unsigned = await backendEth({
      to: usdc.contract,
      value: 0n,
      data,
      gas: 90_000n,
      maxFeePerGas: 10n * GWEI,
    });
    const op = await approved(
      "withdrawal",
      ethInput(unsigned, { asset: "USDC", amount: "4.25", feeCap: "0.001" }),
    );
    expect((op.payload as { contract?: string }).contract).toBe(usdc.contract);
    expect((await execute(op.id)).outcome).toBe("executed");
    const row = await withdrawalOf(op.id);
    const held = await evm.client.balance(ethFrom, usdc);
    await evm.client.broadcast(row.raw ?? "");
    expect((await evm.receipt(row.txid ?? ""))?.status).toBe("success");
    expect(await evm.client.balance(receiver, usdc)).toBe(4_250_000n);
    expect(await evm.client.balance(ethFrom, usdc)).toBe(held - 4_250_000n);
  }, 60_000);

  it("an imported SOL message is signed as those bytes and processed by litesvm, balances checked", async () => {
    const dest = solWallet();
    const message = backendSolMessage(dest, 1_250_000_000n);
    const op = await approved("withdrawal", {
      keyId: edKey.id,
      chain: "solana",
      asset: "SOL",
      amount: "1.25",
      destination: dest,
      feeCap: "0.00001",
      unsignedTransaction: message,
    });
    const payload = withdrawalPayloadSchema.parse(op.payload);
    const lines = Object.fromEntries(describeWithdrawal(payload).lines.map((l) => [l.label, l.value]));
    expect(lines).toMatchObject({
      "Imported transaction: From": solFrom,
      "Imported transaction: Amount": "1.25 SOL",
    });
    signs = 0;
    expect((await execute(op.id)).outcome).toBe("executed");
    expect(signs).toBe(1);
    const row = await withdrawalOf(op.id);
    expect(row.unsigned).toBe(payload.unsignedTransaction);
    const paidBefore = await sol.client.balance(solFrom, NATIVE_ASSETS.solana);
    await sol.client.broadcast(row.raw ?? "");
    expect(await sol.client.balance(dest, NATIVE_ASSETS.solana)).toBe(1_250_000_000n);
    expect(await sol.client.balance(solFrom, NATIVE_ASSETS.solana)).toBe(paidBefore - 1_250_000_000n - 5000n);
  }, 60_000);

  it("refused at proposal, creating nothing: chain id, amount, destination, fee over the cap, a used nonce", async () => {
    const before = await operationCount();
    const used = (await nextNonce()) - 1;
    const cases: [string, string, RegExp][] = [
      ["chain id", await backendEth({ chainId: 1 }), /chain id 1, but Keyward signs Ethereum for chain id/],
      ["amount", await backendEth({ value: ETH }), /not the approved 300000000000000000/],
      [
        "destination",
        await backendEth({ to: elsewhere }),
        /goes to 0x000000000000000000000000000000000000dEaD/,
      ],
      [
        "fee",
        await backendEth({ maxFeePerGas: 100n * GWEI, maxPriorityFeePerGas: GWEI }),
        /above the approved cap/,
      ],
      ["nonce", await backendEth({ nonce: used }), new RegExp(`nonce ${used} is already used`)],
    ];
    for (const [what, unsigned, message] of cases) {
      const error = await propose("withdrawal", ethInput(unsigned)).catch((e: unknown) => e);
      expect(error, what).toBeInstanceOf(AppError);
      expect((error as AppError).field, what).toBe("payload.unsignedTransaction");
      expect((error as AppError).message, what).toMatch(message);
    }
    expect(await operationCount()).toBe(before);
  }, 60_000);

  it("a nonce gap is refused at execution: the operation fails saying why, no row, no nonce taken, nothing signed", async () => {
    const next = await nextNonce();
    const op = await approved("withdrawal", ethInput(await backendEth({ nonce: next + 2 })));
    signs = 0;
    const { outcome, reason } = await execute(op.id);
    expect(outcome).toBe("failed");
    expect(reason).toContain(
      `has nonce ${next + 2}, but the key's next nonce is ${next}: signing it would leave a gap (nonces ${next} to ${next + 1} unused)`,
    );
    expect(signs).toBe(0);
    expect(await rowsOf(op.id)).toHaveLength(0);
    expect(await nextNonce()).toBe(next);
    // The key's next withdrawal still takes that nonce: no gap was left.
    const after = await approved("withdrawal", ethInput(await backendEth({ nonce: next })));
    expect((await execute(after.id)).outcome).toBe("executed");
    expect((await withdrawalOf(after.id)).nonce).toBe(String(next));
    await evm.client.broadcast((await withdrawalOf(after.id)).raw ?? "");
  }, 60_000);

  it("an imported SOL transaction whose blockhash expired before execution is refused, nothing signed", async () => {
    const dest = solWallet();
    const op = await approved("withdrawal", {
      keyId: edKey.id,
      chain: "solana",
      asset: "SOL",
      amount: "0.5",
      destination: dest,
      feeCap: "0.00001",
      unsignedTransaction: backendSolMessage(dest, 500_000_000n),
    });
    sol.advance();
    signs = 0;
    const { outcome, reason } = await execute(op.id);
    expect(outcome).toBe("failed");
    expect(reason).toMatch(/the imported transaction's blockhash .* has expired, so nothing was signed/);
    expect(signs).toBe(0);
    expect(await rowsOf(op.id)).toHaveLength(0);
  }, 60_000);

  it("a stored transaction that is not the imported one is never signed, even one that matches the intent", async () => {
    const next = await nextNonce();
    const op = await approved("withdrawal", ethInput(await backendEth({ nonce: next })));
    // Someone with database access stores another transaction doing the same thing, with other fees.
    const swapped = buildTransfer({
      chainId: evm.chainId,
      asset: NATIVE_ASSETS.ethereum,
      amount: (3n * ETH) / 10n,
      destination: receiver,
      nonce: next,
      maxFeePerGas: 40n * GWEI,
      maxPriorityFeePerGas: 20n * GWEI,
    });
    await database.db.insert(withdrawals).values({
      operationId: op.id,
      chain: "ethereum",
      network: String(evm.chainId),
      keyId: secpKey.id,
      asset: "ETH",
      nonce: String(next),
      unsigned: swapped,
      decoded: {},
      state: "built",
    });
    signs = 0;
    const { outcome, reason } = await execute(op.id);
    expect(outcome).toBe("failed");
    expect(reason).toContain("the stored transaction is not the imported one that was approved");
    expect(signs).toBe(0);
    expect((await withdrawalOf(op.id)).raw).toBeNull();
  }, 60_000);

  it.skipIf(engine !== "postgres")(
    "two imported transactions with one nonce, executed at once by two executors: exactly one is signed",
    async () => {
      const second = await openDatabase({ engine: "postgres", url: database.url ?? "" });
      try {
        const next = await nextNonce();
        const a = await approved(
          "withdrawal",
          ethInput(await backendEth({ nonce: next, value: ETH / 100n }), { amount: "0.01" }),
        );
        const b = await approved(
          "withdrawal",
          ethInput(await backendEth({ nonce: next, value: ETH / 50n }), { amount: "0.02" }),
        );
        // The node answers slowly, so both executions are inside the key's nonce step at the same time.
        const slow = {
          ...evm.client,
          pendingNonce: async (address: string) => {
            await new Promise((r) => setTimeout(r, 150));
            return evm.client.pendingNonce(address);
          },
        };
        Object.setPrototypeOf(slow, Object.getPrototypeOf(evm.client));
        installChainClients({ ethereum: slow, solana: sol.client });
        const rounds = await Promise.all(
          [database.db, second.db].map((db) =>
            runExecutorRound({ db, clock, retry: noWait, withdrawalSigner: counting }, { concurrency: 1 }),
          ),
        );
        installChainClients({ ethereum: evm.client, solana: sol.client });
        // Each executor took one of the two.
        expect(rounds.flatMap((r) => r.map((o) => o.operationId)).sort()).toEqual([a.id, b.id].sort());
        expect(rounds.every((r) => r.length === 1)).toBe(true);
        const states = await Promise.all(
          [a.id, b.id].map(async (id) => {
            const [op] = await database.db.select().from(operations).where(eq(operations.id, id));
            return { state: op?.state, rows: await rowsOf(id) };
          }),
        );
        expect(states.map((s) => s.state).sort()).toEqual(["executed", "failed"]);
        const signed = states.find((s) => s.state === "executed");
        expect(signed?.rows[0]?.nonce).toBe(String(next));
        expect(states.find((s) => s.state === "failed")?.rows).toHaveLength(0);
        expect(await nextNonce()).toBe(next + 1);
        await evm.client.broadcast(signed?.rows[0]?.raw ?? "");
        expect((await evm.receipt(signed?.rows[0]?.txid ?? ""))?.status).toBe("success");
      } finally {
        installChainClients({ ethereum: evm.client, solana: sol.client });
        await second.close();
      }
    },
    60_000,
  );

  it("over the HTTP API: the body's unsignedTransaction is proposed as bytes; bad bytes are a 400 naming it", async () => {
    const account = await createServiceAccount(database.db, {
      actorId: admin.acting.id,
      account: {
        name: `import-${engine}`,
        scopes: ["withdrawals:propose", "withdrawals:read"],
        expiresInDays: 30,
      },
      now,
    });
    const limits = memoryServiceRateLimits();
    const post = (key: string, body: unknown) =>
      postWithdrawal(
        new Request("http://localhost:3000/api/v1/withdrawals", {
          method: "POST",
          headers: {
            Authorization: `Bearer ${account.apiKey}`,
            "Content-Type": "application/json",
            "Idempotency-Key": key,
          },
          body: JSON.stringify(body),
        }),
        { db: database.db, clock, limits },
      );
    const unsigned = await backendEth();
    const created = await post(`import-ok-${engine}`, ethInput(unsigned));
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const [op] = await database.db.select().from(operations).where(eq(operations.id, id));
    expect(withdrawalPayloadSchema.parse(op?.payload).unsignedTransaction).toBe(unsigned);
    const before = await operationCount();
    const refused = await post(`import-bad-${engine}`, ethInput(await backendEth({ to: elsewhere })));
    const problem = (await refused.json()) as { status: number; field: string; detail: string };
    expect(problem.status).toBe(400);
    expect(problem.field).toMatch(/unsignedTransaction$/);
    expect(problem.detail).toMatch(/not to the approved destination/);
    expect(await operationCount()).toBe(before);
  }, 60_000);
});
