// Automatic rules (approved with no vote, only under velocity caps) and the `initiators` match, case by case:
// what the schema refuses and why, the judgement and its reasons, words, diffs and reachability.
import { describe, expect, it } from "vitest";
import { describeRule } from "./describe";
import { diffPolicies } from "./diff";
import { type PolicyDocument, parsePolicyDocument, type Rule } from "./document";
import { evaluatePolicy, matchRule, type PolicyInput, type VoteInput } from "./evaluate";
import { covers } from "./match";
import { unreachableRules } from "./reachability";
import { policyDocumentSchema } from "./schema";

const ETH = 10n ** 18n;
const assets = [
  { chain: "ethereum", symbol: "ETH", decimals: 18 },
  { chain: "bitcoin", symbol: "BTC", decimals: 8 },
];
const friday = new Date("2026-12-04T12:00:00Z");
const saturday = new Date("2026-12-05T12:00:00Z");
const ethCap = (limit: bigint, over: "deny" | "defer" = "deny") => ({
  per: "chain" as const,
  asset: { chain: "ethereum", symbol: "ETH" },
  limit: String(limit),
  windowHours: 24,
  over,
});
const automatic = (extra: object = {}): Rule =>
  ({
    id: "api-eth",
    description: "Small ether withdrawals from the backend",
    match: {
      kinds: ["withdrawal"],
      initiators: ["service"],
      assets: [{ chain: "ethereum", symbol: "ETH" }],
      amount: { below: String(2n * ETH) },
    },
    automatic: true,
    velocity: [ethCap(10n * ETH)],
    ...extra,
  }) as Rule;
const doc = (...rules: Rule[]): PolicyDocument => ({
  version: 1,
  rules,
  default: { require: [{ group: "approvers", approvals: 2 }] },
});
const withdrawal = (amount: bigint, extra: object = {}) => ({
  kind: "withdrawal",
  keyTags: [],
  initiatorId: null,
  initiator: "service" as const,
  id: "op1",
  keyId: "k1",
  chain: "ethereum",
  asset: "ETH",
  amount,
  destination: "0xdest",
  ...extra,
});
const spent = (amount: bigint, id = "h1", executedAt: Date | null = null) => ({
  operationId: id,
  keyId: "k2",
  chain: "ethereum",
  asset: "ETH",
  amount,
  executedAt,
});
const run = (policy: PolicyDocument, extra: Partial<PolicyInput> = {}) =>
  evaluatePolicy({
    operation: withdrawal(ETH),
    votes: [],
    policy,
    now: friday,
    history: [],
    assets,
    ...extra,
  });
const issues = (value: unknown) => {
  const r = policyDocumentSchema.safeParse(value);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
};

describe("the schema of automatic rules", () => {
  it("accepts an automatic rule whose caps count every asset it moves", () => {
    expect(issues(doc(automatic()))).toEqual([]);
  });

  it("refuses one without velocity caps, saying why", () => {
    const { velocity: _, ...noCaps } = automatic() as Rule & { velocity: unknown };
    expect(issues(doc(noCaps as Rule))).toEqual([
      "rules.0.velocity: An automatic rule approves with no vote, so it needs velocity caps: add velocity (e.g. at most 10 ETH per chain in 24 h)",
    ]);
    expect(issues(doc(automatic({ velocity: [] })))).toEqual([
      "rules.0.velocity: An automatic rule approves with no vote, so it needs at least one velocity cap",
      "rules.0.velocity: An automatic rule caps every asset it moves: no velocity cap counts ETH on ethereum",
    ]);
  });

  it("refuses approvals, rejections and an expiry on an automatic rule, each by name", () => {
    expect(issues(doc(automatic({ require: [{ group: "treasury", approvals: 1 }] })))).toEqual([
      "rules.0.require: An automatic rule asks for no approvals: remove require (or automatic)",
    ]);
    expect(issues(doc(automatic({ rejections: 2 })))).toEqual([
      "rules.0.rejections: An automatic rule takes no votes, so no rejections: remove rejections (or automatic)",
    ]);
    expect(issues(doc(automatic({ expiresInHours: 4 })))).toEqual([
      "rules.0.expiresInHours: An automatic rule never waits for votes, so it never expires: remove expiresInHours (or automatic)",
    ]);
  });

  it("refuses one that does not name its assets, or moves an asset no cap counts", () => {
    const { assets: _, amount: __, ...match } = automatic().match;
    expect(issues(doc(automatic({ match })))).toEqual([
      "rules.0.match.assets: An automatic rule approves with no vote, so it must say which assets it moves: list them in match.assets, each under a velocity cap",
    ]);
    const both = {
      kinds: ["withdrawal"],
      assets: [
        { chain: "ethereum", symbol: "ETH" },
        { chain: "bitcoin", symbol: "BTC" },
      ],
    };
    expect(issues(doc(automatic({ match: both })))).toEqual([
      "rules.0.velocity: An automatic rule caps every asset it moves: no velocity cap counts BTC on bitcoin",
    ]);
    // A cap per asset counts the symbol on every chain; per chain or key, only on its own chain.
    const usdc = [
      { chain: "ethereum", symbol: "USDC" },
      { chain: "solana", symbol: "USDC" },
    ];
    const perAsset = { ...ethCap(5n), per: "asset", asset: { chain: "ethereum", symbol: "USDC" } };
    expect(issues(doc(automatic({ match: { assets: usdc }, velocity: [perAsset] })))).toEqual([]);
    expect(
      issues(doc(automatic({ match: { assets: usdc }, velocity: [{ ...perAsset, per: "chain" }] }))),
    ).toEqual([
      "rules.0.velocity: An automatic rule caps every asset it moves: no velocity cap counts USDC on solana",
    ]);
  });

  it("refuses an automatic default rule: it would approve every operation no rule matches", () => {
    expect(issues({ version: 1, rules: [], default: { automatic: true, velocity: [ethCap(10n)] } })).toEqual([
      "default.automatic: The default rule judges every operation no rule matches, so it cannot approve automatically: give it require, and write the automatic rule with a match",
    ]);
  });

  it("refuses an unknown initiator and a repeated one", () => {
    expect(issues(doc(automatic({ match: { ...automatic().match, initiators: ["robot"] } })))).toHaveLength(
      1,
    );
    expect(
      issues(doc(automatic({ match: { ...automatic().match, initiators: ["service", "service"] } }))),
    ).toEqual(["rules.0.match.initiators: Each initiator once"]);
  });
});

describe("initiators in a rule's match", () => {
  const human = (id: string, initiators: ("member" | "service" | "system")[]) =>
    ({
      id,
      description: "",
      match: { kinds: ["withdrawal"], initiators },
      require: [{ group: "treasury", approvals: 1 }],
    }) as Rule;

  it("holds only for an operation proposed by one of them; an operation that does not say never matches", () => {
    const policy = doc(human("from-api", ["service"]), human("from-people", ["member", "system"]));
    const facts = { kind: "withdrawal", keyTags: [] };
    expect(matchRule(policy, { ...facts, initiator: "service" }).ruleId).toBe("from-api");
    expect(matchRule(policy, { ...facts, initiator: "member" }).ruleId).toBe("from-people");
    expect(matchRule(policy, { ...facts, initiator: "system" }).ruleId).toBe("from-people");
    expect(matchRule(policy, facts).ruleId).toBe("default");
  });

  it("shadows a later rule only when the earlier one names every initiator the later one does", () => {
    expect(covers({ initiators: ["service", "member"] }, { initiators: ["service"] })).toBe(true);
    expect(covers({ initiators: ["service"] }, { initiators: ["service", "member"] })).toBe(false);
    expect(covers({ initiators: ["service"] }, {})).toBe(false);
    expect(covers({}, { initiators: ["service"] })).toBe(true);
    expect(issues(doc(human("a", ["service", "member"]), human("b", ["service"])))).toEqual([
      'rules.1.match: Rule "b" can never apply: rule "a" before it matches everything it matches',
    ]);
  });
});

describe("judging under an automatic rule", () => {
  it("approves within its caps with no vote, saying how much the window holds with it", () => {
    const e = run(doc(automatic()), { history: [spent(3n * ETH)] });
    expect(e).toMatchObject({
      decision: "approved",
      ruleId: "api-eth",
      tally: [],
      alternatives: [],
      rejections: { count: 0, needed: 0, voterIds: [] },
      vetoes: null,
      reasons: [
        "approved automatically, with no vote",
        "within the 24 h limit of 10 ETH: 4 ETH with this one",
      ],
    });
  });

  it("applies only to the initiators it names: a member's withdrawal goes to the default and its votes", () => {
    const e = run(doc(automatic()), {
      operation: withdrawal(ETH, { initiator: "member", initiatorId: "olga" }),
    });
    expect(e).toMatchObject({ decision: "pending", ruleId: "default" });
  });

  it("denies past a cap that denies, by how much, and defers past a cap that defers", () => {
    const history = [spent((19n * ETH) / 2n, "h1", new Date(friday.getTime() - 3_600_000))];
    expect(run(doc(automatic()), { history })).toMatchObject({
      decision: "denied",
      reasons: ["denied: over the 24 h limit of 10 ETH by 0.5 ETH"],
    });
    const deferred = run(doc(automatic({ velocity: [ethCap(10n * ETH, "defer")] })), {
      history,
      operation: withdrawal((3n * ETH) / 2n),
    });
    expect(deferred).toMatchObject({
      decision: "deferred",
      hold: "velocity",
      until: new Date(friday.getTime() + 23 * 3_600_000),
    });
    expect(deferred.reasons[0]).toBe("approved automatically, with no vote");
  });

  it("never approves, whatever the votes: approvals and rejections from anyone change nothing", () => {
    const v = (voterId: string, decision: VoteInput["decision"]): VoteInput => ({
      voterId,
      decision,
      groups: ["treasury"],
      roles: ["approver", "admin"],
      eligible: true,
    });
    const within = run(doc(automatic()));
    expect(run(doc(automatic()), { votes: [v("a", "reject"), v("b", "reject")] })).toEqual(within);
    const over = run(doc(automatic()), { history: [spent(10n * ETH)] });
    expect(over.decision).toBe("denied");
    expect(run(doc(automatic()), { history: [spent(10n * ETH)], votes: [v("a", "approve")] })).toEqual(over);
  });

  it("waits out its delay, during which one veto stops it", () => {
    const delayed = doc(automatic({ delay: { hours: 2, vetoGroup: "security" } }));
    const e = run(delayed);
    expect(e).toMatchObject({
      decision: "waiting",
      vetoGroup: "security",
      until: new Date(friday.getTime() + 2 * 3_600_000),
    });
    expect(e.reasons[2]).toBe(
      "waiting: 2 h delay until Friday 4 December 14:00 UTC; security can veto until then",
    );
    const veto: VoteInput = {
      voterId: "sam",
      decision: "veto",
      groups: ["security"],
      roles: [],
      eligible: true,
      at: friday,
    };
    expect(run(delayed, { votes: [veto] })).toMatchObject({
      decision: "rejected",
      reasons: ["vetoed by sam (security)"],
    });
    // Judged again at the end of its delay (quorumAt: when it was proposed), it runs.
    expect(
      run(delayed, {
        now: new Date(friday.getTime() + 2 * 3_600_000),
        operation: withdrawal(ETH, { quorumAt: friday }),
      }).decision,
    ).toBe("approved");
  });

  it("is deferred while its window is closed, and denied when its window denies", () => {
    const weekdays = { days: ["mon", "tue", "wed", "thu", "fri"], from: "00:00", to: "24:00" };
    const defer = { zone: "UTC", outside: "defer", reason: "weekdays only", open: [weekdays] };
    expect(run(doc(automatic({ window: defer })), { now: saturday })).toMatchObject({
      decision: "deferred",
      hold: "window",
      until: new Date("2026-12-07T00:00:00Z"),
    });
    expect(run(doc(automatic({ window: { ...defer, outside: "deny" } })), { now: saturday })).toMatchObject({
      decision: "denied",
      reasons: ["denied: weekdays only (UTC)"],
    });
  });

  it("a deny still wins: an earlier deny rule, the allow-list, a cap it exceeds on its own", () => {
    const deny = {
      id: "frozen",
      description: "",
      match: { keyTags: ["frozen"] },
      deny: true,
      reason: "this key is frozen",
    } as Rule;
    expect(
      run(doc(deny, automatic()), { operation: withdrawal(ETH, { keyTags: ["frozen"] }) }),
    ).toMatchObject({
      decision: "denied",
      ruleId: "frozen",
      reasons: ["denied: this key is frozen"],
    });
    expect(run(doc(automatic({ allowList: "payees" })), { allowLists: { payees: [] } })).toMatchObject({
      decision: "denied",
      reasons: ["denied: the destination 0xdest is not on the allow-list payees"],
    });
    const small = doc(
      automatic({ match: { assets: [{ chain: "ethereum", symbol: "ETH" }] }, velocity: [ethCap(ETH)] }),
    );
    expect(run(small, { operation: withdrawal(2n * ETH) })).toMatchObject({
      decision: "denied",
      reasons: ["denied: 2 ETH is over the 24 h limit of 1 ETH on its own, by 1 ETH"],
    });
  });

  it("denies an operation that no cap counts (one with no amount), rather than approving it unbounded", () => {
    const policy = doc(automatic({ match: { assets: [{ chain: "ethereum", symbol: "ETH" }] } }));
    const { amount: _, ...noAmount } = withdrawal(ETH);
    expect(run(policy, { operation: noAmount })).toMatchObject({
      decision: "denied",
      reasons: [
        "denied: an automatic rule approves only amounts its velocity caps count, and none counts this operation",
      ],
    });
  });
});

describe("automatic rules in words, diffs and reachability", () => {
  it("says it needs no vote, whom it applies to, and its caps; no expiry", () => {
    expect(describeRule(automatic(), 1, assets)).toBe(
      "Withdrawals in ETH on ethereum of less than 2 ETH proposed by a service account (the HTTP API): approved automatically, with no vote, while within its velocity caps; at most 10 ETH on ethereum in any 24 h, approved amounts not yet executed included; over it, denied",
    );
    expect(describeRule(automatic({ delay: { hours: 1, vetoGroup: "security" } }), 1, assets)).toContain(
      "runs 1 h after it is proposed, and security can veto it until then",
    );
  });

  it("shows a rule turned automatic as changed, before and after in words", () => {
    const voted = { ...automatic(), automatic: undefined, require: [{ group: "treasury", approvals: 2 }] };
    delete voted.automatic;
    const before = parsePolicyDocument(doc(voted as Rule));
    const after = parsePolicyDocument({ ...doc(automatic()), version: 2 });
    const [change] = diffPolicies(before, after, assets).rules;
    expect(change?.change).toBe("changed");
    expect(change?.before).toContain("2 approvals from treasury");
    expect(change?.after).toContain("approved automatically, with no vote, while within its velocity caps");
    expect(change?.after).not.toContain("expires after 48 h");
  });

  it("is reachable with nobody at all, but its delay's veto group must have someone", () => {
    const policy = doc(automatic());
    const admins = [1, 2].map((i) => ({
      id: `a${i}`,
      name: `A${i}`,
      roles: ["approver"],
      groups: [],
      active: true,
      liveTokens: 1,
    }));
    expect(unreachableRules(policy, admins)).toEqual([]);
    expect(unreachableRules(doc(automatic({ delay: { hours: 1, vetoGroup: "security" } })), admins)).toEqual([
      {
        ruleId: "api-eth",
        reason:
          "the veto group security of rule api-eth has nobody eligible (no active member holding a live token), so nobody could stop it during its delay",
      },
    ]);
  });
});
