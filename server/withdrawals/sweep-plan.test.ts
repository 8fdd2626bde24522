// planSweeps: tokens in full while the native coin pays their fee, the native coin less every fee cap; a token
// whose fee the native coin cannot pay is skipped with the reason; nothing zero or negative is ever planned.
import { describe, expect, it } from "vitest";
import { NATIVE_ASSETS } from "@/server/custody/assets";
import type { Asset } from "@/server/custody/types";
import { planSweeps } from "./sweep-plan";

const ETH = NATIVE_ASSETS.ethereum;
const token = (symbol: string): Asset => ({
  chain: "ethereum",
  symbol,
  name: symbol,
  decimals: 6,
  kind: "erc20",
  contract: "0x1c7D4B196Cb0C7B01d743Fbc6116a902379C7238",
});
const USDC = token("USDC");
const DAI = token("DAI");

describe("planSweeps", () => {
  it("sweeps tokens whole and the native coin less its own and the tokens' fee caps", () => {
    const plan = planSweeps({ asset: ETH, balance: 1000n, feeCap: 10n }, [
      { asset: USDC, balance: 5n, feeCap: 30n },
      { asset: DAI, balance: 0n, feeCap: 30n },
    ]);
    expect(plan.sweeps).toEqual([
      { asset: ETH, amount: 960n, feeCap: 10n },
      { asset: USDC, amount: 5n, feeCap: 30n },
    ]);
    expect(plan.skipped).toEqual([]);
  });

  it("skips a token whose fee the native coin left cannot pay, saying so, and keeps what it can", () => {
    const plan = planSweeps({ asset: ETH, balance: 40n, feeCap: 10n }, [
      { asset: USDC, balance: 5n, feeCap: 30n },
      { asset: DAI, balance: 7n, feeCap: 30n },
    ]);
    expect(plan.sweeps).toEqual([{ asset: USDC, amount: 5n, feeCap: 30n }]);
    expect(plan.skipped.map((s) => s.asset.symbol)).toEqual(["DAI", "ETH"]);
    expect(plan.skipped[0]?.reason).toMatch(/send ETH to the old key for the fee/);
    expect(plan.skipped[1]?.reason).toMatch(/nothing is left to move/);
  });

  it("plans nothing for an empty key, and never a zero or negative amount", () => {
    expect(
      planSweeps({ asset: ETH, balance: 0n, feeCap: 10n }, [{ asset: USDC, balance: 0n, feeCap: 5n }]),
    ).toEqual({
      sweeps: [],
      skipped: [],
    });
    for (let balance = 0n; balance < 60n; balance++) {
      const plan = planSweeps({ asset: ETH, balance, feeCap: 10n }, [
        { asset: USDC, balance: 3n, feeCap: 20n },
      ]);
      for (const s of plan.sweeps) expect(s.amount).toBeGreaterThan(0n);
      const fees = plan.sweeps.reduce((sum, s) => sum + s.feeCap, 0n);
      const native = plan.sweeps.find((s) => s.asset === ETH)?.amount ?? 0n;
      expect(native + fees).toBeLessThanOrEqual(balance);
    }
  });
});
