// fast-check arbitraries for the policy language: valid documents using every clause (shadowed rules dropped
// as the schema would refuse them; automatic rules with the caps the schema asks for), operations that move funds
// or not, from members, service accounts or the system, votes (approve, reject, veto, with and without times),
// histories and allow-lists. Small domains on purpose, so rules, votes and caps collide.
import { fc } from "@fast-check/vitest";
import type { PolicyDocument, Rule, RuleBody } from "../document";
import type { PolicyInput, PolicyOperation, VoteInput } from "../evaluate";
import { shadowedRules } from "../match";
import type { HistoryEntry } from "../velocity";
import { WEEKDAYS } from "../windows";

export const KINDS = ["key.create", "withdrawal"] as const;
export const TAGS = ["hot", "cold"] as const;
export const APPROVING = ["treasury", "compliance", "executives", "approvers", "admins"] as const;
export const INITIATORS = ["member", "service", "system"] as const;
export const VETO_GROUP = "security";
export const ZONES = [
  "Europe/Zurich",
  "America/New_York",
  "Australia/Sydney",
  "Asia/Kathmandu",
  "UTC",
] as const;
export const ASSETS = [
  { chain: "bitcoin", symbol: "BTC", decimals: 8 },
  { chain: "ethereum", symbol: "ETH", decimals: 18 },
] as const;
export const VOTERS = ["v0", "v1", "v2", "v3", "v4", "v5"] as const;
export const INITIATOR = "initiator";
const HOUR = 3_600_000;
/** 2026, the instants most often around Europe's, America's and Australia's DST changes. */
const Y2026 = Date.UTC(2026, 0, 1);
const DST_EDGES = [
  "2026-03-08T07:00Z",
  "2026-03-29T01:00Z",
  "2026-04-05T16:00Z",
  "2026-10-04T16:00Z",
  "2026-10-25T01:00Z",
  "2026-11-01T06:00Z",
].map(Date.parse);

export const instant = fc.oneof(
  fc.integer({ min: 0, max: 365 * 24 * HOUR - 1 }).map((ms) => Y2026 + ms),
  fc
    .tuple(fc.constantFrom(...DST_EDGES), fc.integer({ min: -72 * HOUR, max: 72 * HOUR }))
    .map(([e, d]) => e + d),
);

/** A zone and an instant up to two days before one of its 2026 DST changes, with openings in that zone. */
const ZONE_EDGES: [string, string][] = [
  ["Europe/Zurich", "2026-03-29T01:00Z"],
  ["Europe/Zurich", "2026-10-25T01:00Z"],
  ["America/New_York", "2026-03-08T07:00Z"],
  ["America/New_York", "2026-11-01T06:00Z"],
  ["Australia/Sydney", "2026-04-05T16:00Z"],
  ["Australia/Sydney", "2026-10-04T16:00Z"],
];
export const beforeDstChange = (
  open: fc.Arbitrary<{ days: (typeof WEEKDAYS)[number][]; from: string; to: string }[]>,
) =>
  fc
    .tuple(fc.constantFrom(...ZONE_EDGES), fc.integer({ min: 0, max: 48 * HOUR }), open)
    .map(([[zone, edge], before, openings]) => ({
      w: { zone, open: openings },
      t: Date.parse(edge) - before,
    }));

const hhmm = fc
  .integer({ min: 0, max: 47 })
  .map((h) => `${String(Math.floor(h / 2)).padStart(2, "0")}:${h % 2 ? "30" : "00"}`);
export const opening = fc
  .record({
    days: fc.subarray([...WEEKDAYS], { minLength: 1 }),
    a: hhmm,
    b: fc.oneof(hhmm, fc.constant("24:00")),
  })
  .filter(({ a, b }) => a !== b && !(a === "24:00"))
  .map(({ days, a, b }) => (a < b ? { days, from: a, to: b } : { days, from: b, to: a }));
export const timeWindow = fc.record(
  {
    zone: fc.constantFrom(...ZONES),
    open: fc.array(opening, { minLength: 1, maxLength: 3 }),
    outside: fc.constantFrom("defer" as const, "deny" as const),
    reason: fc.constant("closed"),
  },
  { requiredKeys: ["zone", "open", "outside"] },
);

const asset = fc.constantFrom(...ASSETS.map(({ chain, symbol }) => ({ chain, symbol })));
const require = fc.uniqueArray(
  fc.record({ group: fc.constantFrom(...APPROVING), approvals: fc.integer({ min: 1, max: 2 }) }),
  {
    minLength: 1,
    maxLength: 3,
    selector: (r) => r.group,
  },
);
export const velocityCap = fc.record({
  per: fc.constantFrom("key" as const, "chain" as const, "asset" as const),
  asset,
  limit: fc.integer({ min: 1, max: 100 }).map(String),
  windowHours: fc.integer({ min: 1, max: 48 }),
  over: fc.constantFrom("deny" as const, "defer" as const),
});

/** Each clause on about one rule in four, so rules combine a few and most operations can still pass. */
const sometimes = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> =>
  fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });
const approveBody: fc.Arbitrary<RuleBody> = fc
  .record({
    require,
    alternatives: sometimes(fc.array(require, { minLength: 1, maxLength: 2 })),
    rejections: sometimes(fc.integer({ min: 1, max: 3 })),
    window: sometimes(timeWindow),
    delay: sometimes(
      fc.record({ hours: fc.integer({ min: 1, max: 48 }), vetoGroup: fc.constant(VETO_GROUP) }),
    ),
    velocity: sometimes(fc.array(velocityCap, { minLength: 1, maxLength: 2 })),
    allowList: sometimes(fc.constant("payees")),
  })
  .map(
    (b) => Object.fromEntries(Object.entries(b).filter(([, v]) => v !== undefined)) as unknown as RuleBody,
  );
const denyBody: fc.Arbitrary<RuleBody> = fc.record({
  deny: fc.constant(true as const),
  reason: fc.constant("no"),
});
export const ruleBody = fc.oneof({ weight: 9, arbitrary: approveBody }, { weight: 1, arbitrary: denyBody });

/** An automatic rule's body for `moved` (its one asset): 1 or 2 caps, the first counting the asset. */
const automaticBody = (moved: { chain: string; symbol: string }): fc.Arbitrary<RuleBody> =>
  fc
    .record({
      first: velocityCap.map((c) => ({ ...c, asset: moved })),
      more: fc.array(velocityCap, { maxLength: 1 }),
      window: sometimes(timeWindow),
      delay: sometimes(
        fc.record({ hours: fc.integer({ min: 1, max: 48 }), vetoGroup: fc.constant(VETO_GROUP) }),
      ),
      allowList: sometimes(fc.constant("payees")),
    })
    .map(({ first, more, ...b }) => {
      const rest = Object.fromEntries(Object.entries(b).filter(([, v]) => v !== undefined));
      return { automatic: true, velocity: [first, ...more], ...rest } as unknown as RuleBody;
    });

export const match = fc
  .record(
    {
      kinds: fc.subarray([...KINDS], { minLength: 1 }),
      keyTags: fc.subarray([...TAGS], { minLength: 1 }),
      chains: fc.subarray(["bitcoin", "ethereum"], { minLength: 1 }),
      assets: fc.subarray(
        ASSETS.map(({ chain, symbol }) => ({ chain, symbol })),
        { minLength: 1, maxLength: 1 },
      ),
      amount: fc.oneof(
        fc.record({ atLeast: fc.integer({ min: 0, max: 20 }).map(String) }),
        fc.record({ below: fc.integer({ min: 1, max: 20 }).map(String) }),
      ),
      destination: fc.oneof(
        fc.constant({ onAllowList: "payees" }),
        fc.constant({ notOnAllowList: "payees" }),
      ),
      initiators: fc.subarray([...INITIATORS], { minLength: 1 }),
    },
    { requiredKeys: [] },
  )
  .map((m) => (m.amount && !m.assets ? { ...m, amount: undefined } : m))
  .map((m) => Object.fromEntries(Object.entries(m).filter(([, v]) => v !== undefined)) as Rule["match"]);

/** An automatic rule: a match naming one asset (as the schema asks) and caps counting it. */
const automaticRule: fc.Arbitrary<[Rule["match"], RuleBody]> = fc
  .tuple(match, asset)
  .chain(([m, moved]) => {
    const assets = m.assets ?? [moved];
    const one = assets[0] ?? moved;
    return fc.tuple(fc.constant({ ...m, assets }), automaticBody(one));
  });

/** A valid document: up to 5 rules (about one in five automatic), each kept only if no earlier rule shadows it, and a default. */
export const policy: fc.Arbitrary<PolicyDocument> = fc
  .record({
    version: fc.integer({ min: 1, max: 9 }),
    rules: fc.array(
      fc.oneof(
        { weight: 4, arbitrary: fc.tuple(match, ruleBody) },
        { weight: 1, arbitrary: automaticRule },
      ),
      { maxLength: 5 },
    ),
    default: ruleBody,
  })
  .map(({ version, rules: candidates, default: d }) => {
    const rules: Rule[] = [];
    candidates.forEach(([m, body], i) => {
      const rule = { id: `rule-${i}`, description: "", match: m, ...body } as Rule;
      if (shadowedRules({ rules: [...rules, rule] }).length === 0) rules.push(rule);
    });
    return { version, rules, default: d };
  });

export const operation = (now: number): fc.Arbitrary<PolicyOperation> =>
  fc
    .record(
      {
        kind: fc.constantFrom(...KINDS),
        keyTags: fc.subarray([...TAGS]),
        initiatorId: fc.constant(INITIATOR),
        id: fc.constant("me"),
        keyId: fc.constantFrom("k1", "k2"),
        chainAsset: fc.constantFrom(...ASSETS),
        amount: fc.bigInt({ min: 0n, max: 25n }),
        destination: fc.constantFrom("d1", "d2"),
        initiator: fc.constantFrom(...INITIATORS),
        quorumAt: fc.integer({ min: -72, max: 0 }).map((h) => new Date(now + h * HOUR)),
      },
      { requiredKeys: ["kind", "keyTags", "initiatorId"] },
    )
    .map(({ chainAsset, ...o }) =>
      chainAsset ? { ...o, chain: chainAsset.chain, asset: chainAsset.symbol } : o,
    );

export const vote = (now: number, voterId?: string): fc.Arbitrary<VoteInput> =>
  fc.record(
    {
      voterId: voterId ? fc.constant(voterId) : fc.constantFrom(...VOTERS),
      decision: fc.oneof(
        { weight: 8, arbitrary: fc.constant("approve" as const) },
        { weight: 1, arbitrary: fc.constant("reject" as const) },
        { weight: 1, arbitrary: fc.constant("veto" as const) },
      ),
      groups: fc.subarray(["treasury", "compliance", "executives", VETO_GROUP]),
      roles: fc.oneof(
        { weight: 4, arbitrary: fc.constant<string[]>(["approver"]) },
        { weight: 1, arbitrary: fc.subarray(["approver", "admin", "operator"]) },
      ),
      eligible: fc.oneof(
        { weight: 9, arbitrary: fc.constant(true) },
        { weight: 1, arbitrary: fc.constant(false) },
      ),
      at: fc.integer({ min: -72, max: 0 }).map((h) => new Date(now + h * HOUR)),
    },
    { requiredKeys: ["voterId", "decision", "groups", "roles", "eligible"] },
  );

export const historyEntry = (now: number): fc.Arbitrary<HistoryEntry> =>
  fc
    .record({
      operationId: fc.constantFrom("h1", "h2", "h3", "h4", "me"),
      keyId: fc.constantFrom("k1", "k2"),
      chainAsset: fc.constantFrom(...ASSETS),
      amount: fc.bigInt({ min: 1n, max: 10n }),
      executedAt: fc.option(
        fc.integer({ min: -60, max: 1 }).map((h) => new Date(now + h * HOUR)),
        { nil: null },
      ),
    })
    .map(({ chainAsset, ...h }) => ({ ...h, chain: chainAsset.chain, asset: chainAsset.symbol }));

export const allowLists = fc
  .subarray([
    { chain: "bitcoin", address: "d1" },
    { chain: "ethereum", address: "d1" },
    { chain: "bitcoin", address: "d2" },
  ])
  .map((payees) => ({ payees }));

/** A whole input to evaluatePolicy. */
export const policyInput: fc.Arbitrary<PolicyInput> = instant.chain((now) =>
  fc.record({
    operation: operation(now),
    votes: fc.uniqueArray(vote(now), { maxLength: 6, selector: (v) => v.voterId }),
    policy,
    now: fc.constant(new Date(now)),
    history: fc.array(historyEntry(now), { maxLength: 5 }),
    assets: fc.constant(ASSETS.map((a) => ({ ...a }))),
    allowLists,
  }),
);

const treasurer: VoteInput = {
  voterId: "t-0",
  decision: "approve",
  groups: ["treasury"],
  roles: ["approver"],
  eligible: true,
};

/** Inputs under one rule with a delay whose votes meet it: mostly waiting, so the veto property has cases. */
export const delayedInput: fc.Arbitrary<PolicyInput> = fc
  .tuple(policyInput, fc.integer({ min: 1, max: 48 }), fc.option(timeWindow, { nil: undefined }))
  .map(([input, hours, window]) => ({
    ...input,
    votes: [...input.votes, treasurer],
    policy: {
      version: 1,
      rules: [],
      default: {
        require: [{ group: "treasury", approvals: 1 }],
        delay: { hours, vetoGroup: VETO_GROUP },
        ...(window ? { window } : {}),
      },
    },
  }));

/** Inputs under one rule that defers (window, velocity cap or both) whose votes meet it: often deferred. */
export const deferringInput: fc.Arbitrary<PolicyInput> = fc
  .tuple(
    policyInput,
    fc.option(
      timeWindow.map((w) => ({ ...w, outside: "defer" as const })),
      { nil: undefined },
    ),
    fc.option(
      velocityCap.map((c) => ({ ...c, over: "defer" as const, limit: String((Number(c.limit) % 30) + 1) })),
      { nil: undefined },
    ),
  )
  .map(([input, window, cap]) => ({
    ...input,
    votes: [...input.votes, treasurer],
    policy: {
      version: 1,
      rules: [],
      default: {
        require: [{ group: "treasury", approvals: 1 }],
        ...(window ? { window } : {}),
        ...(cap ? { velocity: [cap] } : {}),
      },
    },
  }));
