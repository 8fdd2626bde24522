// Unit tests of proposing a withdrawal with an imported unsigned Ethereum or Solana transaction (prepare.ts →
// prepare-imported.ts), through prepareWithdrawal with an in-memory reader and, where the node matters, small
// in-memory chain clients: the bytes are stored as approved and shown decoded; every mismatch with the stated
// intent (chain id, amount, destination, asset, fee over the cap, another fee payer), an already used nonce and an
// expired blockhash are refused naming payload.unsignedTransaction; the schemas and the OpenAPI document carry it.
// The proof against SoftHSM, EDR and litesvm is server/operations/kinds/withdrawal-import.integration.test.ts.
import { ed25519 } from "@noble/curves/ed25519";
import { secp256k1 } from "@noble/curves/secp256k1";
import { getTransferSolInstruction } from "@solana-program/system";
import {
  appendTransactionMessageInstructions,
  type Blockhash,
  compileTransaction,
  createNoopSigner,
  createTransactionMessage,
  getBase58Decoder,
  getBase64Decoder,
  address as kitAddress,
  pipe,
  setTransactionMessageFeePayer,
  setTransactionMessageLifetimeUsingBlockhash,
} from "@solana/kit";
import { encodeFunctionData, erc20Abi, serializeTransaction } from "viem";
import { describe, expect, it } from "vitest";
import type { ChainClients } from "@/server/chains/registry";
import type { EthereumClient, SolanaClient } from "@/server/chains/types";
import { addressOn } from "@/server/custody/addresses";
import { NATIVE_ASSETS } from "@/server/custody/assets";
import type { Asset, ChainNetworks } from "@/server/custody/types";
import { AppError } from "@/server/errors";
import { describeWithdrawal } from "@/server/operations/kinds/withdrawal";
import { withdrawalInputSchema, withdrawalPayloadSchema } from "@/server/operations/kinds/withdrawal-schema";
import { openApiDocument } from "@/server/service-accounts/openapi";
import { prepareWithdrawal, type WithdrawalReader } from "./prepare";

const networks: ChainNetworks = { bitcoin: "regtest", ethereum: { chainId: 31337 }, solana: "localnet" };
const USDC: Asset = {
  chain: "ethereum",
  symbol: "USDC",
  name: "USD Coin",
  decimals: 6,
  kind: "erc20",
  contract: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
};
const assets = [NATIVE_ASSETS.bitcoin, NATIVE_ASSETS.ethereum, NATIVE_ASSETS.solana, USDC];
const secpKey = {
  id: "6f1c1d0e-7c55-4a6e-9a52-2c7d5f0b8e11",
  label: "hot eth",
  tags: ["hot"],
  state: "active" as const,
  curve: "secp256k1",
  exportable: "never" as const,
  publicKey: Buffer.from(secp256k1.getPublicKey(secp256k1.utils.randomPrivateKey(), false)).toString("hex"),
};
const edKey = {
  ...secpKey,
  id: "0d3e4f5a-1b2c-4d5e-8f70-9a1b2c3d4e5f",
  label: "hot sol",
  curve: "ed25519",
  publicKey: Buffer.from(ed25519.getPublicKey(ed25519.utils.randomPrivateKey())).toString("hex"),
};
const ethFrom = addressOn(secpKey, "ethereum", networks) ?? "";
const solFrom = addressOn(edKey, "solana", networks) ?? "";
const solOther =
  addressOn(
    {
      curve: "ed25519",
      publicKey: Buffer.from(ed25519.getPublicKey(ed25519.utils.randomPrivateKey())).toString("hex"),
    },
    "solana",
    networks,
  ) ?? "";
const TO = "0x000000000000000000000000000000000000bEEF";
const ELSEWHERE = "0x000000000000000000000000000000000000dEaD";
const GWEI = 10n ** 9n;

function reader(clients: ChainClients = { ethereum: null, solana: null }): WithdrawalReader {
  return {
    key: async (id) => {
      const key = [secpKey, edKey].find((k) => k.id === id);
      if (!key) throw new AppError("NOT_FOUND", "no such key");
      return key;
    },
    successorOf: async () => null,
    chains: () => ({ networks, assets }),
    chainClients: () => clients,
  };
}

const ethTx = (over: Record<string, unknown> = {}) =>
  serializeTransaction({
    type: "eip1559",
    chainId: 31337,
    nonce: 0,
    gas: 21_000n,
    maxFeePerGas: 20n * GWEI,
    maxPriorityFeePerGas: GWEI,
    to: TO,
    value: 10n ** 17n,
    ...over,
  });

const ethInput = (unsignedTransaction: string, over: Record<string, unknown> = {}) =>
  withdrawalInputSchema.parse({
    keyId: secpKey.id,
    chain: "ethereum",
    asset: "ETH",
    amount: "0.1",
    destination: TO,
    feeCap: "0.001",
    unsignedTransaction,
    ...over,
  });

async function refusal(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => new Error("expected a refusal"),
    (e: unknown) => e,
  );
  if (!(error instanceof AppError)) throw error;
  return error;
}

function fakeEthereum(over: Partial<EthereumClient> = {}): EthereumClient {
  const no = () => Promise.reject(new Error("not used"));
  return {
    chainId: async () => 31337,
    pendingNonce: async () => 0,
    minedNonce: async () => 0,
    fees: async () => ({ baseFeePerGas: 2n * GWEI, maxPriorityFeePerGas: GWEI }),
    balance: async () => 10n ** 19n,
    broadcast: no,
    status: no,
    ...over,
  };
}

describe("an imported Ethereum transaction", () => {
  it("is stored as its exact bytes and shown decoded: destination, amount, fee, nonce, chain id", async () => {
    const raw = ethTx();
    const payload = await prepareWithdrawal(ethInput(raw.toUpperCase().replace("0X", "0x")), reader());
    expect(payload.unsignedTransaction).toBe(raw);
    expect(payload.feeEstimate).toBeUndefined();
    expect(withdrawalPayloadSchema.parse(payload)).toEqual(payload);
    const lines = Object.fromEntries(describeWithdrawal(payload).lines.map((l) => [l.label, l.value]));
    expect(lines).toMatchObject({
      "Imported transaction: From": ethFrom,
      "Imported transaction: Destination": TO,
      "Imported transaction: Amount": "0.1 ETH",
      "Imported transaction: Nonce": "0",
      "Imported transaction: Chain id": "31337",
      "Imported transaction bytes (hex)": raw,
    });
    expect(lines["Imported transaction: Fee at most"]).toMatch(
      /^0\.00042 ETH \(gas limit 21000 × max fee 20000000000 wei/,
    );
    expect(lines["Imported transaction: signed as"]).toMatch(/only if nonce 0 is then the key's next nonce/);
    expect(lines.Transaction).toBeUndefined();
  });

  it("an ERC-20 transfer carries the token contract, so approvers see the token decoded", async () => {
    const data = encodeFunctionData({ abi: erc20Abi, functionName: "transfer", args: [TO, 2_500_000n] });
    const raw = ethTx({ to: USDC.contract, value: 0n, data, gas: 100_000n, maxFeePerGas: 5n * GWEI });
    const payload = await prepareWithdrawal(ethInput(raw, { asset: "USDC", amount: "2.5" }), reader());
    expect(payload.contract).toBe(USDC.contract);
    const lines = Object.fromEntries(describeWithdrawal(payload).lines.map((l) => [l.label, l.value]));
    expect(lines).toMatchObject({
      "Imported transaction: Amount": "2.5 USDC",
      "Imported transaction: Token contract": USDC.contract,
    });
  });

  it("with a node: the fee estimate from today's base fee, capped by the transaction's own max fee", async () => {
    const clients = { ethereum: fakeEthereum(), solana: null };
    const payload = await prepareWithdrawal(ethInput(ethTx()), reader(clients));
    expect(payload.feeEstimate).toBe((21_000n * 3n * GWEI).toString());
    const low = ethTx({ maxFeePerGas: 2n * GWEI });
    expect((await prepareWithdrawal(ethInput(low), reader(clients))).feeEstimate).toBe(
      (21_000n * 2n * GWEI).toString(),
    );
  });

  it.each([
    [
      "another chain id",
      ethTx({ chainId: 1 }),
      {},
      /is for chain id 1, but Keyward signs Ethereum for chain id 31337/,
    ],
    [
      "another amount",
      ethTx({ value: 2n * 10n ** 17n }),
      {},
      /moves 200000000000000000 base units of ETH, not the approved 100000000000000000/,
    ],
    [
      "another destination",
      ethTx({ to: ELSEWHERE }),
      {},
      /goes to 0x000000000000000000000000000000000000dEaD, not to the approved destination/,
    ],
    [
      "a fee over the cap",
      ethTx({ maxFeePerGas: 50n * GWEI }),
      { feeCap: "0.001" },
      /the fee could reach 1050000000000000 .* above the approved cap of 1000000000000000/,
    ],
    [
      "another asset",
      ethTx({
        to: USDC.contract,
        value: 0n,
        data: encodeFunctionData({ abi: erc20Abi, functionName: "transfer", args: [TO, 10n ** 17n] }),
        gas: 100_000n,
        maxFeePerGas: GWEI,
      }),
      {},
      /moves USDC, not the approved ETH/,
    ],
    [
      "a call to an unknown contract",
      ethTx({ data: "0xa9059cbb", value: 0n }),
      {},
      /not a transfer Keyward signs/,
    ],
    [
      "a signed transaction",
      serializeTransaction(
        {
          type: "eip1559",
          chainId: 31337,
          nonce: 0,
          gas: 21_000n,
          maxFeePerGas: GWEI,
          maxPriorityFeePerGas: GWEI,
          to: TO,
          value: 10n ** 17n,
        },
        { r: `0x${"11".repeat(32)}`, s: `0x${"22".repeat(32)}`, yParity: 0 },
      ),
      {},
      /already signed/,
    ],
    ["base64 instead of hex", "AQID", {}, /cannot be read: An Ethereum transaction is imported as 0x-hex/],
  ])("refuses %s, naming payload.unsignedTransaction", async (_what, raw, over, message) => {
    const error = await refusal(prepareWithdrawal(ethInput(raw, over), reader()));
    expect(error.code).toBe("BAD_INPUT");
    expect(error.field).toBe("payload.unsignedTransaction");
    expect(error.message).toMatch(message);
  });

  it("with a node: refuses a nonce the chain already counts, and a node on another chain", async () => {
    const clients = { ethereum: fakeEthereum({ pendingNonce: async () => 3 }), solana: null };
    const error = await refusal(prepareWithdrawal(ethInput(ethTx({ nonce: 2 })), reader(clients)));
    expect(error.field).toBe("payload.unsignedTransaction");
    expect(error.message).toMatch(
      /nonce 2 is already used: the chain counts 3 transactions from the key, so its next nonce is 3/,
    );
    // Above the next nonce is left to execution, which signs only the key's next nonce.
    await expect(prepareWithdrawal(ethInput(ethTx({ nonce: 5 })), reader(clients))).resolves.toMatchObject({
      chain: "ethereum",
    });
    const wrongNode = { ethereum: fakeEthereum({ chainId: async () => 1 }), solana: null };
    expect((await refusal(prepareWithdrawal(ethInput(ethTx()), reader(wrongNode)))).code).toBe("CONFLICT");
  });

  it("a Bitcoin withdrawal takes a PSBT, not an unsigned transaction", async () => {
    const other = Buffer.from(secp256k1.getPublicKey(secp256k1.utils.randomPrivateKey(), false)).toString(
      "hex",
    );
    const destination = addressOn({ curve: "secp256k1", publicKey: other }, "bitcoin", networks) ?? "";
    const error = await refusal(
      prepareWithdrawal(ethInput(ethTx(), { chain: "bitcoin", asset: "BTC", destination }), reader()),
    );
    expect(error.field).toBe("payload.unsignedTransaction");
    expect(error.message).toMatch(/imported as a PSBT/);
  });
});

describe("an imported Solana transaction", () => {
  const blockhash = getBase58Decoder().decode(new Uint8Array(32).fill(5)) as Blockhash;
  const message = (payer: string, amount = 1_500_000_000n, to = solOther) =>
    getBase64Decoder().decode(
      compileTransaction(
        pipe(
          createTransactionMessage({ version: "legacy" }),
          (m) => setTransactionMessageFeePayer(kitAddress(payer), m),
          (m) => setTransactionMessageLifetimeUsingBlockhash({ blockhash, lastValidBlockHeight: 10n }, m),
          (m) =>
            appendTransactionMessageInstructions(
              [
                getTransferSolInstruction({
                  source: createNoopSigner(kitAddress(payer)),
                  destination: kitAddress(to),
                  amount,
                }),
              ],
              m,
            ),
        ),
      ).messageBytes,
    );
  const solInput = (unsignedTransaction: string) =>
    withdrawalInputSchema.parse({
      keyId: edKey.id,
      chain: "solana",
      asset: "SOL",
      amount: "1.5",
      destination: solOther,
      feeCap: "0.00001",
      unsignedTransaction,
    });
  const fakeSolana = (valid: boolean): SolanaClient => ({
    latestBlockhash: () => Promise.reject(new Error("not used")),
    blockHeight: async () => 1n,
    isBlockhashValid: async (b) => valid && b === blockhash,
    balance: async () => 10n ** 10n,
    hasTokenAccount: async () => true,
    rentExemptMinimum: async () => 890_880n,
    broadcast: () => Promise.reject(new Error("not used")),
    status: () => Promise.reject(new Error("not used")),
  });

  it("a message alone is stored inside its unsigned transaction and shown decoded", async () => {
    const payload = await prepareWithdrawal(
      solInput(message(solFrom)),
      reader({ ethereum: null, solana: fakeSolana(true) }),
    );
    expect(payload.unsignedTransaction).toMatch(/^AQAAAAAA/); // one empty signature slot, then the message
    expect(payload.feeEstimate).toBe("5000");
    const lines = Object.fromEntries(describeWithdrawal(payload).lines.map((l) => [l.label, l.value]));
    expect(lines).toMatchObject({
      "Imported transaction: From": solFrom,
      "Imported transaction: Destination": solOther,
      "Imported transaction: Amount": "1.5 SOL",
      "Imported transaction: Recent blockhash": blockhash,
    });
  });

  it("refuses another fee payer, another amount, and an expired blockhash", async () => {
    const other = await refusal(
      prepareWithdrawal(solInput(message(solOther, 1_500_000_000n, solFrom)), reader()),
    );
    expect(other.field).toBe("payload.unsignedTransaction");
    expect(other.message).toMatch(new RegExp(`fee payer is ${solOther}, not the key's address ${solFrom}`));
    const amount = await refusal(prepareWithdrawal(solInput(message(solFrom, 2n)), reader()));
    expect(amount.message).toMatch(/moves 2 base units of SOL, not the approved 1500000000/);
    const expired = await refusal(
      prepareWithdrawal(solInput(message(solFrom)), reader({ ethereum: null, solana: fakeSolana(false) })),
    );
    expect(expired.message).toMatch(new RegExp(`blockhash ${blockhash} has expired`));
  });
});

describe("the schemas", () => {
  it("the input takes 0x-hex or base64 only; the payload keeps an unsigned transaction off Bitcoin", () => {
    const base = {
      keyId: secpKey.id,
      chain: "ethereum",
      asset: "ETH",
      amount: "1",
      destination: TO,
      feeCap: "1",
    };
    expect(withdrawalInputSchema.safeParse({ ...base, unsignedTransaction: "0x02-f8" }).success).toBe(false);
    expect(withdrawalInputSchema.safeParse({ ...base, unsignedTransaction: "AQID" }).success).toBe(true);
    const payload = {
      keyId: secpKey.id,
      keyLabel: "k",
      keyTags: [],
      chain: "bitcoin",
      network: "regtest",
      from: "bcrt1q",
      asset: "BTC",
      decimals: 8,
      amount: "1",
      destination: "bcrt1q",
      feeCap: "1",
      psbt: "cHNidP8=",
    };
    expect(withdrawalPayloadSchema.safeParse(payload).success).toBe(true);
    expect(withdrawalPayloadSchema.safeParse({ ...payload, unsignedTransaction: "0x02" }).success).toBe(
      false,
    );
  });

  it("the OpenAPI document describes unsignedTransaction in the withdrawal body", () => {
    const input = openApiDocument().components?.schemas?.WithdrawalInput as {
      properties?: Record<string, { description?: string; type?: string }>;
      required?: string[];
    };
    expect(input.properties?.unsignedTransaction?.type).toBe("string");
    expect(input.properties?.unsignedTransaction?.description).toMatch(/EIP-1559/);
    expect(input.required).not.toContain("unsignedTransaction");
  });
});
