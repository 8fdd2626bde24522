// checkAgainstIntent: every way a built or imported transaction can differ from the approved intent is refused,
// each in words; exactly the intent (with Bitcoin change back to the key) passes.
import { describe, expect, it } from "vitest";
import { checkAgainstIntent, type WithdrawalIntent } from "./check";
import type { DecodedTransaction } from "./types";

const eth: WithdrawalIntent = {
  chain: "ethereum",
  network: "11155111",
  from: "0x1111111111111111111111111111111111111111",
  asset: "USDC",
  amount: 1_250_000n,
  destination: "0x2222222222222222222222222222222222222222",
  feeCap: 1_000_000_000_000_000n,
};

const decodedEth = (over: Partial<DecodedTransaction> = {}): DecodedTransaction => ({
  chain: "ethereum",
  network: "11155111",
  from: eth.from,
  transfers: [{ asset: "USDC", amount: 1_250_000n, destination: eth.destination }],
  maxFee: 21_000n * 30_000_000_000n,
  nonce: "7",
  lines: [],
  ...over,
});

const btc: WithdrawalIntent = {
  chain: "bitcoin",
  network: "regtest",
  from: "bcrt1qown",
  asset: "BTC",
  amount: 50_000n,
  destination: "bcrt1qdest",
  feeCap: 2_000n,
};

const decodedBtc = (over: Partial<DecodedTransaction> = {}): DecodedTransaction => ({
  chain: "bitcoin",
  network: "regtest",
  from: btc.from,
  transfers: [
    { asset: "BTC", amount: 50_000n, destination: btc.destination },
    { asset: "BTC", amount: 48_500n, destination: btc.from, change: true },
  ],
  maxFee: 1_500n,
  lines: [],
  ...over,
});

function reasons(decoded: DecodedTransaction, intent: WithdrawalIntent): string[] {
  const check = checkAgainstIntent(decoded, intent);
  return check.ok ? [] : check.reasons;
}

describe("checkAgainstIntent", () => {
  it("passes exactly the intent", () => {
    expect(checkAgainstIntent(decodedEth(), eth)).toEqual({ ok: true });
    expect(checkAgainstIntent(decodedBtc(), btc)).toEqual({ ok: true });
  });

  it("passes a fee equal to the cap and refuses one base unit above", () => {
    expect(checkAgainstIntent(decodedEth({ maxFee: eth.feeCap }), eth).ok).toBe(true);
    expect(reasons(decodedEth({ maxFee: eth.feeCap + 1n }), eth)).toEqual([
      "the fee could reach 1000000000000001 base units of ETH, above the approved cap of 1000000000000000",
    ]);
  });

  it("refuses another destination", () => {
    const other = "0x3333333333333333333333333333333333333333";
    expect(
      reasons(decodedEth({ transfers: [{ asset: "USDC", amount: 1_250_000n, destination: other }] }), eth),
    ).toEqual([`the payment goes to ${other}, not to the approved destination ${eth.destination}`]);
  });

  it("refuses a destination differing only in letter case (addresses are compared canonical)", () => {
    const lower = eth.destination.replace("0x", "0X");
    expect(
      reasons(decodedEth({ transfers: [{ asset: "USDC", amount: 1_250_000n, destination: lower }] }), eth),
    ).toHaveLength(1);
  });

  it("refuses another amount, one base unit more or less", () => {
    for (const amount of [1_250_001n, 1_249_999n]) {
      expect(
        reasons(decodedEth({ transfers: [{ asset: "USDC", amount, destination: eth.destination }] }), eth),
      ).toEqual([`the payment moves ${amount} base units of USDC, not the approved 1250000 of USDC`]);
    }
  });

  it("refuses another asset (ETH instead of USDC)", () => {
    expect(
      reasons(
        decodedEth({ transfers: [{ asset: "ETH", amount: 1_250_000n, destination: eth.destination }] }),
        eth,
      ),
    ).toEqual(["the payment moves ETH, not the approved USDC"]);
  });

  it("refuses another chain, network or sender", () => {
    expect(reasons(decodedEth({ network: "1" }), eth)).toEqual([
      "the transaction is for network 1, the withdrawal for 11155111",
    ]);
    expect(reasons(decodedEth({ chain: "solana" }), eth)).toEqual([
      "the transaction is for solana, the withdrawal for ethereum",
    ]);
    expect(reasons(decodedEth({ from: eth.destination }), eth)).toEqual([
      `the transaction spends from ${eth.destination}, the withdrawal from the key's ${eth.from}`,
    ]);
  });

  it("refuses a second payment, even of the same intent, and a transaction paying nobody", () => {
    const t = { asset: "USDC", amount: 1_250_000n, destination: eth.destination };
    expect(reasons(decodedEth({ transfers: [t, t] }), eth)).toEqual([
      "the transaction makes 2 payments; the withdrawal approved exactly one",
    ]);
    expect(reasons(decodedEth({ transfers: [] }), eth)).toEqual(["the transaction pays nobody"]);
  });

  it("refuses native value riding along a token transfer", () => {
    const r = reasons(
      decodedEth({
        transfers: [
          { asset: "USDC", amount: 1_250_000n, destination: eth.destination },
          { asset: "ETH", amount: 1n, destination: eth.destination },
        ],
      }),
      eth,
    );
    expect(r[0]).toBe("the transaction makes 2 payments; the withdrawal approved exactly one");
    expect(r).toContain("payment 2 moves ETH, not the approved USDC");
  });

  it("refuses Bitcoin change to anyone but the key, and change marked on other chains", () => {
    const stolen = decodedBtc({
      transfers: [
        { asset: "BTC", amount: 50_000n, destination: btc.destination },
        { asset: "BTC", amount: 48_500n, destination: "bcrt1qthief", change: true },
      ],
    });
    expect(reasons(stolen, btc)).toEqual([
      "change of 48500 goes to bcrt1qthief, not back to the key's bcrt1qown",
    ]);
    const ethChange = decodedEth({
      transfers: [
        { asset: "USDC", amount: 1_250_000n, destination: eth.destination },
        { asset: "ETH", amount: 5n, destination: eth.from, change: true },
      ],
    });
    expect(reasons(ethChange, eth)).toEqual([
      "an output marked change on ethereum, where a withdrawal has no change",
    ]);
  });

  it("refuses a PSBT with an extra output to someone else", () => {
    const extra = decodedBtc({
      transfers: [
        { asset: "BTC", amount: 50_000n, destination: btc.destination },
        { asset: "BTC", amount: 10_000n, destination: "bcrt1qthief" },
        { asset: "BTC", amount: 38_500n, destination: btc.from, change: true },
      ],
    });
    const r = reasons(extra, btc);
    expect(r).toContain("the transaction makes 2 payments; the withdrawal approved exactly one");
    expect(r).toContain("payment 2 goes to bcrt1qthief, not to the approved destination bcrt1qdest");
  });

  it("refuses zero or negative amounts and a negative fee", () => {
    const zero = { ...btc, amount: 0n };
    expect(
      reasons(decodedBtc({ transfers: [{ asset: "BTC", amount: 0n, destination: btc.destination }] }), zero),
    ).toEqual(["a payment of 0: a withdrawal moves a positive amount"]);
    expect(reasons(decodedBtc({ maxFee: -1n }), btc)).toEqual([
      "a negative fee (-1): its outputs exceed its inputs",
    ]);
  });

  it("lists every mismatch at once", () => {
    const r = reasons(
      decodedEth({
        network: "1",
        transfers: [{ asset: "ETH", amount: 1n, destination: eth.from }],
        maxFee: eth.feeCap * 2n,
      }),
      eth,
    );
    expect(r).toHaveLength(5);
  });
});
