// Issue 13's clauses in words, as the policy page shows them.
import { describe, expect, it } from "vitest";
import { describeDays, describeRule } from "./describe";
import type { Rule } from "./document";

const assets = [{ chain: "bitcoin", symbol: "BTC", decimals: 8 }];
const btc = { chain: "bitcoin", symbol: "BTC" };

describe("describeRule with the new clauses", () => {
  it("says every clause of a rule using them all", () => {
    const rule: Rule = {
      id: "big",
      description: "",
      match: {
        kinds: ["withdrawal"],
        chains: ["bitcoin"],
        assets: [btc],
        amount: { atLeast: "1000000000" },
        destination: { notOnAllowList: "payees" },
      },
      require: [
        { group: "treasury", approvals: 2 },
        { group: "compliance", approvals: 1 },
      ],
      alternatives: [[{ group: "executives", approvals: 3 }]],
      allowList: "vetted",
      window: {
        zone: "Europe/Zurich",
        open: [{ days: ["mon", "tue", "wed", "thu", "fri"], from: "00:00", to: "24:00" }],
        outside: "defer",
        reason: "no withdrawals on weekends",
      },
      delay: { hours: 24, vetoGroup: "security" },
      velocity: [{ per: "key", asset: btc, limit: "1000000000", windowHours: 24, over: "deny" }],
    };
    expect(describeRule(rule, 1, assets)).toBe(
      "Withdrawals on bitcoin in BTC on bitcoin of at least 10 BTC to an address not on the allow-list payees: " +
        "2 approvals from treasury and 1 from compliance, or 3 from executives; " +
        "only to addresses on the allow-list vetted; " +
        "no withdrawals on weekends: only Monday to Friday 00:00-24:00 (Europe/Zurich); outside it, deferred to the next opening; " +
        "runs 24 h after its approvals, and security can veto it until then; " +
        "at most 10 BTC per key in any 24 h, approved amounts not yet executed included; over it, denied; " +
        "expires after 48 h",
    );
  });
  it("says amounts in base units when the asset list does not know the asset, and tiers with both ends", () => {
    const rule = {
      id: "mid",
      description: "",
      match: { assets: [btc], amount: { atLeast: "100", below: "200" } },
      require: [{ group: "treasury", approvals: 1 }],
      velocity: [{ per: "chain" as const, asset: btc, limit: "5", windowHours: 168, over: "defer" as const }],
      window: {
        zone: "UTC",
        open: [{ days: ["sat" as const], from: "10:00", to: "12:00" }],
        outside: "deny" as const,
      },
    };
    expect(describeRule(rule)).toBe(
      "Operations in BTC on bitcoin of at least 100 base units of BTC and less than 200 base units of BTC: 1 approval from treasury; " +
        "only Saturday 10:00-12:00 (UTC); outside it, denied; " +
        "at most 5 base units of BTC on bitcoin in any 7 days, approved amounts not yet executed included; over it, deferred until it fits; " +
        "expires after 48 h",
    );
  });
  it.each([
    [["mon", "tue", "wed", "thu", "fri"], "Monday to Friday"],
    [["sat", "sun"], "Saturday and Sunday"],
    [["mon", "wed", "fri", "sat", "sun"], "Monday, Wednesday and Friday to Sunday"],
    [["sun", "mon", "tue", "wed", "thu", "fri", "sat"], "every day"],
  ])("days %j read %s", (days, words) => {
    expect(describeDays(days)).toBe(words);
  });
});
