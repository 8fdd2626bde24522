// Seeded random policies, operations and votes for the property tests. fast-check is not installed here (and
// nothing may be installed this session), so the properties run on this small generator instead: every case is
// reproducible from its seed, which a failing test prints.
import { type PolicyDocument, type Rule, type RuleBody, shadowedRules } from "../document";
import type { OperationFacts, VoteInput } from "../evaluate";
import { ROLES } from "@/db/schema/members";

/** mulberry32: a tiny, well-known 32-bit PRNG; good enough to spread test cases, not for secrets. */
export function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => {
    const x = xs[int(0, xs.length - 1)];
    if (x === undefined) throw new Error("pick from an empty list");
    return x;
  };
  const subset = <T>(xs: readonly T[], p = 0.5): T[] => xs.filter(() => next() < p);
  const shuffle = <T>(xs: readonly T[]): T[] => {
    const out = [...xs];
    for (let i = out.length - 1; i > 0; i--) {
      const j = int(0, i);
      const [x, y] = [out[i], out[j]];
      if (x === undefined || y === undefined) continue;
      out[i] = y;
      out[j] = x;
    }
    return out;
  };
  return { next, int, pick, subset, shuffle, chance: (p: number) => next() < p };
}
export type Rng = ReturnType<typeof prng>;

export const GROUPS = ["treasury", "compliance", "security", "approvers"] as const;
export const KINDS = ["key.create", "key.suspend", "withdrawal"] as const;
export const TAGS = ["hot", "cold", "eth", "btc"] as const;
export const VOTERS = ["v0", "v1", "v2", "v3", "v4", "v5", "v6"] as const;
export const INITIATOR = "initiator";

function body(r: Rng): RuleBody {
  if (r.chance(0.15)) return { deny: true, reason: `reason ${r.int(0, 99)}` };
  const groups = r.shuffle(GROUPS).slice(0, r.int(1, 3));
  return {
    require: groups.map((group) => ({ group, approvals: r.int(1, 3) })),
    ...(r.chance(0.4) ? { rejections: r.int(1, 3) } : {}),
    ...(r.chance(0.4) ? { expiresInHours: r.int(1, 200) } : {}),
  };
}

/** A valid document: up to 6 rules with random matches (shadowed ones dropped) and a random default. */
export function randomPolicy(r: Rng): PolicyDocument {
  const rules: Rule[] = [];
  const n = r.int(0, 6);
  for (let i = 0; i < n; i++) {
    const kinds = r.chance(0.7) ? r.subset(KINDS) : [];
    const keyTags = r.chance(0.7) ? r.subset(TAGS, 0.35) : [];
    const match = { ...(kinds.length ? { kinds } : {}), ...(keyTags.length ? { keyTags } : {}) };
    const candidate = [...rules, { id: `rule-${i}`, description: "", match, ...body(r) }];
    if (shadowedRules({ rules: candidate }).length === 0) rules.splice(0, rules.length, ...candidate);
  }
  return { version: r.int(1, 50), rules, default: body(r) };
}

export function randomOperation(r: Rng): OperationFacts {
  return { kind: r.pick(KINDS), keyTags: r.subset(TAGS), initiatorId: INITIATOR };
}

export function randomVote(r: Rng, voterId: string = r.pick(VOTERS)): VoteInput {
  return {
    voterId,
    decision: r.chance(0.75) ? "approve" : "reject",
    groups: r.subset(GROUPS.filter((g) => g !== "approvers")),
    roles: r.subset(ROLES, 0.6),
    eligible: r.chance(0.85),
  };
}

/** Votes of distinct people (as the votes table's unique (operation, voter) gives), sometimes the initiator's. */
export function randomVotes(r: Rng): VoteInput[] {
  const ids = r.subset([...VOTERS, ...(r.chance(0.3) ? [INITIATOR] : [])], 0.6);
  return ids.map((id) => randomVote(r, id));
}

/** The same value with every object's keys in a random order (what a jsonb round trip may give back). */
export function shuffleKeys(r: Rng, value: unknown): unknown {
  if (Array.isArray(value)) return value.map((v) => shuffleKeys(r, v));
  if (value && typeof value === "object") {
    return Object.fromEntries(r.shuffle(Object.entries(value)).map(([k, v]) => [k, shuffleKeys(r, v)]));
  }
  return value;
}
