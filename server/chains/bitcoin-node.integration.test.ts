// KEYWARD_BITCOIN_ESPLORA_URL end to end, on PGlite and PostgreSQL with a real SoftHSM key: the configuration
// points the chain registry at a real HTTP server on this machine that answers the Esplora endpoints
// (server/chains/testing/esplora-server.ts) over a test chain that validates every broadcast (BIP143 sighash by
// @scure/btc-signer, low-S). The wallet backend's PSBT is made from the UTXOs and previous transactions the node
// serves over HTTP; the withdrawal is proposed, approved by two taps, executed; the tracker's configured source
// (the registry's client, KEYWARD_CONFIRMATIONS_BITCOIN) broadcasts it with POST /tx and follows it to 2
// confirmations. A transaction whose input someone else spent is refused by the node and tracked to dead.
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keys, withdrawals } from "@/db/schema";
import { parseChainConfig } from "@/server/chains/config";
import { installChainConfig } from "@/server/chains/current";
import { chainClients, installChainClients } from "@/server/chains/registry";
import { addressOn } from "@/server/custody/addresses";
import { TestBitcoinChain } from "@/server/custody/testing/btc-chain";
import { type FakeUtxo, makePsbtBase64, scriptOf } from "@/server/custody/testing/psbt";
import { createTestToken, type TestToken } from "@/server/hsm/testing/test-token";
import { runExecutorRound } from "@/server/operations/executor/run";
import { useTokenForServer } from "@/server/operations/executor/testing/fixtures";
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
import { configuredTracking } from "@/server/withdrawals/track-job";
import { startTestEsplora, type TestEsplora } from "./testing/esplora-server";

let token: TestToken;
let server: ReturnType<typeof useTokenForServer>;

beforeAll(() => {
  token = createTestToken("kw-esplora");
  server = useTokenForServer(token);
}, 60_000);

afterAll(async () => {
  installChainClients(null);
  installChainConfig(null);
  await server.close();
  token.cleanup();
});

describe.each(testEngines())("a Bitcoin node configured by KEYWARD_BITCOIN_ESPLORA_URL on %s", (engine) => {
  let database: TestDatabase;
  let esplora: TestEsplora;
  let admin: Person;
  let operator: Person;
  let alice: Person;
  let bob: Person;
  let key: { id: string; publicKey: string; curve: string };
  let from: string;
  let dest: string;
  let at = new Date("2027-03-01T10:00:00.000Z");
  const clock = () => at;
  const noWait = { attempts: 3, backoffMs: 0, maxBackoffMs: 0 };

  beforeAll(async () => {
    esplora = await startTestEsplora(new TestBitcoinChain("regtest"));
    // The registry builds its clients from the configuration: nothing installed by hand.
    installChainClients(null);
    installChainConfig(
      parseChainConfig({
        KEYWARD_BITCOIN_NETWORK: "regtest",
        KEYWARD_BITCOIN_ESPLORA_URL: esplora.url,
        KEYWARD_CONFIRMATIONS_BITCOIN: "2",
      }),
    );
    database = await createTestDatabase(engine);
    admin = await firstAdmin(database.db, { now: at });
    operator = await invitedMember(database.db, admin.acting, { now: at, roles: ["operator"] });
    alice = await invitedMember(database.db, admin.acting, { now: at, roles: ["approver"] });
    bob = await invitedMember(database.db, admin.acting, { now: at, roles: ["approver"] });
    const { id: opId } = await approved("key.create", {
      label: `btc ${engine}`,
      curve: "secp256k1",
      tags: ["hot"],
      exportable: "never",
    });
    await runExecutorRound({ db: database.db, clock, retry: noWait }, { concurrency: 1 });
    const [row] = await database.db.select().from(keys).where(eq(keys.operationId, opId));
    if (row?.state !== "active") throw new Error("key not active");
    key = row;
    const networks = parseChainConfig({ KEYWARD_BITCOIN_NETWORK: "regtest" }).networks;
    from = addressOn(key, "bitcoin", networks) ?? "";
    // Someone else's address: the secp256k1 generator point as a public key.
    const G = `04${"79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"}${"483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8"}`;
    dest = addressOn({ curve: "secp256k1", publicKey: G }, "bitcoin", networks) ?? "";
  }, 120_000);

  afterAll(async () => {
    installChainConfig(null);
    await esplora.close();
    await database.drop();
  });

  async function approved(kind: string, payload: unknown) {
    const op = await proposeOperation(database.db, { actor: operator.acting, kind, payload, now: at });
    expect(
      await approveInTurn(database.db, config, { operationId: op.id, voters: [alice, bob], now: at }),
    ).toBe("approved");
    return op;
  }

  async function withdrawalOf(operationId: string) {
    const [row] = await database.db
      .select()
      .from(withdrawals)
      .where(eq(withdrawals.operationId, operationId));
    if (!row) throw new Error(`no withdrawal for ${operationId}`);
    return row;
  }

  /** The wallet backend's PSBT, from what the node serves over HTTP: the key's UTXOs and their previous txs. */
  async function backendPsbt(amount: bigint, fee: bigint): Promise<{ psbt: string; utxos: FakeUtxo[] }> {
    const client = chainClients().bitcoin;
    if (!client?.utxos || !client.transactionHex) throw new Error("the registry gave no Esplora client");
    const listed = await client.utxos(from);
    const utxos: FakeUtxo[] = [];
    for (const u of listed) {
      const hex = await client.transactionHex(u.txid);
      if (hex === null) throw new Error(`no previous transaction for ${u.txid}`);
      utxos.push({ ...u, script: scriptOf(from, "regtest"), previous: Buffer.from(hex, "hex") });
    }
    const total = utxos.reduce((s, u) => s + u.value, 0n);
    const psbt = makePsbtBase64({
      network: "regtest",
      utxos,
      outputs: [
        { address: dest, value: amount },
        { address: from, value: total - amount - fee },
      ],
    });
    return { psbt, utxos };
  }

  const track = () => {
    at = new Date(at.getTime() + 1000);
    return trackWithdrawals({ db: database.db, clock, ...configuredTracking() });
  };

  it("a PSBT made from the node's UTXOs is signed, broadcast over HTTP and confirmed at 2 confirmations", async () => {
    esplora.fund(from, [60_000n, 40_000n]);
    const { psbt } = await backendPsbt(70_000n, 1_500n);
    expect(esplora.requests).toEqual(
      expect.arrayContaining([
        `GET /address/${from}/utxo`,
        expect.stringMatching(/^GET \/tx\/[0-9a-f]{64}\/hex$/),
      ]),
    );
    const op = await approved("withdrawal", {
      keyId: key.id,
      chain: "bitcoin",
      asset: "BTC",
      amount: "0.0007",
      destination: dest,
      feeCap: "0.00002",
      psbt,
    });
    await runExecutorRound({ db: database.db, clock, retry: noWait }, { concurrency: 1 });
    const signed = await withdrawalOf(op.id);
    expect(signed.state).toBe("signed");

    esplora.requests.length = 0;
    const first = await track();
    expect(first.broadcast).toBe(1);
    expect(esplora.requests).toContain("POST /tx");
    expect(esplora.requests).toContain(`GET /tx/${signed.txid}/status`);
    // The node (the test chain behind HTTP) accepted it: low-S signatures over its own BIP143 sighash.
    expect(esplora.chain.broadcasts).toContain(signed.raw);
    expect(await withdrawalOf(op.id)).toMatchObject({ state: "broadcast", reason: null });

    esplora.chain.mine();
    await track();
    expect(await withdrawalOf(op.id)).toMatchObject({ state: "broadcast", confirmations: 1 });
    esplora.chain.mine();
    const last = await track();
    expect(last.confirmed).toBe(1);
    expect(await withdrawalOf(op.id)).toMatchObject({ state: "confirmed", confirmations: 2 });
    // Balances as the node reports them over HTTP.
    const client = chainClients().bitcoin;
    expect(await client?.balance(dest)).toBe(70_000n);
    expect(await client?.balance(from)).toBe(100_000n - 70_000n - 1_500n);
  }, 60_000);

  it("a transaction whose input someone else spent is refused by the node and tracked to dead, never rebuilt", async () => {
    const { psbt, utxos } = await backendPsbt(10_000n, 1_000n);
    const op = await approved("withdrawal", {
      keyId: key.id,
      chain: "bitcoin",
      asset: "BTC",
      amount: "0.0001",
      destination: dest,
      feeCap: "0.00002",
      psbt,
    });
    await runExecutorRound({ db: database.db, clock, retry: noWait }, { concurrency: 1 });
    const signed = await withdrawalOf(op.id);
    const [input] = utxos;
    if (!input) throw new Error("no input");
    const other = esplora.spendElsewhere(`${input.txid}:${input.vout}`);
    const report = await track();
    expect(report.dead).toBe(1);
    const row = await withdrawalOf(op.id);
    expect(row.state).toBe("dead");
    expect(row.reason).toContain(`was spent by ${other}`);
    expect(row.raw).toBe(signed.raw);
  }, 60_000);
});
