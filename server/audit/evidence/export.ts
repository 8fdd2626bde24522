// The evidence bundle of a period (bundle.ts, "keyward-evidence/v2"), read from the database: the period's
// events with one range proof to the first checkpoint holding them all (signed in the HSM now when none
// does yet), every checkpoint from the last one before the period to that one with consistency proofs between
// consecutive ones, the operations and votes the period's events record (each vote's whole assertion and its
// token's COSE public key), the event that registered each voter's token (with its own inclusion proof, however
// long before the period) and the policy versions in force. It only reads what is stored and proves nothing
// itself: verify.ts is what a regulator runs. Events are read in pages, so it can later stream.
import "server-only";
import { and, asc, desc, eq, gte, inArray, isNotNull, lte, sql } from "drizzle-orm";
import type { Db } from "@/db/client";
import { auditCheckpoints, auditEvents, operations, policyVersions, tokens, votes } from "@/db/schema";
import { z } from "zod";
import { env } from "@/server/env";
import { type CheckpointConfig, checkpointIfDue, type StoredCheckpoint } from "../checkpoints";
import { base64Encode } from "../log/note";
import { rangeProofPlan } from "../log/merkle";
import { consistencyProofAt, inclusionProofAt, readNodes, treeSize } from "../log/tree";
import {
  BUNDLE_FORMAT,
  type Bundle,
  type BundleEvent,
  type BundleEventContent,
  type BundleOperation,
  type BundleVote,
  bundleAssertionSchema,
} from "./bundle";

/** Events read per query. */
const PAGE = 1_000;

export type ExportOptions = {
  from: Date;
  to: Date;
  /** The log's origin and checkpoint cadence (default: env().audit). */
  audit?: CheckpointConfig;
  /** The relying party votes were made for (default: env()'s rpId and origin). */
  webauthn?: { rpId: string; origin: string };
  now?: Date;
  /**
   * Sizes of checkpoints the reader kept from before the bundle's first: a consistency proof from each to the
   * first is added (keptConsistency), so they can be checked with --trusted-checkpoint.
   */
  kept?: readonly number[];
};

export class ExportError extends Error {
  override name = "ExportError";
}

const b64 = (hashes: readonly Uint8Array[]) => hashes.map(base64Encode);
const iso = (d: Date) => d.toISOString();

/** The seq range of the period: from the first sealed event at or after `from` to the last at or before `to`. */
async function periodRange(db: Db, from: Date, to: Date): Promise<{ first: number; last: number } | null> {
  const [first] = await db
    .select({ seq: sql<number>`min(${auditEvents.seq})`.mapWith(Number) })
    .from(auditEvents)
    .where(and(isNotNull(auditEvents.seq), gte(auditEvents.at, from)));
  const [last] = await db
    .select({ seq: sql<number>`max(${auditEvents.seq})`.mapWith(Number) })
    .from(auditEvents)
    .where(and(isNotNull(auditEvents.seq), lte(auditEvents.at, to)));
  const a = first?.seq;
  const b = last?.seq;
  // min/max over no rows is NULL: no event in the period.
  if (typeof a !== "number" || typeof b !== "number" || !(a >= 1) || !(b >= a)) return null;
  return { first: a, last: b };
}

/** The first checkpoint holding event `seq`, signed now (forced, in the HSM) when none does yet. */
async function checkpointCovering(db: Db, seq: number, o: { audit: CheckpointConfig; now: Date }) {
  const [row] = await db
    .select()
    .from(auditCheckpoints)
    .where(gte(auditCheckpoints.size, seq))
    .orderBy(asc(auditCheckpoints.size))
    .limit(1);
  if (row !== undefined) return row;
  const signed = await checkpointIfDue(db, { config: o.audit, now: o.now, force: true });
  if (signed === null || signed.size < seq)
    throw new ExportError(`no checkpoint holds audit event ${seq}, and none could be signed now`);
  return signed;
}

/** The ids operation.proposed and vote.cast events carry (events.ts), read loosely: only to collect them. */
const namedIds = z.looseObject({ operationId: z.string().optional(), voteId: z.string().optional() });

/** A sealed event row as the bundle carries it: its content and chain hashes. */
function eventContent(row: typeof auditEvents.$inferSelect, seq: number): BundleEventContent {
  if (row.seq === null || row.prevHash === null || row.hash === null)
    throw new ExportError(`audit event ${seq} is not sealed`);
  return {
    seq: row.seq,
    at: iso(row.at),
    actor: row.actor,
    action: row.action,
    subject: row.subject,
    data: row.data,
    prevHash: row.prevHash,
    hash: row.hash,
  };
}

/**
 * The sealed events with seq in the range, a page at a time (their content and chain hashes; the bundle's one
 * range proof proves them all): what a streaming writer consumes without holding the period in memory.
 */
export async function* periodEvents(
  db: Db,
  range: { first: number; last: number },
): AsyncGenerator<BundleEventContent[]> {
  for (let at = range.first; at <= range.last; at += PAGE) {
    const rows = await db
      .select()
      .from(auditEvents)
      .where(and(gte(auditEvents.seq, at), lte(auditEvents.seq, Math.min(range.last, at + PAGE - 1))))
      .orderBy(asc(auditEvents.seq));
    yield rows.map((row) => eventContent(row, at));
    // PGlite answers without leaving the microtask queue: a turn of the event loop between pages, so an export
    // of 100,000 events never holds the server's other requests up (bench/reports.ts measures it).
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** The audit events that introduce a token (server/auth/registration.ts, server/members/tokens.ts). */
const REGISTRATION_ACTIONS = ["token.registered", "token.added"];
const namedCredential = z.looseObject({ credentialId: z.string() });

/**
 * The event that introduced each of these tokens (token.registered or token.added, by its subject
 * "token:<id>" and the credentialId it records), wherever it lies in the log up to the target checkpoint, each
 * with its own inclusion proof to it: what binds the votes' keys and registrations to the log, and dates them.
 */
async function registrationEventsOf(
  db: Db,
  tokenIds: readonly string[],
  size: number,
): Promise<BundleEvent[]> {
  if (tokenIds.length === 0) return [];
  const rows = await db
    .select()
    .from(auditEvents)
    .where(
      and(
        inArray(
          auditEvents.subject,
          tokenIds.map((id) => `token:${id}`),
        ),
        inArray(auditEvents.action, REGISTRATION_ACTIONS),
        isNotNull(auditEvents.seq),
        lte(auditEvents.seq, size),
      ),
    )
    .orderBy(asc(auditEvents.seq));
  const wanted = new Set(tokenIds);
  const proved: BundleEvent[] = [];
  for (const row of rows) {
    const named = namedCredential.safeParse(row.data);
    if (row.seq === null || !named.success || !wanted.has(named.data.credentialId)) continue;
    proved.push({
      ...eventContent(row, row.seq),
      inclusion: { size, proof: b64(await inclusionProofAt(db, row.seq, size)) },
    });
  }
  return proved;
}

export async function buildBundle(db: Db, o: ExportOptions): Promise<Bundle> {
  const audit = o.audit ?? env().audit;
  const webauthn = o.webauthn ?? { rpId: env().rpId, origin: env().origin };
  const now = o.now ?? new Date();
  const range = await periodRange(db, o.from, o.to);

  // Checkpoints: the newest one before the period's first event, ..., the first one holding its last event.
  const [newest] = await db.select().from(auditCheckpoints).orderBy(desc(auditCheckpoints.size)).limit(1);
  // The event after the period, when the log has one, must be in the target too: it shows the end was not cut.
  const [next] =
    range === null
      ? []
      : await db
          .select({ seq: auditEvents.seq })
          .from(auditEvents)
          .where(eq(auditEvents.seq, range.last + 1));
  const target: StoredCheckpoint =
    range === null
      ? (newest ?? (await checkpointCovering(db, 1, { audit, now })))
      : await checkpointCovering(db, next === undefined ? range.last : range.last + 1, { audit, now });
  const [before] = await db
    .select({ size: auditCheckpoints.size })
    .from(auditCheckpoints)
    .where(sql`${auditCheckpoints.size} < ${range?.first ?? target.size}`)
    .orderBy(desc(auditCheckpoints.size))
    .limit(1);
  const checkpoints = await db
    .select()
    .from(auditCheckpoints)
    .where(and(gte(auditCheckpoints.size, before?.size ?? 0), lte(auditCheckpoints.size, target.size)))
    .orderBy(asc(auditCheckpoints.size));
  const consistency: Bundle["consistency"] = [];
  for (let i = 1; i < checkpoints.length; i++) {
    const a = checkpoints[i - 1];
    const b = checkpoints[i];
    if (a === undefined || b === undefined) continue;
    consistency.push({ from: a.size, to: b.size, proof: b64(await consistencyProofAt(db, a.size, b.size)) });
  }

  const keptConsistency: Bundle["consistency"] = [];
  const firstSize = checkpoints[0]?.size;
  if (firstSize !== undefined)
    for (const size of new Set(o.kept ?? []))
      if (Number.isSafeInteger(size) && size > 0 && size < firstSize)
        keptConsistency.push({
          from: size,
          to: firstSize,
          proof: b64(await consistencyProofAt(db, size, firstSize)),
        });

  // Events in pages, each with its inclusion proof to the target checkpoint; what they name is collected.
  const events: BundleEventContent[] = [];
  const operationIds = new Set<string>();
  const voteIds = new Set<string>();
  if (range !== null)
    for await (const page of periodEvents(db, range))
      for (const event of page) {
        events.push(event);
        if (event.action !== "operation.proposed" && event.action !== "vote.cast") continue;
        const names = namedIds.safeParse(event.data);
        if (!names.success) continue;
        if (names.data.operationId !== undefined) operationIds.add(names.data.operationId);
        if (event.action === "vote.cast" && names.data.voteId !== undefined) voteIds.add(names.data.voteId);
      }

  // The range proof of the period's events to the target: the stored perfect subtrees left and right of it.
  let inclusion: Bundle["inclusion"] = null;
  if (range !== null) {
    const held = await treeSize(db);
    if (target.size > held) throw new ExportError(`the audit tree holds ${held} events, not ${target.size}`);
    const plan = rangeProofPlan(range.first - 1, range.last, target.size);
    const nodes = await readNodes(db, [...plan.left, ...plan.right]);
    const hashOf = (id: { level: number; index: number }) => {
      const h = nodes.get(`${id.level}/${id.index}`);
      if (h === undefined)
        throw new ExportError(`the audit tree has no node (level ${id.level}, index ${id.index})`);
      return base64Encode(h);
    };
    inclusion = { size: target.size, left: plan.left.map(hashOf), right: plan.right.map(hashOf) };
  }

  // The events just outside the period, each with its own inclusion proof.
  const edge = async (seq: number): Promise<BundleEvent | null> => {
    if (seq < 1 || seq > target.size) return null;
    for await (const page of periodEvents(db, { first: seq, last: seq })) {
      const e = page[0];
      if (e === undefined) return null;
      return {
        ...e,
        inclusion: { size: target.size, proof: b64(await inclusionProofAt(db, seq, target.size)) },
      };
    }
    return null;
  };
  const edges: Bundle["edges"] =
    range === null
      ? { before: null, after: null }
      : { before: await edge(range.first - 1), after: await edge(range.last + 1) };

  const opRows =
    operationIds.size === 0
      ? []
      : await db
          .select()
          .from(operations)
          .where(inArray(operations.id, [...operationIds]));
  const bundleOperations: BundleOperation[] = opRows.map((op) => ({
    id: op.id,
    kind: op.kind,
    payload: op.payload,
    initiatorId: op.initiatorId,
    systemInitiator: op.systemInitiator,
    serviceAccountId: op.serviceAccountId,
    createdAt: iso(op.createdAt),
    expiresAt: iso(op.expiresAt),
    policyVersion: op.policyVersion,
    ruleId: op.ruleId,
    digest: op.digest,
    state: op.state,
  }));
  const voteRows =
    voteIds.size === 0
      ? []
      : await db
          .select({ vote: votes, token: tokens })
          .from(votes)
          .innerJoin(tokens, eq(tokens.id, votes.tokenId))
          .where(inArray(votes.id, [...voteIds]))
          .orderBy(asc(votes.castAt), asc(votes.id));
  const bundleVotes: BundleVote[] = voteRows.map(({ vote, token }) => ({
    id: vote.id,
    operationId: vote.operationId,
    voterId: vote.voterId,
    decision: vote.decision,
    nonce: vote.nonce,
    challenge: vote.challenge,
    castAt: iso(vote.castAt),
    assertion: bundleAssertionSchema.parse(vote.assertion),
    credential: {
      id: token.id,
      memberId: token.memberId,
      publicKey: token.publicKey,
      // Tokens registered before migration 0024 have no stored attestation: the verifier says "not recorded".
      registration:
        token.attestationObject !== null && token.registrationClientData !== null
          ? { attestationObject: token.attestationObject, clientDataJSON: token.registrationClientData }
          : null,
    },
  }));

  const registrationEvents = await registrationEventsOf(
    db,
    [...new Set(voteRows.map(({ token }) => token.id))],
    target.size,
  );

  // Policy versions in force during the period (the one in force at its start and every later one up to its
  // end) and those the bundle's operations were proposed under.
  const [inForceAtStart] = await db
    .select({ version: policyVersions.version })
    .from(policyVersions)
    .where(lte(policyVersions.createdAt, o.from))
    .orderBy(desc(policyVersions.version))
    .limit(1);
  const during = await db
    .select({ version: policyVersions.version })
    .from(policyVersions)
    .where(and(sql`${policyVersions.createdAt} > ${o.from}`, lte(policyVersions.createdAt, o.to)));
  const versions = new Set([
    ...(inForceAtStart ? [inForceAtStart.version] : []),
    ...during.map((p) => p.version),
    ...opRows.map((op) => op.policyVersion),
  ]);
  const policyRows =
    versions.size === 0
      ? []
      : await db
          .select()
          .from(policyVersions)
          .where(inArray(policyVersions.version, [...versions]))
          .orderBy(asc(policyVersions.version));

  return {
    format: BUNDLE_FORMAT,
    generatedAt: iso(now),
    period: { from: iso(o.from), to: iso(o.to) },
    log: { origin: audit.origin, verifierKey: target.verifierKey },
    checkpoints: checkpoints.map((c) => ({ size: c.size, note: c.note })),
    consistency,
    keptConsistency,
    inclusion,
    edges,
    events,
    registrationEvents,
    webauthn: { rpId: webauthn.rpId, origins: [webauthn.origin] },
    operations: bundleOperations,
    votes: bundleVotes,
    policies: policyRows.map((p) => ({
      version: p.version,
      digest: p.digest,
      document: p.document,
      createdAt: iso(p.createdAt),
    })),
  };
}
