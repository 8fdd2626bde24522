// The policy in force: the latest row of the append-only policy_versions table. Setup seeds DEFAULT_POLICY as
// version 1 (in its own transaction), and so does boot or the first proposal when an installation set up before
// policies existed has none. In setup mode admins append new versions directly (updatePolicy); once live, only a
// policy.update operation's execution does (server/governance/policy-update-apply.ts), through appendPolicyVersion.
import "server-only";
import { desc, eq, sql } from "drizzle-orm";
import type { Db, DbOrTx, Tx } from "@/db/client";
import { policyVersions } from "@/db/schema";
import { appendAudit } from "@/server/audit/append";
import type { Actor } from "@/server/audit/events";
import { AppError } from "@/server/errors";
import { lockAsAdmin } from "@/server/members/admin-lock";
import { requireSetupMode } from "@/server/governance/mode";
import type { Acting } from "@/server/members/guards";
import { parseInput } from "./parse-input";
import {
  DEFAULT_POLICY,
  type PolicyDocument,
  parsePolicyDocument,
  policyDigest,
} from "@/server/policy/document";
import { parseStoredPolicyDocument } from "@/server/policy/document-cache";

export type PolicyVersion = {
  version: number;
  document: PolicyDocument;
  digest: string;
  createdAt: Date;
  createdBy: string | null;
};

/** Arbitrary constant naming the lock that serialises appends of policy versions ("KWPL"). */
const POLICY_LOCK_KEY = 0x4b57_504c;

/** Takes the policy lock until the end of the caller's transaction (after the admin lock, if that is taken too). */
export async function lockPolicies(tx: Tx): Promise<void> {
  await tx.execute(sql`SELECT pg_advisory_xact_lock(${POLICY_LOCK_KEY})`);
}

function fromRow(row: typeof policyVersions.$inferSelect): PolicyVersion {
  return {
    version: row.version,
    // Parsed on the way out: a stored document that no longer validates is never judged (once per document text:
    // document-cache.ts).
    document: parseStoredPolicyDocument(row.document),
    digest: row.digest,
    createdAt: row.createdAt,
    createdBy: row.createdBy,
  };
}

/** The version in force (the latest), or null before setup has seeded one. */
export async function policyInForce(db: DbOrTx): Promise<PolicyVersion | null> {
  const [row] = await db.select().from(policyVersions).orderBy(desc(policyVersions.version)).limit(1);
  return row ? fromRow(row) : null;
}

/** One version by number (the one an operation was judged under); throws INTERNAL if it is missing. */
export async function policyVersion(db: DbOrTx, version: number): Promise<PolicyVersion> {
  const [row] = await db.select().from(policyVersions).where(eq(policyVersions.version, version));
  if (!row) throw new AppError("INTERNAL", `Policy version ${version} is missing.`);
  return fromRow(row);
}

/**
 * Writes DEFAULT_POLICY as version 1 if no version exists yet (policy.seeded), in the caller's transaction.
 * Idempotent and safe to race: the insert does nothing when version 1 is already there.
 */
export async function seedPolicy(tx: Tx, now: Date): Promise<PolicyVersion> {
  await lockPolicies(tx);
  const current = await policyInForce(tx);
  if (current) return current;
  const digest = policyDigest(DEFAULT_POLICY);
  const [row] = await tx
    .insert(policyVersions)
    .values({
      version: DEFAULT_POLICY.version,
      document: DEFAULT_POLICY,
      digest,
      createdAt: now,
      createdBy: null,
    })
    .returning();
  if (!row) throw new AppError("INTERNAL", "Could not seed the policy.");
  await appendAudit(tx, {
    action: "policy.seeded",
    actor: "system",
    subject: `policy:${row.version}`,
    at: now,
    data: { version: row.version, digest },
  });
  return fromRow(row);
}

/** For boot: seeds the default policy when an installation has none. */
export async function ensurePolicySeeded(db: Db, now: Date): Promise<PolicyVersion> {
  const current = await policyInForce(db);
  return current ?? db.transaction((tx) => seedPolicy(tx, now));
}

/**
 * Appends `document` as the version after `current` (its `version` field set to that number, so every version
 * has its own digest) and audits policy.updated, in the caller's transaction. The caller holds the policy lock
 * (lockPolicies) and read `current` under it: updatePolicy below, and a policy.update operation's execution
 * (server/governance/policy-update-apply.ts), which names itself in `operationId`.
 */
export async function appendPolicyVersion(
  tx: Tx,
  input: {
    current: PolicyVersion;
    document: PolicyDocument;
    createdBy: string | null;
    actor: Actor;
    now: Date;
    operationId?: string;
  },
): Promise<PolicyVersion> {
  const version = input.current.version + 1;
  const document: PolicyDocument = { ...input.document, version };
  const digest = policyDigest(document);
  const [row] = await tx
    .insert(policyVersions)
    .values({ version, document, digest, createdAt: input.now, createdBy: input.createdBy })
    .returning();
  if (!row) throw new AppError("INTERNAL", "Could not store the policy.");
  await appendAudit(tx, {
    action: "policy.updated",
    actor: input.actor,
    subject: `policy:${version}`,
    at: input.now,
    data: {
      version,
      digest,
      previousVersion: input.current.version,
      ...(input.operationId !== undefined ? { operationId: input.operationId } : {}),
    },
  });
  return fromRow(row);
}

/**
 * Appends a new version (admins only, re-checked under the admin lock): the document is validated, numbered
 * one above the version in force (its `version` field is set to that number, so every version has its own
 * digest), stored and audited as policy.updated in one transaction.
 */
export async function updatePolicy(
  db: Db,
  input: {
    actor: Acting;
    document: unknown;
    now: Date;
    /**
     * Runs in the same transaction, under the same locks, once the new version is appended: the router passes
     * governance's re-judging of open operations (kept out of this module, which governance itself imports).
     */
    afterAppend?: (tx: Tx, applied: PolicyVersion, actor: `member:${string}`) => Promise<unknown>;
  },
): Promise<PolicyVersion> {
  // Validated before any lock; the ZodError names the field.
  const submitted = parseInput("document", parsePolicyDocument, input.document);
  return db.transaction(async (tx) => {
    const actor = await lockAsAdmin(tx, input.actor, "change the policy");
    await lockPolicies(tx);
    // Under both locks going live takes: once live, a direct change is refused (a policy.update operation it is).
    await requireSetupMode(tx, "changing the policy");
    const current = (await policyInForce(tx)) ?? (await seedPolicy(tx, input.now));
    const applied = await appendPolicyVersion(tx, {
      current,
      document: submitted,
      createdBy: actor.id,
      actor: `member:${actor.id}`,
      now: input.now,
    });
    await input.afterAppend?.(tx, applied, `member:${actor.id}`);
    return applied;
  });
}
