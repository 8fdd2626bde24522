// The schema of issue 13's clauses: strict, bounded, zones checked with Intl, amounts as base-unit strings,
// and shadowedRules understanding the new match fields (only a provable shadow is reported).
import { describe, expect, it } from "vitest";
import { DEFAULT_POLICY, policyDigest, policyDocumentSchema, shadowedRules } from "./document";

const base = {
  id: "r",
  description: "",
  match: { kinds: ["withdrawal"] },
  require: [{ group: "treasury", approvals: 1 }],
};
const docWith = (rule: Record<string, unknown>) => ({ ...DEFAULT_POLICY, rules: [{ ...base, ...rule }] });
const refused = (rule: Record<string, unknown>) => {
  const r = policyDocumentSchema.safeParse(docWith(rule));
  return r.success ? null : (r.error.issues[0]?.path.join(".") ?? "");
};
const btc = { chain: "bitcoin", symbol: "BTC" };
const weekdays = { days: ["mon", "tue", "wed", "thu", "fri"], from: "00:00", to: "24:00" };
const full = {
  match: {
    kinds: ["withdrawal"],
    chains: ["bitcoin"],
    assets: [btc],
    amount: { atLeast: "100000000" },
    destination: { onAllowList: "payees" },
  },
  alternatives: [[{ group: "executives", approvals: 3 }]],
  window: { zone: "Europe/Zurich", open: [weekdays], outside: "defer", reason: "no withdrawals on weekends" },
  delay: { hours: 24, vetoGroup: "security" },
  velocity: [{ per: "key", asset: btc, limit: "1000000000", windowHours: 24, over: "deny" }],
  allowList: "payees",
};

describe("the new clauses", () => {
  it("accept a rule using all of them, and keep the seeded default's digest", () => {
    expect(refused(full)).toBeNull();
    expect(policyDigest(DEFAULT_POLICY)).toBe(
      "aa84ed8a6f890e5dca90051baedc2462b2244575b6e0bb20358b5e4eee81b8d3",
    );
  });
  it.each<[string, Record<string, unknown>, string]>([
    ["an unknown zone", { window: { ...full.window, zone: "Mars/Olympus" } }, "rules.0.window.zone"],
    [
      "a zone in the wrong case",
      { window: { ...full.window, zone: "europe/zurich" } },
      "rules.0.window.zone",
    ],
    [
      "an opening that ends before it starts",
      { window: { ...full.window, open: [{ ...weekdays, from: "18:00", to: "08:00" }] } },
      "rules.0.window.open.0.to",
    ],
    [
      "25:00",
      { window: { ...full.window, open: [{ ...weekdays, to: "25:00" }] } },
      "rules.0.window.open.0.to",
    ],
    [
      "a day twice",
      { window: { ...full.window, open: [{ ...weekdays, days: ["mon", "mon"] }] } },
      "rules.0.window.open.0.days",
    ],
    [
      "an unknown day",
      { window: { ...full.window, open: [{ ...weekdays, days: ["monday"] }] } },
      "rules.0.window.open.0.days.0",
    ],
    ["15 openings", { window: { ...full.window, open: Array(15).fill(weekdays) } }, "rules.0.window.open"],
    ["no openings", { window: { ...full.window, open: [] } }, "rules.0.window.open"],
    ["an unknown window field", { window: { ...full.window, holidays: [] } }, "rules.0.window"],
    [
      "an outside other than defer or deny",
      { window: { ...full.window, outside: "skip" } },
      "rules.0.window.outside",
    ],
    [
      "a float amount",
      { match: { ...full.match, amount: { atLeast: "1.5" } } },
      "rules.0.match.amount.atLeast",
    ],
    [
      "a number amount",
      { match: { ...full.match, amount: { atLeast: 100 } } },
      "rules.0.match.amount.atLeast",
    ],
    ["an empty amount tier", { match: { ...full.match, amount: {} } }, "rules.0.match.amount"],
    [
      "atLeast not below below",
      { match: { ...full.match, amount: { atLeast: "5", below: "5" } } },
      "rules.0.match.amount.below",
    ],
    [
      "an amount without one asset",
      { match: { kinds: ["withdrawal"], amount: { atLeast: "5" } } },
      "rules.0.match.amount",
    ],
    [
      "an amount with two assets",
      { match: { assets: [btc, { chain: "ethereum", symbol: "ETH" }], amount: { atLeast: "5" } } },
      "rules.0.match.amount",
    ],
    ["an asset twice", { match: { assets: [btc, btc] } }, "rules.0.match.assets"],
    ["an upper-case chain", { match: { chains: ["Bitcoin"] } }, "rules.0.match.chains.0"],
    [
      "a destination clause with both forms",
      { match: { destination: { onAllowList: "a", notOnAllowList: "b" } } },
      "rules.0.match.destination",
    ],
    ["a veto group that approves", { delay: { hours: 1, vetoGroup: "treasury" } }, "rules.0.delay.vetoGroup"],
    [
      "a veto group that approves in an alternative",
      { ...full, delay: { hours: 1, vetoGroup: "executives" } },
      "rules.0.delay.vetoGroup",
    ],
    ["a delay over 30 days", { delay: { hours: 721, vetoGroup: "security" } }, "rules.0.delay.hours"],
    ["9 velocity caps", { velocity: Array(9).fill(full.velocity[0]) }, "rules.0.velocity"],
    [
      "a velocity per wallet",
      { velocity: [{ ...full.velocity[0], per: "wallet" }] },
      "rules.0.velocity.0.per",
    ],
    ["a negative limit", { velocity: [{ ...full.velocity[0], limit: "-1" }] }, "rules.0.velocity.0.limit"],
    ["an allow-list with a space", { allowList: "my list" }, "rules.0.allowList"],
    [
      "9 alternatives",
      { alternatives: Array(9).fill([{ group: "executives", approvals: 3 }]) },
      "rules.0.alternatives",
    ],
    [
      "a group twice in an alternative",
      {
        alternatives: [
          [
            { group: "a1", approvals: 1 },
            { group: "a1", approvals: 2 },
          ],
        ],
      },
      "rules.0.alternatives.0",
    ],
  ])("refuse %s", (_, rule, path) => {
    expect(refused(rule)).toBe(path);
  });
  it("deny rules take none of them", () => {
    const r = { id: "d", description: "", match: {}, deny: true, reason: "no", window: full.window };
    expect(policyDocumentSchema.safeParse({ ...DEFAULT_POLICY, rules: [r] }).success).toBe(false);
  });
});

describe("shadowedRules with the new match fields (only what is provable)", () => {
  const rules = (earlier: object, later: object) => ({ rules: [{ match: earlier }, { match: later }] });
  const eth = { chain: "ethereum", symbol: "ETH" };
  it.each<[object, object, boolean]>([
    [{ chains: ["bitcoin", "ethereum"] }, { chains: ["bitcoin"] }, true],
    [{ chains: ["bitcoin"] }, { chains: ["bitcoin", "ethereum"] }, false],
    [{ chains: ["bitcoin"] }, { assets: [btc] }, true],
    [{ chains: ["bitcoin"] }, { assets: [btc, eth] }, false],
    [{ chains: ["bitcoin"] }, {}, false],
    [{ assets: [btc, eth] }, { assets: [eth] }, true],
    [{ assets: [btc] }, { chains: ["bitcoin"] }, false],
    [{ assets: [btc], amount: { atLeast: "10" } }, { assets: [btc], amount: { atLeast: "20" } }, true],
    [{ assets: [btc], amount: { atLeast: "20" } }, { assets: [btc], amount: { atLeast: "10" } }, false],
    [
      { assets: [btc], amount: { below: "20" } },
      { assets: [btc], amount: { atLeast: "5", below: "20" } },
      true,
    ],
    [{ assets: [btc], amount: { below: "20" } }, { assets: [btc], amount: { atLeast: "5" } }, false],
    [{ assets: [btc], amount: { below: "20" } }, { assets: [btc] }, false],
    [{ assets: [btc], amount: { atLeast: "1" } }, { assets: [eth], amount: { atLeast: "5" } }, false],
    [{ destination: { onAllowList: "a" } }, { destination: { onAllowList: "a" }, chains: ["bitcoin"] }, true],
    [{ destination: { onAllowList: "a" } }, { destination: { onAllowList: "b" } }, false],
    [{ destination: { onAllowList: "a" } }, { destination: { notOnAllowList: "a" } }, false],
    [{ destination: { notOnAllowList: "a" } }, {}, false],
    [{}, { destination: { notOnAllowList: "a" } }, true],
  ])("earlier %j, later %j → shadowed %s", (earlier, later, shadowed) => {
    expect(shadowedRules(rules(earlier, later))).toEqual(shadowed ? [{ rule: 1, by: 0 }] : []);
  });
});
