// What the withdrawal form shows before anything is proposed (read.ts previewImported and previewPsbt), on PGlite
// and PostgreSQL: the wallet backend's unsigned Ethereum transaction and Solana message decoded into the lines the
// approvers will see — recipient, amount, chain id, nonce, fee, fee payer — and, for bytes that cannot be a
// transfer from this key, the reason in words; a key of the wrong curve says so; nothing is written.
import { ed25519 } from "@noble/curves/ed25519";
import { secp256k1 } from "@noble/curves/secp256k1";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditEvents, keys, operations } from "@/db/schema";
import type { ChainConfig } from "@/server/chains/config";
import { addressOn } from "@/server/custody/addresses";
import { NATIVE_ASSETS } from "@/server/custody/assets";
import { buildTransfer as buildEthereum } from "@/server/custody/ethereum";
import { buildTransfer as buildSolana } from "@/server/custody/solana";
import { fakeUtxos, makePsbtBase64 } from "@/server/custody/testing/psbt";
import { createTestDatabase, type TestDatabase, testEngines } from "@/server/testing/test-db";
import { previewImported, previewPsbt } from "./read";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const config: Pick<ChainConfig, "networks" | "assets"> = {
  networks: { bitcoin: "regtest", ethereum: { chainId: 31337 }, solana: "localnet" },
  assets: [NATIVE_ASSETS.bitcoin, NATIVE_ASSETS.ethereum, NATIVE_ASSETS.solana],
};
const secpPublic = hex(secp256k1.getPublicKey(Uint8Array.from([...new Uint8Array(31), 7]), false));
const edPublic = hex(ed25519.getPublicKey(new Uint8Array(32).fill(7)));
const other = {
  curve: "secp256k1",
  publicKey: hex(secp256k1.getPublicKey(Uint8Array.from([...new Uint8Array(31), 9]), false)),
};
const receiver = "0x000000000000000000000000000000000000bEEF";

describe.each(testEngines())("the withdrawal form's previews on %s", (engine) => {
  let database: TestDatabase;
  let secpKey: string;
  let edKey: string;
  beforeAll(async () => {
    database = await createTestDatabase(engine);
    const rows = await database.db
      .insert(keys)
      .values([
        {
          label: "hot eth",
          curve: "secp256k1",
          tags: [],
          state: "active",
          hsmRef: "preview-1",
          publicKey: secpPublic,
          exportable: "never",
        },
        {
          label: "hot sol",
          curve: "ed25519",
          tags: [],
          state: "active",
          hsmRef: "preview-2",
          publicKey: edPublic,
          exportable: "never",
        },
      ])
      .returning();
    secpKey = rows[0]?.id ?? "";
    edKey = rows[1]?.id ?? "";
  }, 60_000);
  afterAll(async () => {
    await database.drop();
  });

  const rowsWritten = async () =>
    (await database.db.select().from(operations)).length +
    (await database.db.select().from(auditEvents)).length;

  it("decodes an imported EIP-1559 transfer: recipient, amount, chain id, nonce and the most it can cost", async () => {
    const before = await rowsWritten();
    const unsigned = buildEthereum({
      chainId: 31337,
      asset: NATIVE_ASSETS.ethereum,
      amount: 1_250_000_000_000_000_000n,
      destination: receiver,
      nonce: 4,
      maxFeePerGas: 30_000_000_000n,
      maxPriorityFeePerGas: 1_000_000_000n,
    });
    const preview = await previewImported(
      database.db,
      { keyId: secpKey, chain: "ethereum", unsignedTransaction: unsigned },
      config,
    );
    if (!preview.ok) throw new Error(preview.reason);
    const text = preview.lines.map((l) => `${l.label}: ${l.value}`).join("\n");
    expect(text).toContain(receiver);
    expect(text).toContain("1.25 ETH");
    expect(text).toContain("31337");
    expect(text).toMatch(/nonce.*4/i);
    expect(preview.fee).toBe((21_000n * 30_000_000_000n).toString());
    expect(await rowsWritten()).toBe(before);
  });

  it("decodes an imported Solana transfer with the key as fee payer", async () => {
    const from = addressOn({ curve: "ed25519", publicKey: edPublic }, "solana", config.networks) ?? "";
    const destination =
      addressOn(
        { curve: "ed25519", publicKey: hex(ed25519.getPublicKey(new Uint8Array(32).fill(8))) },
        "solana",
        config.networks,
      ) ?? "";
    const made = await buildSolana({
      from,
      destination,
      asset: NATIVE_ASSETS.solana,
      amount: 1_500_000_000n,
      blockhash: "EkSnNWid2cvwEVnVx9aBqawnmiCNiDgp3gUdkDPTKN1N",
      lastValidBlockHeight: 300n,
    });
    const preview = await previewImported(
      database.db,
      { keyId: edKey, chain: "solana", unsignedTransaction: made.unsigned },
      config,
    );
    if (!preview.ok) throw new Error(preview.reason);
    const text = preview.lines.map((l) => `${l.label}: ${l.value}`).join("\n");
    expect(text).toContain(destination);
    expect(text).toContain("1.5 SOL");
    expect(preview.fee).toBe("5000");
  });

  it("says why bytes cannot be previewed: unreadable, not from this key, a key of the wrong curve", async () => {
    const garbage = await previewImported(
      database.db,
      { keyId: secpKey, chain: "ethereum", unsignedTransaction: "0x02deadbeef" },
      config,
    );
    expect(garbage).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^The Ethereum transaction cannot be read: /),
    });
    const wrongCurve = await previewImported(
      database.db,
      { keyId: secpKey, chain: "solana", unsignedTransaction: "AQID" },
      config,
    );
    expect(wrongCurve).toEqual({ ok: false, reason: "The key is secp256k1: it has no Solana address." });
    // A PSBT that spends another key's coins is not this key's to sign.
    const otherAddress = addressOn(other, "bitcoin", config.networks) ?? "";
    const psbt = makePsbtBase64({
      network: "regtest",
      utxos: fakeUtxos(otherAddress, [100_000n], "regtest"),
      outputs: [{ address: otherAddress, value: 90_000n }],
    });
    const foreign = await previewPsbt(database.db, { keyId: secpKey, psbt }, config);
    expect(foreign.ok).toBe(false);
    const own = addressOn({ curve: "secp256k1", publicKey: secpPublic }, "bitcoin", config.networks) ?? "";
    const mine = makePsbtBase64({
      network: "regtest",
      utxos: fakeUtxos(own, [100_000n], "regtest"),
      outputs: [{ address: otherAddress, value: 90_000n }],
    });
    expect(await previewPsbt(database.db, { keyId: secpKey, psbt: mine }, config)).toMatchObject({
      ok: true,
      fee: "10000",
    });
  });
});
