// The policy document's zod schema and the match logic it shares with evaluation. No node:crypto here, so the
// propose and policy forms (client code) can validate with it; document.ts adds the digest and the default.
import { z } from "zod";
import {
  allowListNameSchema,
  amountMatchSchema,
  assetRefSchema,
  chainNameSchema,
  delaySchema,
  destinationMatchSchema,
  MAX_ALTERNATIVES,
  MAX_VELOCITY_CAPS,
  velocityCapSchema,
  windowSchema,
} from "./clauses";
import { DEFAULT_RULE_ID, INITIATOR_TYPES } from "./constants";
import { shadowedRules } from "./match";

export * from "./clauses";
export { type AllowLists, covers, type MatchFacts, matches, onAllowList, shadowedRules } from "./match";

export {
  DEFAULT_EXPIRES_IN_HOURS,
  DEFAULT_REJECTIONS,
  DEFAULT_RULE_ID,
  INITIATOR_TYPES,
  type InitiatorType,
  ROLE_GROUPS,
} from "./constants";

export const MAX_RULES = 200;
export const MAX_GROUPS_PER_RULE = 16;
export const MAX_APPROVALS = 100;
export const MAX_EXPIRES_IN_HOURS = 720;

// Text shown on pages: bounded, no control characters (a newline or a bidi override could fake a line).
const text = (max: number) =>
  z
    .string()
    .max(max, `At most ${max} characters`)
    .regex(/^[^\p{Cc}\p{Cf}]*$/u, "No control or formatting characters");

/** Same shape as server/auth/schemas.ts groupNameSchema (what members can be put in), but refused, not trimmed. */
export const groupNameSchema = z
  .string()
  .min(2, "Group names have 2 to 40 characters")
  .max(40, "Group names have 2 to 40 characters")
  .regex(/^[a-z0-9][a-z0-9-]*$/, "Group names use lower-case letters, digits and dashes, e.g. treasury");

export const ruleIdSchema = z
  .string()
  .min(1, "Rule ids have 1 to 64 characters")
  .max(64, "Rule ids have 1 to 64 characters")
  .regex(/^[a-z0-9][a-z0-9._-]*$/, "Rule ids use lower-case letters, digits, dots, dashes and underscores");

/** An operation kind as the registry names it, e.g. key.create, withdrawal, policy.update. */
export const kindNameSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)*$/, "Kinds are dotted lower-case names, e.g. key.create");

/** Key tags are compared exactly, so they have one spelling: lower case. Operations should reuse this schema. */
export const keyTagSchema = z
  .string()
  .min(1, "Key tags have 1 to 40 characters")
  .max(40, "Key tags have 1 to 40 characters")
  .regex(/^[a-z0-9][a-z0-9._-]*$/, "Key tags use lower-case letters, digits, dots, dashes and underscores");

const uniqueList = <T extends z.ZodType<string>>(item: T, max: number, what: string) =>
  z
    .array(item)
    .min(1, `List at least one ${what}, or leave the field out`)
    .max(max, `At most ${max} ${what}s`)
    .refine((xs) => new Set(xs).size === xs.length, `Each ${what} once`);

export const matchSchema = z
  .strictObject({
    /** The operation's kind is one of these. Absent: any kind. */
    kinds: uniqueList(kindNameSchema, 32, "kind").optional(),
    /** The operation carries every one of these key tags (all of them, not any). Absent: any tags. */
    keyTags: uniqueList(keyTagSchema, 16, "key tag").optional(),
    /** The operation is on one of these chains. Absent: any chain, or none. */
    chains: uniqueList(chainNameSchema, 32, "chain").optional(),
    /** The operation moves one of these assets (chain and symbol). */
    assets: z
      .array(assetRefSchema)
      .min(1, "List at least one asset, or leave the field out")
      .max(32, "At most 32 assets")
      .refine((xs) => new Set(xs.map((a) => `${a.chain} ${a.symbol}`)).size === xs.length, "Each asset once")
      .optional(),
    /** The amount is in this tier, in base units of the rule's one asset. */
    amount: amountMatchSchema.optional(),
    /** The destination is, or is not, on the named allow-list. */
    destination: destinationMatchSchema.optional(),
    /** Proposed by one of these: a member, a service account (the HTTP API), the system (Keyward itself). */
    initiators: uniqueList(z.enum(INITIATOR_TYPES), INITIATOR_TYPES.length, "initiator").optional(),
  })
  .refine((m) => m.amount === undefined || m.assets?.length === 1, {
    message: "An amount is in base units of one asset: list exactly one asset with it",
    path: ["amount"],
  });

const requirementSchema = z.strictObject({
  group: groupNameSchema,
  approvals: z.int().min(1, "A group must give at least 1 approval").max(MAX_APPROVALS),
});

const requireSchema = z
  .array(requirementSchema)
  .min(1, "Require at least one group's approvals")
  .max(MAX_GROUPS_PER_RULE)
  .refine((rs) => new Set(rs.map((r) => r.group)).size === rs.length, "Each group once per rule");

/** What every rule that can approve may add: when it may run, a delay with a veto, caps, an allow-list. */
const runFields = {
  deny: z.literal(false).optional(),
  /** When it may run, in a named time zone; outside, deferred to the next opening or denied. */
  window: windowSchema.optional(),
  /** Time between quorum and execution during which the veto group can stop it. */
  delay: delaySchema.optional(),
  /** The destination must be on this allow-list, else denied. */
  allowList: allowListNameSchema.optional(),
};

/** A rule approved by people's votes. */
const votedFields = {
  ...runFields,
  automatic: z.literal(false).optional(),
  /** Every group is required ("2 of treasury AND 1 of compliance"), each approval from a different person. */
  require: requireSchema,
  /** Other sets of groups that approve it as well ("..., OR 3 of executives"): any one met is enough. */
  alternatives: z.array(requireSchema).min(1).max(MAX_ALTERNATIVES).optional(),
  rejections: z.int().min(1).max(MAX_APPROVALS).optional(),
  expiresInHours: z.int().min(1).max(MAX_EXPIRES_IN_HOURS).optional(),
  /** Caps on amounts over rolling windows; every cap that applies must hold. */
  velocity: z.array(velocityCapSchema).min(1).max(MAX_VELOCITY_CAPS).optional(),
};

/** Fields an automatic rule has no use for, refused with a message saying why (not "unrecognized key"). */
const noVotes = (field: string, why: string) =>
  z.undefined({ error: `An automatic rule ${why}: remove ${field} (or automatic)` }).optional();

/**
 * A rule approved with no vote (e.g. small withdrawals from the exchange's backend): only under velocity caps,
 * which are required, and (checked on the document, which sees the match) only for the assets they count.
 */
const automaticFields = {
  ...runFields,
  automatic: z.literal(true),
  require: noVotes("require", "asks for no approvals"),
  alternatives: noVotes("alternatives", "asks for no approvals"),
  rejections: noVotes("rejections", "takes no votes, so no rejections"),
  expiresInHours: noVotes("expiresInHours", "never waits for votes, so it never expires"),
  velocity: z
    .array(velocityCapSchema, {
      error: (issue) =>
        issue.input === undefined
          ? "An automatic rule approves with no vote, so it needs velocity caps: add velocity (e.g. at most 10 ETH per chain in 24 h)"
          : undefined,
    })
    .min(1, "An automatic rule approves with no vote, so it needs at least one velocity cap")
    .max(MAX_VELOCITY_CAPS),
};
const denyFields = { deny: z.literal(true), reason: text(300).min(1, "Say why it is denied") };

const head = { id: ruleIdSchema.optional(), description: text(500).optional() };
// Discriminated on deny (absent or false: it can approve; true: a reason), then on automatic (absent or false:
// votes; true: no vote, under caps), so a refusal names the exact field.
export const ruleBodySchema = z.discriminatedUnion("deny", [
  z.discriminatedUnion("automatic", [
    z.strictObject({ ...head, ...votedFields }),
    z.strictObject({ ...head, ...automaticFields }),
  ]),
  z.strictObject({ ...head, ...denyFields }),
]);

const named = { id: ruleIdSchema, description: text(500), match: matchSchema };
export const ruleSchema = z.discriminatedUnion("deny", [
  z.discriminatedUnion("automatic", [
    z.strictObject({ ...named, ...votedFields }),
    z.strictObject({ ...named, ...automaticFields }),
  ]),
  z.strictObject({ ...named, ...denyFields }),
]);

export type RuleBody = z.infer<typeof ruleBodySchema>;
export type Rule = z.infer<typeof ruleSchema>;
export type RuleMatch = z.infer<typeof matchSchema>;
export type Requirement = z.infer<typeof requirementSchema>;
/** A rule that can approve: by votes (`require`) or automatically. */
export type ApproveRule = Exclude<Rule | RuleBody, { deny: true }>;
/** A rule approved by votes. */
export type VotedRule = Extract<ApproveRule, { require: Requirement[] }>;

/**
 * The sets of groups whose approvals meet a rule (`require`, then each of `alternatives`): none for a deny rule
 * or an automatic one (nobody's approval is asked for).
 */
export function approvalSets(rule: Rule | RuleBody): Requirement[][] {
  if (rule.deny || rule.automatic) return [];
  return [rule.require, ...(rule.alternatives ?? [])];
}

/** Whether the velocity cap counts amounts of `asset` (the same test as velocity.ts capApplies). */
const capCounts = (
  cap: { per: string; asset: { chain: string; symbol: string } },
  asset: { chain: string; symbol: string },
) => cap.asset.symbol === asset.symbol && (cap.per === "asset" || cap.asset.chain === asset.chain);

export const MAX_ROTATION_DAYS = 3650;

/** A rotation period: active keys carrying `tag` are due for key.rotate `everyDays` after they became active. */
export const rotationPeriodSchema = z.strictObject({
  tag: keyTagSchema,
  everyDays: z
    .int()
    .min(1, "Rotate at most once a day")
    .max(MAX_ROTATION_DAYS, `At most ${MAX_ROTATION_DAYS} days`),
});
export type RotationPeriod = z.infer<typeof rotationPeriodSchema>;

const documentObject = z.strictObject({
  version: z.int().min(1).max(2_147_483_647),
  /** Judged in order; the first whose match holds decides. */
  rules: z.array(ruleSchema).max(MAX_RULES),
  /** Judges every operation no rule matches. Required: a document without it is refused. */
  default: ruleBodySchema,
  /**
   * Rotation periods by key tag; the shortest period among a key's tags applies. When one has passed, Keyward
   * proposes key.rotate itself (it still needs its quorum). Optional: absent, nothing is rotated by time (and
   * documents written before it existed keep their digest).
   */
  rotation: z
    .array(rotationPeriodSchema)
    .max(MAX_RULES)
    .refine((rs) => new Set(rs.map((r) => r.tag)).size === rs.length, "Each tag once")
    .optional(),
});

export type PolicyDocument = z.infer<typeof documentObject>;

export const policyDocumentSchema = documentObject.superRefine((doc, ctx) => {
  const seen = new Map<string, number>();
  const ids = [...doc.rules.map((r) => r.id), doc.default.id ?? DEFAULT_RULE_ID];
  ids.forEach((id, i) => {
    const first = seen.get(id);
    if (first !== undefined) {
      const path = i === doc.rules.length ? ["default", "id"] : ["rules", i, "id"];
      ctx.addIssue({
        code: "custom",
        path,
        message: `Rule id "${id}" is used twice (also rule ${first + 1})`,
      });
    } else seen.set(id, i);
  });
  const bodies: [(string | number)[], RuleBody][] = [
    ...doc.rules.map((r, i): [(string | number)[], RuleBody] => [["rules", i], r]),
    [["default"], doc.default],
  ];
  for (const [path, rule] of bodies) {
    if (rule.deny || !rule.delay) continue;
    const groups = approvalSets(rule)
      .flat()
      .map((r) => r.group);
    if (groups.includes(rule.delay.vetoGroup)) {
      ctx.addIssue({
        code: "custom",
        path: [...path, "delay", "vetoGroup"],
        message: `The veto group must be separate from the groups that approve (${rule.delay.vetoGroup} approves here)`,
      });
    }
  }
  if (!doc.default.deny && doc.default.automatic) {
    ctx.addIssue({
      code: "custom",
      path: ["default", "automatic"],
      message:
        "The default rule judges every operation no rule matches, so it cannot approve automatically: give it require, and write the automatic rule with a match",
    });
  }
  doc.rules.forEach((rule, i) => {
    if (rule.deny || !rule.automatic) return;
    // Every operation it approves must be counted by a cap: it names its assets, and a cap counts each of them.
    const assets = rule.match.assets;
    if (assets === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["rules", i, "match", "assets"],
        message:
          "An automatic rule approves with no vote, so it must say which assets it moves: list them in match.assets, each under a velocity cap",
      });
      return;
    }
    for (const a of assets) {
      if (rule.velocity.some((cap) => capCounts(cap, a))) continue;
      ctx.addIssue({
        code: "custom",
        path: ["rules", i, "velocity"],
        message: `An automatic rule caps every asset it moves: no velocity cap counts ${a.symbol} on ${a.chain}`,
      });
    }
  });
  for (const { rule, by } of shadowedRules(doc)) {
    ctx.addIssue({
      code: "custom",
      path: ["rules", rule, "match"],
      message: `Rule "${doc.rules[rule]?.id}" can never apply: rule "${doc.rules[by]?.id}" before it matches everything it matches`,
    });
  }
});

/** The rotation period in days for a key with these tags (the shortest that applies), or null for none. */
export function rotationDaysFor(
  doc: Pick<PolicyDocument, "rotation">,
  tags: readonly string[],
): number | null {
  const days = (doc.rotation ?? []).filter((r) => tags.includes(r.tag)).map((r) => r.everyDays);
  return days.length > 0 ? Math.min(...days) : null;
}
