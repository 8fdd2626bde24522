// Properties of automatic rules with fast-check: whatever the order in which operations arrive, the amounts an
// automatic rule approves never pass any of its caps; the judgement is deterministic; votes change nothing but
// a veto in the delay; a deny (an earlier deny rule, the allow-list, a closed window that denies, a cap that
// denies) still wins; it is never pending. A failure prints its seed and the shrunk counterexample.
import { fc, test } from "@fast-check/vitest";
import { describe, expect } from "vitest";
import type { PolicyDocument, Rule } from "./document";
import { evaluatePolicy, type PolicyDecision, type PolicyInput, type VoteInput } from "./evaluate";
import { onAllowList } from "./match";
import {
  ASSETS,
  allowLists,
  historyEntry,
  instant,
  timeWindow,
  VETO_GROUP,
  velocityCap,
  vote,
} from "./testing/arbitraries";
import type { HistoryEntry } from "./velocity";
import { isOpen } from "./windows";

const HOUR = 3_600_000;
const approvedLike: PolicyDecision[] = ["approved", "waiting", "deferred"];
const btc = { chain: "bitcoin", symbol: "BTC" };
const eth = { chain: "ethereum", symbol: "ETH" };

/** One automatic rule for service withdrawals of BTC and ETH, its caps, and the default asking two approvers. */
const automaticPolicy = (rule: Partial<Rule>): PolicyDocument => ({
  version: 1,
  rules: [
    {
      id: "auto",
      description: "",
      match: { kinds: ["withdrawal"], initiators: ["service"], assets: [btc, eth] },
      automatic: true,
      ...rule,
    } as Rule,
  ],
  default: { require: [{ group: "approvers", approvals: 2 }] },
});

/** Caps counting both assets (the schema's condition), each capping 1..40 base units. */
const caps = fc
  .tuple(
    velocityCap.map((c) => ({ ...c, asset: btc, limit: String((Number(c.limit) % 40) + 1) })),
    velocityCap.map((c) => ({ ...c, asset: eth, limit: String((Number(c.limit) % 40) + 1) })),
    fc.array(velocityCap, { maxLength: 1 }),
  )
  .map(([a, b, more]) => [a, b, ...more]);

const withdrawal = fc.record({
  keyId: fc.constantFrom("k1", "k2"),
  chainAsset: fc.constantFrom(btc, eth),
  amount: fc.bigInt({ min: 1n, max: 20n }),
});

describe("automatic rules, over random caps, orders, windows, delays and votes", () => {
  test.prop(
    [
      caps,
      fc.array(withdrawal, { minLength: 1, maxLength: 10 }),
      fc.array(fc.nat(), { minLength: 10, maxLength: 10 }),
      instant,
      fc.array(fc.nat({ max: 30 }), { maxLength: 4 }),
    ],
    { numRuns: 400 },
  )(
    "proposing one operation after another, in any order, never lets what it approves pass any cap",
    (velocity, ops, order, now, executedHoursAgo) => {
      const policy = automaticPolicy({ velocity });
      const assets = ASSETS.map((a) => ({ ...a }));
      const ordered = ops
        .map((o, i) => ({ o: { ...o, id: `op-${i}` }, k: order[i] ?? 0 }))
        .sort((a, b) => a.k - b.k)
        .map(({ o }) => o);
      // Some operations were executed before this run (hours ago); they count while in the window.
      const executed: HistoryEntry[] = executedHoursAgo.map((h, i) => ({
        operationId: `x-${i}`,
        keyId: i % 2 ? "k1" : "k2",
        chain: i % 2 ? btc.chain : eth.chain,
        asset: i % 2 ? btc.symbol : eth.symbol,
        amount: BigInt(i + 1),
        executedAt: new Date(now - h * HOUR),
      }));
      const counted: HistoryEntry[] = [...executed];
      const approved: HistoryEntry[] = [];
      for (const o of ordered) {
        const entry = {
          operationId: o.id,
          keyId: o.keyId,
          chain: o.chainAsset.chain,
          asset: o.chainAsset.symbol,
          amount: o.amount,
          executedAt: null,
        };
        const e = evaluatePolicy({
          operation: {
            kind: "withdrawal",
            keyTags: [],
            initiatorId: null,
            initiator: "service",
            id: o.id,
            keyId: o.keyId,
            chain: entry.chain,
            asset: entry.asset,
            amount: o.amount,
          },
          votes: [],
          policy,
          now: new Date(now),
          history: counted,
          assets,
        });
        expect(e.decision).not.toBe("pending");
        // Approved or deferred, it is stored waiting or approved and counts for the next (as operations/ does).
        if (approvedLike.includes(e.decision)) counted.push(entry);
        if (e.decision === "approved") approved.push(entry);
      }
      // Every cap, in its scope, holds over what was approved plus what was executed within its window.
      for (const cap of velocity) {
        const within = (h: HistoryEntry) =>
          h.asset === cap.asset.symbol &&
          (cap.per === "asset" || h.chain === cap.asset.chain) &&
          (h.executedAt === null || h.executedAt.getTime() > now - cap.windowHours * HOUR);
        const keys = cap.per === "key" ? ["k1", "k2"] : [null];
        for (const key of keys) {
          const total = [...executed, ...approved]
            .filter((h) => within(h) && (key === null || h.keyId === key))
            .reduce((s, h) => s + h.amount, 0n);
          const before = executed
            .filter((h) => within(h) && (key === null || h.keyId === key))
            .reduce((s, h) => s + h.amount, 0n);
          // What was executed before may already exceed a cap; what it approved never adds past it.
          if (before <= BigInt(cap.limit)) expect(total).toBeLessThanOrEqual(BigInt(cap.limit));
          else expect(total).toBe(before);
        }
      }
    },
  );

  const automaticInput: fc.Arbitrary<PolicyInput> = instant.chain((now) =>
    fc.record({
      operation: fc.record({
        kind: fc.constant("withdrawal"),
        keyTags: fc.subarray(["hot", "frozen"]),
        initiatorId: fc.constant(null),
        initiator: fc.constantFrom("service" as const, "member" as const),
        id: fc.constant("me"),
        keyId: fc.constantFrom("k1", "k2"),
        chain: fc.constant("bitcoin"),
        asset: fc.constant("BTC"),
        amount: fc.bigInt({ min: 1n, max: 25n }),
        destination: fc.constantFrom("d1", "d2"),
        quorumAt: fc.option(
          fc.integer({ min: -72, max: 0 }).map((h) => new Date(now + h * HOUR)),
          { nil: null },
        ),
      }),
      votes: fc.uniqueArray(vote(now), { maxLength: 4, selector: (v) => v.voterId }),
      policy: fc
        .record(
          {
            velocity: caps,
            window: timeWindow,
            delay: fc.record({ hours: fc.integer({ min: 1, max: 48 }), vetoGroup: fc.constant(VETO_GROUP) }),
            allowList: fc.constant("payees"),
            frozen: fc.boolean(),
          },
          { requiredKeys: ["velocity"] },
        )
        .map(({ frozen, ...rule }) => {
          const p = automaticPolicy(rule);
          const deny = {
            id: "frozen",
            description: "",
            match: { keyTags: ["frozen"] },
            deny: true,
            reason: "frozen",
          } as Rule;
          return frozen ? { ...p, rules: [deny, ...p.rules] } : p;
        }),
      now: fc.constant(new Date(now)),
      history: fc.array(historyEntry(now), { maxLength: 5 }),
      assets: fc.constant(ASSETS.map((a) => ({ ...a }))),
      allowLists,
    }),
  );
  const underAuto = (input: PolicyInput) => evaluatePolicy(input).ruleId === "auto";

  test.prop([automaticInput, fc.nat()], { numRuns: 300 })(
    "is deterministic: equal input, equal answer, whatever the order of votes and history",
    (input, seed) => {
      const a = evaluatePolicy(input);
      expect(evaluatePolicy(structuredClone(input))).toEqual(a);
      const n = input.history.length ? seed % input.history.length : 0;
      const history = [...input.history.slice(n), ...input.history.slice(0, n)];
      expect(evaluatePolicy({ ...input, votes: [...input.votes].reverse(), history })).toEqual(a);
    },
  );

  test.prop([automaticInput], { numRuns: 300 })(
    "a deny still wins: an earlier deny rule, the allow-list, a window that denies, a cap that denies",
    (input) => {
      const e = evaluatePolicy(input);
      if (input.operation.keyTags.includes("frozen") && input.policy.rules[0]?.id === "frozen")
        expect(e).toMatchObject({ decision: "denied", ruleId: "frozen" });
      if (e.ruleId !== "auto" || !approvedLike.includes(e.decision)) return;
      const rule = input.policy.rules.find((r) => r.id === "auto");
      if (!rule || rule.deny || !rule.automatic) throw new Error("the automatic rule");
      const { chain, destination } = input.operation;
      if (rule.allowList && chain !== undefined && destination !== undefined)
        expect(onAllowList(input.allowLists ?? {}, rule.allowList, chain, destination)).toBe(true);
      if (rule.window?.outside === "deny") expect(isOpen(rule.window, input.now.getTime())).toBe(true);
      // Every cap that denies holds with this operation, counted the plainest way (no shared code with velocity.ts).
      const op = input.operation;
      for (const cap of rule.velocity) {
        if (cap.over !== "deny" || op.asset !== cap.asset.symbol) continue;
        if (cap.per !== "asset" && op.chain !== cap.asset.chain) continue;
        const others = input.history.filter(
          (h) =>
            h.operationId !== op.id &&
            h.asset === cap.asset.symbol &&
            (cap.per === "asset" || h.chain === cap.asset.chain) &&
            (cap.per !== "key" || h.keyId === op.keyId) &&
            (h.executedAt === null || h.executedAt.getTime() > input.now.getTime() - cap.windowHours * HOUR),
        );
        const total = others.reduce((s, h) => s + h.amount, op.amount ?? 0n);
        expect(total).toBeLessThanOrEqual(BigInt(cap.limit));
      }
    },
  );

  test.prop([automaticInput, fc.array(vote(0), { maxLength: 4 })], { numRuns: 300 })(
    "votes change nothing but a veto from the veto group in the delay; it is never pending",
    (input, more) => {
      if (!underAuto(input)) return;
      const without = evaluatePolicy({ ...input, votes: [] });
      expect(without.decision).not.toBe("pending");
      const approvals: VoteInput[] = [...input.votes, ...more].map((v, i) => ({
        ...v,
        voterId: `p${i}`,
        decision: v.decision === "veto" ? "reject" : v.decision,
        groups: v.groups.filter((g) => g !== VETO_GROUP),
      }));
      expect(evaluatePolicy({ ...input, votes: approvals })).toEqual(without);
      if (without.decision === "waiting") {
        const veto: VoteInput = {
          voterId: "sam",
          decision: "veto",
          groups: [VETO_GROUP],
          roles: [],
          eligible: true,
          at: input.now,
        };
        expect(evaluatePolicy({ ...input, votes: [veto] }).decision).toBe("rejected");
      }
    },
  );
});
