// What a period report says, read from the database for [from, to): the summary, the key inventory and what
// happened to keys, operations with every vote (who, which token, when, which decision), the policy versions in
// force, membership and role changes, an access review, anomalies, and the log's newest signed checkpoint.
// Read-only. Event lists are capped per section (the CSV export has every event); the cap is stated in the report.
import "server-only";
import { and, asc, desc, eq, gte, inArray, isNull, lt, max, or } from "drizzle-orm";
import type { DbOrTx } from "@/db/client";
import { AUDIT_KEY_LABEL, AUDIT_KEY_REF } from "@/server/audit/checkpoint-key";
import {
  auditCheckpoints,
  keys,
  members,
  operations,
  policyVersions,
  sessions,
  signingFreezes,
  tokens,
  votes,
} from "@/db/schema";
import type { KeyAttestations } from "@/server/hsm";
import {
  type EventSelection,
  type Period,
  periodEventCounts,
  periodEvents,
  type ReportEvent,
} from "./events";
import { type KeyAnomaly, type KeyOnTokenRow, keyAnomalies, keyRowsOnTokens } from "./key-flags";

/** Rows kept per event section of the report (the CSV export carries the whole period). */
export const SECTION_ROWS = 2_000;

/** What the keys table records of a key's exposure; what each HSM token attests of it is in `keys[].hsm`. */
export const EXPOSURE: Record<string, string> = {
  never: "never exportable (CKA_EXTRACTABLE false at creation, as recorded)",
  wrapped: "exportable only wrapped under the backup key (as recorded)",
};

export const ANOMALY_ACTIONS = [
  "auth.sign_in_failed",
  "auth.sign_in_failures_summarised",
  "auth.counter_regressed",
  "access.denied",
  "vote.refused",
  "token.refused",
  "token.step_up_refused",
  "restriction.refused",
  "service_account.refused",
  "installation.go_live_refused",
  "setup.code_failed",
  "signing.frozen",
  "signing.unfrozen",
] as const;

const MEMBERSHIP: EventSelection = {
  prefixes: ["member.", "invitation."],
  actions: ["setup.completed", "token.registered", "token.added", "token.revoked", "session.ended_by_admin"],
};

export type EventRow = {
  seq: number;
  at: Date;
  actor: string;
  action: string;
  subject: string;
  detail: string;
};
export type EventSection = { rows: EventRow[]; total: number };

export type PeriodReport = {
  period: Period;
  generatedAt: Date;
  summary: {
    events: number;
    byAction: { action: string; count: number }[];
    operations: number;
    votes: number;
    keysAtEnd: number;
    keysCreated: number;
    members: number;
    anomalies: number;
    /** Keys whose HSM tokens' answers disagree with their record (`keyAnomalies`). */
    keyAnomalies: number;
  };
  checkpoint: {
    size: number;
    signedAt: Date;
    verifierKey: string;
    note: string;
    /** What each HSM token attests of the audit key that signs checkpoints; null: not asked. */
    auditKeyHsm: KeyOnTokenRow[] | null;
  } | null;
  /** The HSM tokens as the status check saw them when the report was generated; null: not asked or no answer. */
  hsmTokens: HsmTokenIdentity[] | null;
  /** When the tokens were asked about the keys, and each token's vendor attestation; null: not asked. */
  hsmAttestation: {
    checkedAt: Date;
    tokens: { label: string; serial: string | null; vendorAttestation: string; note: string | null }[];
    error: string | null;
  } | null;
  keys: {
    id: string;
    label: string;
    curve: string;
    state: string;
    exportable: string;
    exposure: string;
    createdAt: Date;
    stateChangedAt: Date;
    /** What each HSM token attests of the key's private half, in the order of hsmAttestation.tokens; null: not asked. */
    hsm: KeyOnTokenRow[] | null;
  }[];
  /** Keys whose tokens' answers disagree with what Keyward recorded (key-flags.ts). */
  keyAnomalies: KeyAnomaly[];
  keyEvents: EventSection;
  operations: {
    id: string;
    kind: string;
    state: string;
    initiator: string;
    policyVersion: number;
    createdAt: Date;
    decidedAt: Date | null;
    executedAt: Date | null;
    votes: {
      voter: string;
      voterId: string;
      token: string;
      tokenId: string;
      decision: string;
      castAt: Date;
    }[];
  }[];
  policies: {
    version: number;
    digest: string;
    createdAt: Date;
    createdBy: string;
    inForceUntil: Date | null;
  }[];
  membership: EventSection;
  access: {
    id: string;
    name: string;
    roles: string[];
    groups: string[];
    status: string;
    lastSignIn: Date | null;
    tokens: {
      id: string;
      nickname: string;
      createdAt: Date;
      lastUsedAt: Date | null;
      revokedAt: Date | null;
    }[];
  }[];
  anomalies: EventSection;
  freezes: {
    frozenAt: Date;
    frozenBy: string;
    tokenId: string;
    reason: string | null;
    liftedAt: Date | null;
  }[];
};

export type HsmTokenIdentity = {
  label: string;
  role: string;
  state: string;
  serial: string | null;
  /** Manufacturer and model, when the token answered. */
  model: string | null;
};

type Names = Map<string, string>;

function actorName(names: Names, actor: string): string {
  if (!actor.startsWith("member:")) return actor;
  const name = names.get(actor.slice("member:".length));
  return name === undefined ? actor : `${name} (${actor})`;
}

function rowOf(names: Names, e: ReportEvent): EventRow {
  const detail = JSON.stringify(e.data);
  return {
    seq: e.seq,
    at: e.at,
    actor: actorName(names, e.actor),
    action: e.action,
    subject: e.subject,
    detail: detail.length > 300 ? `${detail.slice(0, 297)}...` : detail,
  };
}

async function section(db: DbOrTx, period: Period, sel: EventSelection, names: Names): Promise<EventSection> {
  const rows: EventRow[] = [];
  let total = 0;
  for await (const page of periodEvents(db, period, sel)) {
    total += page.length;
    for (const e of page) if (rows.length < SECTION_ROWS) rows.push(rowOf(names, e));
  }
  return { rows, total };
}

/** Asks every HSM token about these key references (server/hsm keyAttestations). */
export type AttestKeys = (refs: string[]) => Promise<KeyAttestations>;

/**
 * The report for [from, to), as the database holds it at `now`, with the HSM tokens' identity and what each
 * token attests of every key in the inventory (`attest`, asked once for all of them) when given.
 */
export async function periodReport(
  db: DbOrTx,
  period: Period,
  now: Date,
  hsmTokens: HsmTokenIdentity[] | null = null,
  attest: AttestKeys | null = null,
  /** Told the period's event count as soon as it is known (the download's progress). */
  onCounted?: (events: number) => void,
): Promise<PeriodReport> {
  const { from, to } = period;
  const people = await db
    .select()
    .from(members)
    .where(lt(members.createdAt, to))
    .orderBy(asc(members.name), asc(members.id));
  const names: Names = new Map(people.map((m) => [m.id, m.name]));
  const nameOf = (id: string | null) => (id === null ? "system" : (names.get(id) ?? id));

  const counts = await periodEventCounts(db, period);
  onCounted?.(counts.total);
  const [checkpoint] = await db.select().from(auditCheckpoints).orderBy(desc(auditCheckpoints.size)).limit(1);

  const keyRows = await db
    .select()
    .from(keys)
    .where(lt(keys.createdAt, to))
    .orderBy(asc(keys.createdAt), asc(keys.id));

  // The HSM's answers for every key at once (batched in server/hsm); a failure as a whole leaves them out.
  const attested =
    attest === null
      ? null
      : await attest([...keyRows.map((k) => k.hsmRef), AUDIT_KEY_REF]).catch((e: unknown) => {
          console.error("Keyward: period report: the HSM could not be asked about the keys", e);
          return null;
        });
  const inventory = keyRows.map((k) => ({
    id: k.id,
    label: k.label,
    curve: k.curve,
    state: k.state,
    exportable: k.exportable,
    exposure: EXPOSURE[k.exportable] ?? k.exportable,
    createdAt: k.createdAt,
    stateChangedAt: k.stateChangedAt,
    hsm: keyRowsOnTokens(attested, k.hsmRef),
  }));
  // The audit key is a never-exportable key like the custody keys: the same expectations hold for it, once it
  // has signed a checkpoint (before that it need not exist yet).
  const auditKeyHsm = checkpoint === undefined ? null : keyRowsOnTokens(attested, AUDIT_KEY_REF);
  const auditKeyRecord = { id: "audit key", label: AUDIT_KEY_LABEL, state: "active", exportable: "never" };
  const flagged = [
    ...inventory.flatMap((k) => (k.hsm === null ? [] : keyAnomalies(k, k.hsm))),
    ...(auditKeyHsm === null ? [] : keyAnomalies(auditKeyRecord, auditKeyHsm)),
  ];

  const ops = await db
    .select()
    .from(operations)
    .where(
      or(
        and(gte(operations.createdAt, from), lt(operations.createdAt, to)),
        and(gte(operations.decidedAt, from), lt(operations.decidedAt, to)),
      ),
    )
    .orderBy(asc(operations.createdAt), asc(operations.id));
  const opIds = ops.map((o) => o.id);
  const voteRows =
    opIds.length === 0
      ? []
      : await db
          .select({
            operationId: votes.operationId,
            voterId: votes.voterId,
            tokenId: votes.tokenId,
            token: tokens.nickname,
            decision: votes.decision,
            castAt: votes.castAt,
          })
          .from(votes)
          .innerJoin(tokens, eq(tokens.id, votes.tokenId))
          .where(inArray(votes.operationId, opIds))
          .orderBy(asc(votes.castAt));

  // In force during the period: the newest version made before it starts, and every one made during it.
  const versions = await db
    .select()
    .from(policyVersions)
    .where(lt(policyVersions.createdAt, to))
    .orderBy(asc(policyVersions.version));
  const policies = versions
    .map((v, i) => ({ v, until: versions[i + 1]?.createdAt ?? null }))
    .filter(({ until }) => until === null || until > from)
    .map(({ v, until }) => ({
      version: v.version,
      digest: v.digest,
      createdAt: v.createdAt,
      createdBy: v.createdBy === null ? "setup (seed)" : nameOf(v.createdBy),
      inForceUntil: until,
    }));

  const tokenRows = await db
    .select()
    .from(tokens)
    .where(lt(tokens.createdAt, to))
    .orderBy(asc(tokens.createdAt));
  const signIns = await db
    .select({ memberId: sessions.memberId, last: max(sessions.createdAt) })
    .from(sessions)
    .where(lt(sessions.createdAt, to))
    .groupBy(sessions.memberId);
  const lastSignIn = new Map(signIns.map((s) => [s.memberId, s.last]));

  const freezes = await db
    .select()
    .from(signingFreezes)
    .where(
      and(
        lt(signingFreezes.frozenAt, to),
        or(isNull(signingFreezes.liftedAt), gte(signingFreezes.liftedAt, from)),
      ),
    )
    .orderBy(asc(signingFreezes.frozenAt));

  const keyEvents = await section(db, period, { prefixes: ["key."] }, names);
  const membership = await section(db, period, MEMBERSHIP, names);
  const anomalies = await section(db, period, { actions: ANOMALY_ACTIONS }, names);

  return {
    period,
    generatedAt: now,
    summary: {
      events: counts.total,
      byAction: counts.byAction,
      operations: ops.length,
      votes: voteRows.length,
      keysAtEnd: keyRows.length,
      keysCreated: keyRows.filter((k) => k.createdAt >= from).length,
      members: people.length,
      anomalies: anomalies.total,
      keyAnomalies: new Set(flagged.map((a) => a.keyId)).size,
    },
    checkpoint:
      checkpoint === undefined
        ? null
        : {
            size: checkpoint.size,
            signedAt: checkpoint.signedAt,
            verifierKey: checkpoint.verifierKey,
            note: checkpoint.note,
            auditKeyHsm,
          },
    hsmTokens,
    hsmAttestation:
      attested === null
        ? null
        : {
            checkedAt: attested.checkedAt,
            tokens: attested.tokens.map((t) => ({
              label: t.label,
              serial: t.serial,
              vendorAttestation: t.vendorAttestation,
              note: t.note,
            })),
            error: attested.error,
          },
    keys: inventory,
    keyAnomalies: flagged,
    keyEvents,
    operations: ops.map((o) => ({
      id: o.id,
      kind: o.kind,
      state: o.state,
      initiator: o.systemInitiator ?? nameOf(o.initiatorId),
      policyVersion: o.policyVersion,
      createdAt: o.createdAt,
      decidedAt: o.decidedAt,
      executedAt: o.executedAt,
      votes: voteRows
        .filter((v) => v.operationId === o.id)
        .map((v) => ({
          voter: nameOf(v.voterId),
          voterId: v.voterId,
          token: v.token,
          tokenId: v.tokenId,
          decision: v.decision,
          castAt: v.castAt,
        })),
    })),
    policies,
    membership,
    access: people.map((m) => ({
      id: m.id,
      name: m.name,
      roles: [...m.roles],
      groups: [...m.groups],
      status: m.status,
      lastSignIn: lastSignIn.get(m.id) ?? null,
      tokens: tokenRows
        .filter((t) => t.memberId === m.id)
        .map((t) => ({
          id: t.id,
          nickname: t.nickname,
          createdAt: t.createdAt,
          lastUsedAt: t.lastUsedAt,
          revokedAt: t.revokedAt !== null && t.revokedAt < to ? t.revokedAt : null,
        })),
    })),
    anomalies,
    freezes: freezes.map((f) => ({
      frozenAt: f.frozenAt,
      frozenBy: nameOf(f.frozenBy),
      tokenId: f.tokenId,
      reason: f.reason,
      liftedAt: f.liftedAt !== null && f.liftedAt < to ? f.liftedAt : null,
    })),
  };
}
