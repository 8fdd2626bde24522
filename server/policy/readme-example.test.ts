// The README's worked example of the policy language ("The policy language") is a valid document, uses every
// clause it explains, and the reasons the README quotes for it are the ones Keyward gives.
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { type PolicyDocument, parsePolicyDocument } from "./document";
import { evaluatePolicy, matchRule } from "./evaluate-policy";
import { type EligibleMember, unreachableRules } from "./reachability";

const README = readFileSync(path.join(import.meta.dirname, "../../README.md"), "utf8");
/** The README with its line breaks read as spaces, so a quoted reason may wrap. */
const flat = README.replace(/\s+/g, " ");

function example(): unknown {
  const marker = README.indexOf("<!-- policy-example -->");
  if (marker < 0) throw new Error("README.md has no <!-- policy-example --> block");
  const block = /```json\n([\s\S]*?)\n```/.exec(README.slice(marker));
  if (!block?.[1]) throw new Error("no ```json block after the marker");
  return JSON.parse(block[1]);
}

const BTC = { chain: "bitcoin", symbol: "BTC", decimals: 8 };
const ETH = { chain: "ethereum", symbol: "ETH", decimals: 18 };
const eth = (n: number) => BigInt(Math.round(n * 10)) * 10n ** 17n;
const btc = (n: number) => BigInt(Math.round(n * 1e8));
const member = (id: string, groups: string[]): EligibleMember => ({
  id,
  name: id,
  roles: ["approver"],
  groups,
  active: true,
  liveTokens: 1,
});
const withdrawal = (amount: bigint) => ({
  kind: "withdrawal",
  keyTags: [],
  chain: "bitcoin",
  asset: "BTC",
  amount,
  initiatorId: "op",
  id: "w1",
  keyId: "k1",
});
const votes = ["t1", "t2"]
  .map((id) => ({
    voterId: id,
    decision: "approve" as const,
    groups: ["treasury"],
    roles: ["approver"],
    eligible: true,
  }))
  .concat([
    { voterId: "c1", decision: "approve", groups: ["compliance"], roles: ["approver"], eligible: true },
  ]);

describe("the README's policy example", () => {
  const doc: PolicyDocument = parsePolicyDocument(example());

  it("parses, and uses every clause the section explains", () => {
    const rules = [...doc.rules, doc.default];
    const has = (f: (r: (typeof rules)[number]) => unknown) => rules.some((r) => Boolean(f(r)));
    expect({
      amount: doc.rules.some((r) => r.match.amount),
      alternatives: has((r) => !r.deny && r.alternatives),
      window: has((r) => !r.deny && r.window),
      delay: has((r) => !r.deny && r.delay),
      velocity: has((r) => !r.deny && r.velocity),
      allowList: has((r) => !r.deny && r.allowList),
      deny: has((r) => r.deny),
      rotation: (doc.rotation ?? []).length > 0,
      automatic: has((r) => !r.deny && r.automatic),
      initiators: doc.rules.some((r) => r.match.initiators),
    }).toEqual({
      automatic: true,
      initiators: true,
      amount: true,
      alternatives: true,
      window: true,
      delay: true,
      velocity: true,
      allowList: true,
      deny: true,
      rotation: true,
    });
  });

  it("sends each operation the README names to the rule it names", () => {
    const rule = (facts: Parameters<typeof matchRule>[1]) => matchRule(doc, facts).ruleId;
    expect(rule(withdrawal(btc(0.5)))).toBe("small-btc");
    expect(rule(withdrawal(btc(3)))).toBe("big-btc");
    expect(rule({ kind: "withdrawal", keyTags: [], chain: "ethereum", asset: "ETH", amount: 1n })).toBe(
      "eth-payees",
    );
    const ether = { kind: "withdrawal", keyTags: [], chain: "ethereum", asset: "ETH" };
    expect(rule({ ...ether, amount: eth(0.5), initiator: "service" })).toBe("api-small-eth");
    expect(rule({ ...ether, amount: eth(0.5), initiator: "member" })).toBe("eth-payees");
    expect(rule({ ...ether, amount: eth(1), initiator: "service" })).toBe("eth-payees");
    expect(rule({ kind: "withdrawal", keyTags: [], chain: "solana", asset: "SOL", amount: 1n })).toBe(
      "other-withdrawals",
    );
    expect(rule({ kind: "key.create", keyTags: [] })).toBe("default");
    expect(rule({ kind: "policy.update", keyTags: [] })).toBe("policy-changes");
  });

  it("defers big-btc on a Zurich weekend with the reason the README quotes", () => {
    const out = evaluatePolicy({
      operation: { ...withdrawal(btc(3)), quorumAt: new Date("2026-12-04T11:00:00Z") },
      votes,
      policy: doc,
      now: new Date("2026-12-05T12:00:00Z"),
      history: [],
      assets: [BTC],
    });
    expect(out.decision).toBe("deferred");
    expect(out.reasons).toContain(
      "deferred: no withdrawals on weekends (Europe/Zurich), runs Monday 7 December 00:00",
    );
    expect(flat).toContain(
      "“deferred: no withdrawals on weekends (Europe/Zurich), runs Monday 7 December 00:00”",
    );
  });

  it("denies 1.3 BTC after 9 BTC in 24 h with the reason the README quotes", () => {
    const now = new Date("2026-12-02T12:00:00Z");
    const out = evaluatePolicy({
      operation: withdrawal(btc(1.3)),
      votes,
      policy: doc,
      now,
      history: [
        {
          operationId: "h1",
          keyId: "k2",
          chain: "bitcoin",
          asset: "BTC",
          amount: btc(9),
          executedAt: new Date(now.getTime() - 3_600_000),
        },
      ],
      assets: [BTC],
    });
    expect(out.decision).toBe("denied");
    expect(out.reasons).toEqual(["denied: over the 24 h limit of 10 BTC across chains by 0.3 BTC"]);
    expect(flat).toContain("“denied: over the 24 h limit of 10 BTC across chains by 0.3 BTC”");
  });

  it("approves the backend's 0.5 ETH after 12 ETH with no vote, and denies 0.8 ETH after 19.5 ETH, as quoted", () => {
    const now = new Date("2026-12-02T12:00:00Z");
    const judge = (amount: bigint, before: bigint) =>
      evaluatePolicy({
        operation: {
          kind: "withdrawal",
          keyTags: [],
          chain: "ethereum",
          asset: "ETH",
          amount,
          initiatorId: null,
          initiator: "service",
          id: "w1",
          keyId: "k1",
        },
        votes: [],
        policy: doc,
        now,
        history: [
          {
            operationId: "h1",
            keyId: "k2",
            chain: "ethereum",
            asset: "ETH",
            amount: before,
            executedAt: null,
          },
        ],
        assets: [BTC, ETH],
      });
    const ok = judge(eth(0.5), eth(12));
    expect(ok.decision).toBe("approved");
    expect(ok.reasons).toEqual([
      "approved automatically, with no vote",
      "within the 24 h limit of 20 ETH: 12.5 ETH with this one",
    ]);
    expect(flat).toContain(
      "“approved automatically, with no vote” and “within the 24 h limit of 20 ETH: 12.5 ETH with this one”",
    );
    const over = judge(eth(0.8), eth(19.5));
    expect(over.reasons).toEqual(["denied: over the 24 h limit of 20 ETH by 0.3 ETH"]);
    expect(flat).toContain("“denied: over the 24 h limit of 20 ETH by 0.3 ETH”");
  });

  it("is reachable with the members the README lists, and gives the quoted reason without compliance", () => {
    const enough = [
      { ...member("a1", []), roles: ["admin"] },
      member("t1", ["treasury"]),
      member("t2", ["treasury"]),
      member("c1", ["compliance"]),
      member("s1", ["security"]),
    ];
    expect(unreachableRules(doc, enough)).toEqual([]);
    const short = [
      ...enough.filter((m) => m.id !== "c1"),
      member("x1", ["executives"]),
      member("x2", ["executives"]),
    ];
    const reason = unreachableRules(doc, short).find((u) => u.ruleId === "big-btc")?.reason ?? "";
    expect(reason).toBe(
      "rule big-btc can never be met: it needs 2 approvals from treasury and 1 from compliance, but no eligible member of compliance holds a live token; or 3 approvals from executives, but only 2 eligible members of executives hold a live token",
    );
    expect(flat).toContain(`“${reason}”`);
  });
});
