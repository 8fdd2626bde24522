// Issue 12's tables: the policy versions in force over time, quorum operations and their votes, custody keys,
// and the scheduler's jobs. Operation and key states are closed lists; every change is audited by the code.
import { sql } from "drizzle-orm";
import {
  type AnyPgColumn,
  check,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  unique,
  uuid,
} from "drizzle-orm/pg-core";
import { members, tokens } from "./members";
import { serviceAccounts } from "./service-accounts";

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });

/** Append-only (trigger in migration 0006): the latest version is the one in force; old ones explain old votes. */
export const policyVersions = pgTable("policy_versions", {
  version: integer("version").primaryKey(),
  /** The policy document (server/policy/document.ts), as validated. */
  document: jsonb("document").notNull(),
  /** policyDigest(document): SHA-256 hex of its RFC 8785 canonical JSON. */
  digest: text("digest").notNull().unique(),
  createdAt: ts("created_at").notNull().defaultNow(),
  /** Null for the seed written at setup or boot. */
  createdBy: uuid("created_by").references(() => members.id),
});

export const OPERATION_STATES = [
  "pending",
  "waiting",
  "approved",
  "executing",
  "executed",
  "failed",
  "rejected",
  "expired",
  "cancelled",
] as const;
export type OperationState = (typeof OPERATION_STATES)[number];

/**
 * Who proposes an operation no person proposed: the scheduler's sweeps. Shown by name (read.ts), digested as
 * "system:<name>" (digest.ts); the operation still needs its quorum like any other.
 */
export const SYSTEM_INITIATORS = ["rotation-due", "rotation-sweep"] as const;
export type SystemInitiator = (typeof SYSTEM_INITIATORS)[number];

/**
 * Why a waiting operation (its votes met the rule) is not approved yet: the rule's delay runs (the veto group
 * may stop it), its window is closed, or a velocity cap is full.
 */
export const OPERATION_HOLDS = ["delay", "window", "velocity"] as const;
export type OperationHold = (typeof OPERATION_HOLDS)[number];

export const operations = pgTable(
  "operations",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    kind: text("kind").notNull(),
    payload: jsonb("payload").notNull(),
    /** The member who proposed it; null when `systemInitiator` or `serviceAccountId` names who did. */
    initiatorId: uuid("initiator_id").references(() => members.id),
    systemInitiator: text("system_initiator").$type<SystemInitiator>(),
    /** The service account that proposed it over the HTTP API (audit actor "service:<id>"); null otherwise. */
    serviceAccountId: uuid("service_account_id").references((): AnyPgColumn => serviceAccounts.id),
    state: text("state").$type<OperationState>().notNull(),
    /** operationDigest (server/operations/digest.ts): what every vote's challenge is bound to. */
    digest: text("digest").notNull().unique(),
    policyVersion: integer("policy_version")
      .notNull()
      .references(() => policyVersions.version),
    ruleId: text("rule_id").notNull(),
    createdAt: ts("created_at").notNull(),
    expiresAt: ts("expires_at").notNull(),
    decidedAt: ts("decided_at"),
    executingSince: ts("executing_since"),
    attempts: integer("attempts").notNull().default(0),
    executedAt: ts("executed_at"),
    result: jsonb("result"),
    failure: text("failure"),
    /**
     * A key.create batch's progress, { done, total }: keys recorded so far, written with each chunk's keys in
     * one transaction fenced by the claim; a resumed batch starts from `done`. Null for everything else.
     */
    progress: jsonb("progress").$type<{ done: number; total: number }>(),
    /** When its votes first met the rule (it became waiting or approved); the delay counts from here. */
    quorumAt: ts("quorum_at"),
    /**
     * While waiting: when it is judged again (the delay's end, the window's opening, when a velocity cap fits);
     * null while waiting on a velocity cap with no known time (the release sweep re-checks it).
     */
    releaseAt: ts("release_at"),
    /** While waiting (and kept after): what held it. Null for an operation that never waited. */
    hold: text("hold").$type<OperationHold>(),
    /**
     * The policy version and rule it is judged under now, when re-judged after a policy change; null: as
     * proposed (`policy_version` / `rule_id` stay as digested, since the digest covers them).
     */
    judgedVersion: integer("judged_version").references(() => policyVersions.version),
    judgedRuleId: text("judged_rule_id"),
  },
  (t) => [
    index("operations_state_expires_idx").on(t.state, t.expiresAt),
    // The release sweep reads waiting operations by release time.
    index("operations_state_release_idx").on(t.state, t.releaseAt),
    // Exactly one initiator: a person, the system, or a service account.
    check(
      "operations_one_initiator",
      sql`num_nonnulls(${t.initiatorId}, ${t.systemInitiator}, ${t.serviceAccountId}) = 1`,
    ),
    check(
      "operations_hold_known",
      sql`${t.hold} IS NULL OR ${t.hold} IN ('delay', 'window', 'velocity')`,
    ),
    // Waiting always says what holds it, and when the votes met the rule.
    check(
      "operations_waiting_held",
      sql`${t.state} <> 'waiting' OR (${t.hold} IS NOT NULL AND ${t.quorumAt} IS NOT NULL)`,
    ),
  ],
);

/** A veto is cast only while an operation waits out its delay, by the rule's veto group. */
export const VOTE_DECISIONS = ["approve", "reject", "veto"] as const;
export type VoteDecision = (typeof VOTE_DECISIONS)[number];

export const votes = pgTable(
  "votes",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    operationId: uuid("operation_id")
      .notNull()
      .references(() => operations.id),
    voterId: uuid("voter_id")
      .notNull()
      .references(() => members.id),
    tokenId: text("token_id")
      .notNull()
      .references(() => tokens.id),
    decision: text("decision").$type<VoteDecision>().notNull(),
    challenge: text("challenge").notNull().unique(),
    /** The nonce in challenge = SHA-256(JCS({ v: 1, op: digest, decision, voter, nonce })): kept to re-check it. */
    nonce: text("nonce").notNull(),
    /** The whole AuthenticationResponseJSON the voter's token signed: anyone can re-verify the vote later. */
    assertion: jsonb("assertion").notNull(),
    castAt: ts("cast_at").notNull(),
  },
  // One vote per person, whatever tokens they hold.
  (t) => [unique("votes_operation_voter_unique").on(t.operationId, t.voterId)],
);

export const KEY_STATES = [
  "pre-activation",
  "active",
  "suspended",
  "deactivated",
  "compromised",
  "destroyed",
] as const;
export type KeyState = (typeof KEY_STATES)[number];
export const KEY_EXPORTABILITY = ["never", "wrapped"] as const;
export type KeyExportability = (typeof KEY_EXPORTABILITY)[number];

export const keys = pgTable(
  "keys",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    /** The key.create operation that made it (with batch_index: one row per key of the operation). */
    operationId: uuid("operation_id").references(() => operations.id),
    /**
     * Which key of its operation this is: 0 for a single key.create, 0 … count-1 in a batch. Unique with the
     * operation, so a repeated execute (a retried chunk, a batch resumed after a crash) cannot add a second.
     */
    batchIndex: integer("batch_index").notNull().default(0),
    label: text("label").notNull(),
    curve: text("curve").notNull(),
    tags: text("tags").array().notNull().default(sql`'{}'::text[]`),
    state: text("state").$type<KeyState>().notNull(),
    hsmRef: text("hsm_ref").notNull().unique(),
    publicKey: text("public_key").notNull(),
    exportable: text("exportable").$type<KeyExportability>().notNull(),
    createdAt: ts("created_at").notNull().defaultNow(),
    stateChangedAt: ts("state_changed_at").notNull().defaultNow(),
    /** The key this one succeeds (key.rotate): the old key stays deactivated, for sweeping to this one. */
    predecessorId: uuid("predecessor_id")
      .unique()
      .references((): AnyPgColumn => keys.id),
    /** When the scheduled destruction runs (key.destroy); null when none is scheduled. */
    destroyAfter: ts("destroy_after"),
    /** When a key.restore last proved the key restores and signs (a recovery drill); null: never. */
    lastDrillAt: ts("last_drill_at"),
  },
  (t) => [
    index("keys_state_idx").on(t.state),
    // The keys list (server/keys/list-keys.ts): pages in this order read the index, not a sort of every key;
    // tag filters use the GIN index. Measured by bench/operations.ts (keys list).
    // Ascending, read backwards for ORDER BY created_at DESC, id DESC (DESC NULLS LAST would not match it).
    index("keys_created_at_id_idx").on(t.createdAt, t.id),
    index("keys_tags_idx").using("gin", t.tags).with({ fastupdate: false }),
    // Searches (migration 0013, which creates pg_trgm): a label substring reads the trigram index on the
    // lower-cased label, a public-key prefix the pattern-ops btree (LIKE 'abc%' under any collation), a curve
    // filter its own btree; the tag search and filter use keys_tags_idx.
    // GIN without fastupdate (migration 0014): new entries otherwise wait in a pending list that every search
    // reads through until a VACUUM, and PGlite (a standalone backend) never vacuums on its own: 50 ms a search
    // after 50,000 new keys on PostgreSQL, measured.
    index("keys_label_trgm_idx")
      .using("gin", sql`lower(${t.label}) gin_trgm_ops`)
      .with({ fastupdate: false }),
    index("keys_public_key_prefix_idx").on(t.publicKey.op("text_pattern_ops")),
    index("keys_curve_idx").on(t.curve),
    unique("keys_operation_batch_index_unique").on(t.operationId, t.batchIndex),
  ],
);

export const JOB_STATES = ["waiting", "running", "done", "failed"] as const;
export type JobState = (typeof JOB_STATES)[number];

/** The scheduler's table, claimed with UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED). */
export const jobs = pgTable(
  "jobs",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    kind: text("kind").notNull(),
    runAt: ts("run_at").notNull(),
    subject: text("subject"),
    payload: jsonb("payload").notNull().default(sql`'{}'::jsonb`),
    state: text("state").$type<JobState>().notNull().default("waiting"),
    lockedUntil: ts("locked_until"),
    attempts: integer("attempts").notNull().default(0),
    lastError: text("last_error"),
    createdAt: ts("created_at").notNull().defaultNow(),
  },
  (t) => [index("jobs_state_run_at_idx").on(t.state, t.runAt)],
);
