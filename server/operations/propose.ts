// Proposing an operation: the kind's payload is validated, the operation stored pending with its digest, the
// policy version and rule it is judged under and its expiry, with operation.proposed, then judged under the
// policy in force, in one transaction. A denied proposal throws, and its transaction (or savepoint) rolls the
// row and its record back: it writes nothing.
import "server-only";
import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import type { Db, Tx } from "@/db/client";
import { keys, operations } from "@/db/schema";
import type { SystemInitiator } from "@/db/schema/operations";
import { appendAudit } from "@/server/audit/append";
import { allowListEntriesOf } from "@/server/allowlists/store";
import { chainConfig } from "@/server/chains/current";
import { AppError } from "@/server/errors";
import { eligibleMembers } from "@/server/governance/members-snapshot";
import type { Acting } from "@/server/members/guards";
import { DEFAULT_POLICY } from "@/server/policy/document";
import { expiresAt, matchRule } from "@/server/policy/evaluate";
import { memberWithRole } from "./actors";
import { operationDigest } from "./digest";
import { proposedBackup, proposedHsm } from "@/server/backups/propose-facts";
import { chainClients } from "@/server/chains/registry";
import { freezeInForce } from "./freeze";
import { membershipReader } from "@/server/members/membership-steps";
import { readSpeedUpTarget } from "@/server/withdrawals/speedup-target";
import { operationKind, type ProposeReader, type RegisteredKind } from "./kinds";
import { allowListsFor, judgeWith, policyOperation } from "./judgement";
import { parseInput } from "./parse-input";
import { policyInForce, seedPolicy } from "./policy-store";
import { settledRow } from "./settle";
import { type OperationRow, operationSubject } from "./transitions";

/** What a kind may read while proposed: one key, in the states the kind can be proposed for. */
function proposeReader(tx: Tx): ProposeReader {
  return {
    async key(id, states) {
      const [row] = await tx
        .select({
          id: keys.id,
          label: keys.label,
          tags: keys.tags,
          state: keys.state,
          curve: keys.curve,
          exportable: keys.exportable,
          publicKey: keys.publicKey,
        })
        .from(keys)
        .where(eq(keys.id, id));
      if (!row) throw new AppError("NOT_FOUND", `payload.keyId: no key ${id}.`, { field: "payload.keyId" });
      if (!states.includes(row.state)) {
        throw new AppError(
          "CONFLICT",
          `The key “${row.label}” is ${row.state}; this operation needs it ${states.join(" or ")}.`,
        );
      }
      return row;
    },
    async successorOf(keyId) {
      const [row] = await tx
        .select({
          id: keys.id,
          label: keys.label,
          tags: keys.tags,
          state: keys.state,
          curve: keys.curve,
          exportable: keys.exportable,
          publicKey: keys.publicKey,
        })
        .from(keys)
        .where(eq(keys.predecessorId, keyId))
        .limit(1);
      return row ?? null;
    },
    signingFreeze: () => freezeInForce(tx),
    backup: (ref) => proposedBackup(tx, ref),
    hsm: proposedHsm,
    // Before any version was seeded, what seeding will write (storeProposal seeds it in this transaction).
    policyInForce: async () =>
      (await policyInForce(tx)) ?? { version: DEFAULT_POLICY.version, document: DEFAULT_POLICY },
    eligibleMembers: () => eligibleMembers(tx),
    members: membershipReader(tx),
    chainClients,
    chains: chainConfig,
    allowList: (list, chain) => allowListEntriesOf(tx, list, chain),
    speedUpTarget: (operationId) => readSpeedUpTarget(tx, operationId, { lock: true }),
  };
}

export async function proposeOperation(
  db: Db,
  input: { actor: Acting; kind: string; payload: unknown; now: Date },
): Promise<OperationRow> {
  const kind = operationKind(input.kind);
  if (!kind)
    throw new AppError("BAD_INPUT", `kind: Keyward has no operation kind "${input.kind}".`, {
      field: "kind",
    });
  const proposal = parseInput("payload", kind.parseProposal, input.payload);
  return db.transaction(async (tx) => {
    const initiator = await memberWithRole(tx, input.actor.id, kind.proposers, `propose ${kind.kind}`);
    // A kind about an existing key completes its payload from the key as it is now (key.resume: its tags).
    const payload = await kind.prepare(proposal, proposeReader(tx));
    return storeProposal(tx, { kind, payload, initiator: { memberId: initiator.id }, now: input.now });
  });
}

/**
 * An operation Keyward proposes itself (a due rotation, scheduler/): judged, stored and audited exactly as a
 * member's proposal, in the caller's transaction, with `systemInitiator` instead of a member (actor "system").
 * It still needs its quorum; with no initiator, every approver may vote on it.
 */
export async function proposeAsSystem(
  tx: Tx,
  input: { system: SystemInitiator; kind: string; payload: unknown; now: Date },
): Promise<OperationRow> {
  const kind = operationKind(input.kind);
  if (!kind) throw new AppError("INTERNAL", `Keyward has no operation kind "${input.kind}".`);
  const payload = await kind.prepare(kind.parseProposal(input.payload), proposeReader(tx));
  return storeProposal(tx, { kind, payload, initiator: { system: input.system }, now: input.now });
}

/**
 * An operation a service account proposes over the HTTP API (server/service-accounts/): validated, judged,
 * stored and audited exactly as a member's proposal, in the caller's transaction (which also records the
 * Idempotency-Key), with `serviceAccountId` as its initiator (actor "service:<id>"). The caller has
 * authenticated the account and checked its scope; every approver may vote on it.
 */
export async function proposeAsService(
  tx: Tx,
  input: { serviceAccountId: string; kind: string; payload: unknown; now: Date },
): Promise<OperationRow> {
  const kind = operationKind(input.kind);
  if (!kind)
    throw new AppError("BAD_INPUT", `kind: Keyward has no operation kind "${input.kind}".`, {
      field: "kind",
    });
  const proposal = parseInput("payload", kind.parseProposal, input.payload);
  const payload = await kind.prepare(proposal, proposeReader(tx));
  return storeProposal(tx, {
    kind,
    payload,
    initiator: { serviceAccountId: input.serviceAccountId },
    now: input.now,
  });
}

async function storeProposal(
  tx: Tx,
  input: {
    kind: RegisteredKind;
    payload: unknown;
    initiator: { memberId: string } | { system: SystemInitiator } | { serviceAccountId: string };
    now: Date;
  },
): Promise<OperationRow> {
  const { kind, payload } = input;
  const initiatorId = "memberId" in input.initiator ? input.initiator.memberId : null;
  const systemInitiator = "system" in input.initiator ? input.initiator.system : null;
  const serviceAccountId = "serviceAccountId" in input.initiator ? input.initiator.serviceAccountId : null;
  const policy = (await policyInForce(tx)) ?? (await seedPolicy(tx, input.now));
  const id = randomUUID();
  const proposed = {
    id,
    kind: kind.kind,
    payload,
    initiatorId,
    systemInitiator,
    serviceAccountId,
    quorumAt: null,
  };
  const facts = { kind: kind.kind, ...kind.facts(payload) };
  const allowLists = await allowListsFor(tx, policy.document, facts);
  const { rule } = matchRule(policy.document, facts, allowLists);
  // The rule it is judged under, as the judgement below finds it (same operation, document and lists).
  const { ruleId } = matchRule(policy.document, policyOperation(proposed), allowLists);
  const createdAt = input.now;
  const row = {
    id,
    kind: kind.kind,
    payload,
    initiatorId,
    systemInitiator,
    serviceAccountId,
    createdAt,
    expiresAt: expiresAt(rule, createdAt),
    policyVersion: policy.version,
    ruleId,
  };
  const digest = operationDigest(row);
  const [stored] = await tx
    .insert(operations)
    .values({ ...row, state: "pending", digest })
    .returning();
  if (!stored) throw new AppError("INTERNAL", "Could not store the operation.");
  await appendAudit(tx, {
    action: "operation.proposed",
    actor:
      initiatorId !== null
        ? `member:${initiatorId}`
        : serviceAccountId !== null
          ? `service:${serviceAccountId}`
          : "system",
    subject: operationSubject(id),
    at: input.now,
    data: {
      operationId: id,
      kind: kind.kind,
      digest,
      policyVersion: policy.version,
      ruleId,
      expiresAt: row.expiresAt.toISOString(),
      ...(systemInitiator !== null ? { systemInitiator } : {}),
      ...(serviceAccountId !== null ? { serviceAccountId } : {}),
    },
  });
  // Judged by the full policy with no votes: a deny rule, a closed window that denies, a velocity cap it
  // exceeds (on its own or with what counts already) or a destination off the allow-list refuse it now. Judged
  // after its row and record are written, so the velocity locks the judgement takes (velocity-lock.ts: held
  // from reading what counts to the commit) are held as briefly as the transaction allows. A refusal throws:
  // the caller's transaction, or savepoint, rolls the row and its record back (every caller does).
  const judged = await judgeWith(tx, {
    op: proposed,
    cast: [],
    policy: policy.document,
    now: input.now,
    lockVelocity: true,
    allowLists,
  });
  if (judged.decision === "denied") {
    throw new AppError(
      "CONFLICT",
      `The policy in force refuses this operation (rule ${judged.ruleId}): ${judged.reasons.join("; ")}.`,
    );
  }
  if (judged.ruleId !== ruleId)
    throw new AppError("INTERNAL", `Judged under rule ${judged.ruleId}, stored under ${ruleId}.`);
  // A rule that approves automatically (server/policy: "automatic": true, under its velocity caps) is met with no
  // vote: the operation moves on here, in its proposing transaction and under the velocity locks judgeWith took,
  // exactly as a last vote would move it (approved, or waiting for its delay or window).
  if (judged.decision === "pending") return stored;
  return settledRow(tx, stored, judged, { actor: "system", at: input.now });
}
