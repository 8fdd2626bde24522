// Unit test of the Esplora client's UTXO list and raw transactions (what a rotation sweep builds its PSBT from),
// against answers shaped as Esplora sends them, through the client's injectable fetch: amounts as bigint, an
// unknown address as no UTXOs, an unknown transaction as null, malformed answers refused in words.
import { describe, expect, it } from "vitest";
import { esploraClient } from "./bitcoin-esplora";

const TXID = "ab".repeat(32);

function clientAnswering(routes: Record<string, { status?: number; body: string }>) {
  return esploraClient({
    baseUrl: "http://esplora.test/api",
    fetch: async (input) => {
      const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
      const route = routes[url.replace("http://esplora.test/api", "")];
      return new Response(route?.body ?? "Not Found", { status: route?.status ?? (route ? 200 : 404) });
    },
  });
}

describe("esploraClient UTXOs and raw transactions", () => {
  it("lists an address's UTXOs with satoshis as bigint, and none for an address it does not know", async () => {
    const client = clientAnswering({
      "/address/bcrt1qexample/utxo": {
        body: JSON.stringify([
          { txid: TXID, vout: 1, value: 50_000, status: { confirmed: true, block_height: 101 } },
          { txid: TXID, vout: 0, value: 7, status: { confirmed: false } },
        ]),
      },
    });
    expect(await client.utxos?.("bcrt1qexample")).toEqual([
      { txid: TXID, vout: 1, value: 50_000n },
      { txid: TXID, vout: 0, value: 7n },
    ]);
    expect(await client.utxos?.("bcrt1qother")).toEqual([]);
  });

  it("gives a raw transaction as hex, null when unknown, and refuses what is not one", async () => {
    const client = clientAnswering({ [`/tx/${TXID}/hex`]: { body: "0200000001ab\n" } });
    expect(await client.transactionHex?.(TXID)).toBe("0200000001ab");
    expect(await client.transactionHex?.("cd".repeat(32))).toBeNull();
    await expect(client.transactionHex?.("not-a-txid")).rejects.toThrow(/not a transaction id/);
    const bad = clientAnswering({ [`/tx/${TXID}/hex`]: { body: "<html>" } });
    await expect(bad.transactionHex?.(TXID)).rejects.toThrow(/not a raw transaction/);
    const badList = clientAnswering({
      "/address/x/utxo": { body: JSON.stringify([{ txid: "zz", vout: 0 }]) },
    });
    await expect(badList.utxos?.("x")).rejects.toThrow(/not what Esplora sends/);
  });
});
