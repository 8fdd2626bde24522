// evaluatePolicy case by case: the new match facts, alternatives, the allow-list, windows (deferred or
// denied), the delay and its veto, velocity caps, and every reason in words.
import { describe, expect, it } from "vitest";
import type { PolicyDocument, Rule } from "./document";
import { evaluate, evaluatePolicy, type PolicyInput, type VoteInput } from "./evaluate";
import type { HistoryEntry } from "./velocity";

const BTC = 100_000_000n;
const assets = [{ chain: "bitcoin", symbol: "BTC", decimals: 8 }];
const friday = new Date("2026-12-04T12:00:00Z");
const saturday = new Date("2026-12-05T12:00:00Z");
const vote = (
  voterId: string,
  groups: string[],
  decision: VoteInput["decision"] = "approve",
  at?: Date,
): VoteInput => ({
  voterId,
  decision,
  groups,
  roles: ["approver"],
  eligible: true,
  ...(at ? { at } : {}),
});
const withdrawal = (amount = BTC, extra = {}) => ({
  kind: "withdrawal",
  keyTags: ["hot"],
  initiatorId: "olga",
  id: "op1",
  keyId: "k1",
  chain: "bitcoin",
  asset: "BTC",
  amount,
  destination: "bc1qdest",
  ...extra,
});
const rule = (extra: object): Rule =>
  ({
    id: "r",
    description: "",
    match: { kinds: ["withdrawal"] },
    require: [{ group: "treasury", approvals: 1 }],
    ...extra,
  }) as Rule;
const doc = (...rules: Rule[]): PolicyDocument => ({
  version: 1,
  rules,
  default: { require: [{ group: "approvers", approvals: 2 }] },
});
const run = (policy: PolicyDocument, extra: Partial<PolicyInput> = {}) =>
  evaluatePolicy({
    operation: withdrawal(),
    votes: [vote("tom", ["treasury"])],
    policy,
    now: friday,
    history: [],
    assets,
    ...extra,
  });

describe("matching on chain, asset, amount and destination", () => {
  const policy = doc(
    rule({
      id: "big",
      match: { assets: [{ chain: "bitcoin", symbol: "BTC" }], amount: { atLeast: String(10n * BTC) } },
    }),
    rule({ id: "unlisted", match: { destination: { notOnAllowList: "payees" } } }),
    rule({ id: "eth", match: { chains: ["ethereum"] } }),
  );
  const lists = {
    payees: [
      { chain: "bitcoin", address: "bc1qdest" },
      { chain: "ethereum", address: "0xabc" },
    ],
  };
  it.each([
    ["10 BTC", "big", withdrawal(10n * BTC)],
    ["10 BTC less 1 satoshi", "default", withdrawal(10n * BTC - 1n)],
    ["1 BTC to an address not on the list", "unlisted", withdrawal(BTC, { destination: "bc1qother" })],
    [
      "ETH to a listed address",
      "eth",
      withdrawal(BTC, { chain: "ethereum", asset: "ETH", destination: "0xabc" }),
    ],
    [
      "ETH to an address listed on bitcoin only",
      "unlisted",
      withdrawal(BTC, { chain: "ethereum", asset: "ETH" }),
    ],
    [
      "a key creation (no chain, amount or destination)",
      "default",
      { kind: "key.create", keyTags: [], initiatorId: "olga" },
    ],
  ])("%s → %s", (_, ruleId, operation) => {
    expect(run(policy, { operation, allowLists: lists }).ruleId).toBe(ruleId);
  });
  it("a destination judged against lists the caller did not supply is on none", () => {
    expect(run(policy).ruleId).toBe("unlisted");
  });
});

describe("alternatives: 2 treasury AND 1 compliance, OR 3 executives", () => {
  const policy = doc(
    rule({
      require: [
        { group: "treasury", approvals: 2 },
        { group: "compliance", approvals: 1 },
      ],
      alternatives: [[{ group: "executives", approvals: 3 }]],
    }),
  );
  it("is pending with every alternative's shortfall in words", () => {
    const r = run(policy, {
      votes: [vote("tom", ["treasury"]), vote("tim", ["treasury"]), vote("eve", ["executives"])],
    });
    expect(r.decision).toBe("pending");
    expect(r.reasons).toEqual([
      "needs 1 more approval from compliance",
      "or needs 2 more approvals from executives",
    ]);
    expect(r.alternatives).toHaveLength(2);
    expect(r.tally.map((t) => t.group)).toEqual(["treasury", "compliance"]);
  });
  it("approves by either alternative, and says which", () => {
    const execs = [vote("e1", ["executives"]), vote("e2", ["executives"]), vote("e3", ["executives"])];
    expect(run(policy, { votes: execs })).toMatchObject({
      decision: "approved",
      reasons: ["approved: 3 of 3 from executives"],
    });
    const first = [vote("t1", ["treasury"]), vote("t2", ["treasury"]), vote("c1", ["compliance"])];
    expect(run(policy, { votes: first }).reasons).toEqual([
      "approved: 2 of 2 from treasury and 1 of 1 from compliance",
    ]);
  });
  it("counts a rejection from any alternative's groups", () => {
    expect(run(policy, { votes: [vote("e1", ["executives"], "reject")] }).decision).toBe("rejected");
  });
});

describe("allow-listed destination", () => {
  const policy = doc(rule({ allowList: "payees" }));
  it("denies a destination not on the list, whatever the votes", () => {
    expect(
      run(policy, { allowLists: { payees: [{ chain: "bitcoin", address: "bc1qelse" }] } }),
    ).toMatchObject({
      decision: "denied",
      reasons: ["denied: the destination bc1qdest is not on the allow-list payees"],
    });
  });
  it("compares exactly per chain: the same string on another chain is not on the list", () => {
    const lists = { payees: [{ chain: "bitcoin-testnet", address: "bc1qdest" }] };
    expect(run(policy, { allowLists: lists }).decision).toBe("denied");
    expect(
      run(policy, { allowLists: { payees: [{ chain: "bitcoin", address: "bc1qdest" }] } }).decision,
    ).toBe("approved");
  });
  it("denies an operation without a destination", () => {
    const operation = { kind: "withdrawal", keyTags: [], initiatorId: "olga" };
    expect(run(policy, { operation }).reasons).toEqual([
      "denied: no destination to check against the allow-list payees",
    ]);
  });
  it("an unknown list name is an empty list (never Object.prototype)", () => {
    expect(run(doc(rule({ allowList: "constructor" }))).decision).toBe("denied");
  });
});

describe("time windows: no withdrawals on weekends (Europe/Zurich)", () => {
  const window = (outside: "defer" | "deny") => ({
    zone: "Europe/Zurich",
    open: [
      {
        days: ["mon", "tue", "wed", "thu", "fri"] as ("mon" | "tue" | "wed" | "thu" | "fri")[],
        from: "00:00",
        to: "24:00",
      },
    ],
    outside,
    reason: "no withdrawals on weekends",
  });
  it("approves on Friday", () => {
    expect(run(doc(rule({ window: window("defer") }))).decision).toBe("approved");
  });
  it("defers an approved operation on Saturday to Monday 00:00 in Zurich", () => {
    const r = run(doc(rule({ window: window("defer") })), { now: saturday });
    expect(r).toMatchObject({
      decision: "deferred",
      until: new Date("2026-12-06T23:00:00Z"),
      hold: "window",
    });
    expect(r.reasons).toEqual([
      "approved: 1 of 1 from treasury",
      "deferred: no withdrawals on weekends (Europe/Zurich), runs Monday 7 December 00:00",
    ]);
  });
  it("keeps a pending operation pending (it needs its votes first)", () => {
    expect(run(doc(rule({ window: window("defer") })), { now: saturday, votes: [] }).decision).toBe(
      "pending",
    );
  });
  it("denies on Saturday when the rule says so, whatever the votes", () => {
    expect(run(doc(rule({ window: window("deny") })), { now: saturday, votes: [] })).toMatchObject({
      decision: "denied",
      reasons: ["denied: no withdrawals on weekends (Europe/Zurich)"],
    });
  });
});

describe("delay and veto", () => {
  const policy = doc(rule({ delay: { hours: 24, vetoGroup: "security" } }));
  const quorumAt = new Date("2026-12-04T10:00:00Z");
  it("waits from quorum until the delay ends, naming who can veto", () => {
    const r = run(policy, { operation: withdrawal(BTC, { quorumAt }) });
    expect(r).toMatchObject({
      decision: "waiting",
      until: new Date("2026-12-05T10:00:00Z"),
      vetoGroup: "security",
    });
    expect(r.reasons).toEqual([
      "approved: 1 of 1 from treasury",
      "waiting: 24 h delay until Saturday 5 December 10:00 UTC; security can veto until then",
    ]);
  });
  it("counts the delay from now when the votes meet the rule now and no quorum time is given", () => {
    expect(run(policy)).toMatchObject({ decision: "waiting", until: new Date("2026-12-05T12:00:00Z") });
  });
  it("approves after the delay", () => {
    const r = run(policy, {
      operation: withdrawal(BTC, { quorumAt }),
      now: new Date("2026-12-05T10:00:00Z"),
    });
    expect(r.decision).toBe("approved");
    expect(r.reasons[1]).toBe("the 24 h delay ended Saturday 5 December 10:00 UTC without a veto");
  });
  it("a veto from the veto group stops it during the delay", () => {
    const votes = [vote("tom", ["treasury"]), { ...vote("sam", ["security"], "veto"), name: "Sam" }];
    expect(run(policy, { operation: withdrawal(BTC, { quorumAt }), votes })).toMatchObject({
      decision: "rejected",
      reasons: ["vetoed by Sam (security)"],
      vetoes: { group: "security", count: 1, voterIds: ["sam"] },
    });
  });
  it("a reject from the veto group is a veto; the initiator's and an outsider's are not", () => {
    const q = { operation: withdrawal(BTC, { quorumAt }) };
    expect(
      run(policy, { ...q, votes: [vote("tom", ["treasury"]), vote("sam", ["security"], "reject")] }).decision,
    ).toBe("rejected");
    expect(
      run(policy, { ...q, votes: [vote("tom", ["treasury"]), vote("olga", ["security"], "veto")] }).decision,
    ).toBe("waiting");
    expect(
      run(policy, { ...q, votes: [vote("tom", ["treasury"]), vote("ann", ["ops"], "veto")] }).decision,
    ).toBe("waiting");
  });
  it("a veto cast after the delay ended does not count", () => {
    const late = vote("sam", ["security"], "veto", new Date("2026-12-05T10:00:00Z"));
    const inTime = vote("sam", ["security"], "veto", new Date("2026-12-05T09:59:59Z"));
    const later = { operation: withdrawal(BTC, { quorumAt }), now: new Date("2026-12-05T11:00:00Z") };
    expect(run(policy, { ...later, votes: [vote("tom", ["treasury"]), late] }).decision).toBe("approved");
    expect(run(policy, { ...later, votes: [vote("tom", ["treasury"]), inTime] }).decision).toBe("rejected");
  });
  it("refuses a veto group that also approves under the rule", () => {
    expect(() => run(doc(rule({ delay: { hours: 1, vetoGroup: "treasury" } })))).toThrow(/separate/);
  });
});

describe("velocity caps", () => {
  const cap = (over: "deny" | "defer") =>
    rule({
      velocity: [
        {
          per: "chain",
          asset: { chain: "bitcoin", symbol: "BTC" },
          limit: String(10n * BTC),
          windowHours: 24,
          over,
        },
      ],
    });
  const history: HistoryEntry[] = [
    {
      operationId: "a",
      keyId: "k1",
      chain: "bitcoin",
      asset: "BTC",
      amount: 7n * BTC,
      executedAt: new Date("2026-12-04T02:00:00Z"),
    },
    { operationId: "b", keyId: "k2", chain: "bitcoin", asset: "BTC", amount: 2n * BTC, executedAt: null },
  ];
  it("denies over the 24 h limit, saying by how much in BTC, whatever the votes", () => {
    expect(
      run(doc(cap("deny")), { operation: withdrawal(13n * 10n ** 7n), history, votes: [] }),
    ).toMatchObject({
      decision: "denied",
      reasons: ["denied: over the 24 h limit of 10 BTC by 0.3 BTC"],
    });
  });
  it("defers until the executed amount leaves the window", () => {
    const r = run(doc(cap("defer")), { operation: withdrawal(13n * 10n ** 7n), history });
    expect(r).toMatchObject({
      decision: "deferred",
      until: new Date("2026-12-05T02:00:00Z"),
      hold: "velocity",
    });
    expect(r.reasons[1]).toBe(
      "deferred: over the 24 h limit of 10 BTC by 0.3 BTC, fits again Saturday 5 December 02:00 UTC",
    );
  });
  it("denies an operation over the cap on its own even when the rule defers", () => {
    expect(run(doc(cap("defer")), { operation: withdrawal(11n * BTC) }).reasons).toEqual([
      "denied: 11 BTC is over the 24 h limit of 10 BTC on its own, by 1 BTC",
    ]);
  });
  it("approves within the cap", () => {
    expect(run(doc(cap("deny")), { operation: withdrawal(BTC), history }).decision).toBe("approved");
  });
  it("defers past both the cap and the window: to the window's opening after the cap fits", () => {
    const withWindow = rule({
      ...cap("defer"),
      window: {
        zone: "Europe/Zurich",
        open: [{ days: ["mon"], from: "09:00", to: "17:00" }],
        outside: "defer",
      },
    });
    const r = run(doc(withWindow), { operation: withdrawal(13n * 10n ** 7n), history });
    expect(r).toMatchObject({
      decision: "deferred",
      until: new Date("2026-12-07T08:00:00Z"),
      hold: "velocity",
    });
    expect(r.reasons.at(-1)).toBe(
      "deferred: outside its opening hours (Europe/Zurich), runs Monday 7 December 09:00",
    );
  });
});

describe("evaluate, the earlier signature server/operations calls", () => {
  const votes = [vote("tom", ["treasury"])];
  const operation = { kind: "withdrawal", keyTags: [], initiatorId: "olga" };
  it("reads waiting as pending, keeping the reasons (nothing acts before the delay ends)", () => {
    const policy = doc(rule({ delay: { hours: 24, vetoGroup: "security" } }));
    expect(evaluate({ operation, votes, policy, now: friday })).toEqual({
      decision: "pending",
      ruleId: "r",
      reasons: [
        "approved: 1 of 1 from treasury",
        "waiting: 24 h delay until Saturday 5 December 12:00 UTC; security can veto until then",
      ],
      tally: [{ group: "treasury", needed: 1, approvals: 1, voterIds: ["tom"] }],
      rejections: { count: 0, needed: 1, voterIds: [] },
    });
  });
  it("reads deferred as pending, and denies a rule requiring an allow-list it cannot check", () => {
    const window = {
      zone: "UTC",
      open: [{ days: ["mon" as const], from: "00:00", to: "24:00" }],
      outside: "defer" as const,
    };
    expect(evaluate({ operation, votes, policy: doc(rule({ window })), now: friday }).decision).toBe(
      "pending",
    );
    expect(
      evaluate({ operation, votes, policy: doc(rule({ allowList: "payees" })), now: friday }).decision,
    ).toBe("denied");
  });
});
