// Every audit event Keyward writes: one discriminated union, named resource.verb, each with its own payload.
// Payloads are plain JSON (no Date, no bigint): they are canonicalised (RFC 8785) and hashed.
import { z } from "zod";
import { ROLES } from "@/db/schema/members";
import { KEY_STATES, SYSTEM_INITIATORS } from "@/db/schema/operations";
import { SERVICE_SCOPES } from "@/db/schema/service-accounts";
import { CREDENTIAL_ID_MAX } from "@/server/auth/schemas";

const id = z.string().min(1);
const roles = z.array(z.enum(ROLES));
const groups = z.array(z.string());
const uuidId = z.string().uuid();
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);
// What binds a token's credential key and registration to the log (an evidence bundle carries them and
// proves this event): SHA-256 hex of the COSE public key and of the registration response's attestationObject
// and clientDataJSON, each over the bytes as stored (base64url-decoded). Optional: events written before they
// were recorded have none; every new token.registered and token.added carries them.
const tokenDigests = {
  publicKeyDigest: sha256Hex.optional(),
  attestationObjectDigest: sha256Hex.optional(),
  clientDataDigest: sha256Hex.optional(),
};
// A quorum tally as recorded when an operation is decided: one row per required group.
const tally = z
  .array(z.object({ group: z.string().max(64), needed: z.number().int(), approvals: z.number().int() }))
  .max(16);

export const auditEventSchema = z.discriminatedUnion("action", [
  z.object({
    action: z.literal("setup.code_issued"),
    data: z.object({ setupCodeId: id, expiresAt: z.string() }),
  }),
  z.object({
    action: z.literal("setup.code_failed"),
    data: z.object({ setupCodeId: id.nullable(), failedAttempts: z.number().int(), voided: z.boolean() }),
  }),
  z.object({ action: z.literal("setup.completed"), data: z.object({ memberId: id, credentialId: id }) }),
  z.object({
    action: z.literal("invitation.created"),
    // operationId: set when a member.invite operation created it (Keyward live, server/operations/kinds/member-invite.ts).
    data: z.object({
      invitationId: id,
      name: z.string(),
      roles,
      groups,
      expiresAt: z.string(),
      operationId: uuidId.optional(),
    }),
  }),
  // reason: set when the revocation follows from the creator's suspension or demotion (absent when an admin
  // revoked the invitation by hand, and in events written before reasons were recorded).
  z.object({
    action: z.literal("invitation.revoked"),
    data: z.object({ invitationId: id, reason: z.enum(["creator-suspended", "creator-demoted"]).optional() }),
  }),
  z.object({ action: z.literal("invitation.accepted"), data: z.object({ invitationId: id, memberId: id }) }),
  z.object({
    action: z.literal("member.updated"),
    // operationId: set when a member.update operation made the change (Keyward live).
    data: z.object({
      memberId: id,
      roles,
      groups,
      previousRoles: roles,
      previousGroups: groups,
      operationId: uuidId.optional(),
    }),
  }),
  z.object({
    action: z.literal("member.suspended"),
    data: z.object({ memberId: id, sessionsEnded: z.number().int() }),
  }),
  // operationId: set when a member.reinstate operation reactivated the member (Keyward live).
  z.object({
    action: z.literal("member.reactivated"),
    data: z.object({ memberId: id, operationId: uuidId.optional() }),
  }),
  z.object({
    action: z.literal("token.registered"),
    data: z.object({
      memberId: id,
      credentialId: id,
      aaguid: z.string(),
      attestationFormat: z.string(),
      transports: z.array(z.string()),
      ...tokenDigests,
    }),
  }),
  z.object({
    action: z.literal("token.refused"),
    // Anonymous when it refuses a newcomer: every field bounded, so refusals cannot bloat the trail.
    data: z.object({
      reason: z.string().max(40),
      aaguid: z.string().max(36).nullable(),
      purpose: z.string().max(20),
    }),
  }),
  z.object({
    action: z.literal("token.revoked"),
    // operationId: set when a token.revoke operation revoked another member's token (Keyward live).
    data: z.object({
      memberId: id,
      credentialId: id,
      sessionsEnded: z.number().int(),
      operationId: uuidId.optional(),
    }),
  }),
  z.object({ action: z.literal("auth.signed_in"), data: z.object({ sessionId: id, credentialId: id }) }),
  z.object({
    action: z.literal("auth.sign_in_failed"),
    // Anonymous and aggregated (server/auth/failure-events.ts): one per credential, reason and minute.
    data: z.object({
      reason: z.string().max(40),
      credentialId: z.string().max(CREDENTIAL_ID_MAX).nullable(),
    }),
  }),
  z.object({
    action: z.literal("auth.counter_regressed"),
    data: z.object({
      credentialId: id.max(CREDENTIAL_ID_MAX),
      storedCounter: z.number(),
      receivedCounter: z.number(),
    }),
  }),
  z.object({ action: z.literal("session.ended"), data: z.object({ sessionId: id, reason: z.string() }) }),
  // The sign-in failures that got no event of their own (repeats per credential, reason and minute), per closed minutes.
  z.object({
    action: z.literal("auth.sign_in_failures_summarised"),
    data: z.object({
      from: z.string().max(30),
      to: z.string().max(30),
      repeats: z.number().int().nonnegative(),
      credentials: z.number().int().nonnegative(),
      byReason: z.record(z.string().max(40), z.number().int()).refine((r) => Object.keys(r).length <= 16),
    }),
  }),
  z.object({
    action: z.literal("access.denied"),
    data: z.object({
      memberId: id.max(64),
      procedure: z.string().min(1).max(100),
      requiredRoles: roles.max(4),
    }),
  }),
  // Adding a token: a step-up by one of the member's own live tokens approves one addition, which then adds it.
  z.object({
    action: z.literal("token.step_up_approved"),
    data: z.object({ memberId: id, additionId: id, credentialId: id.max(CREDENTIAL_ID_MAX) }),
  }),
  z.object({
    action: z.literal("token.step_up_refused"),
    data: z.object({
      memberId: id,
      additionId: id.max(64).nullable(),
      reason: z.string().max(64),
      credentialId: z.string().max(CREDENTIAL_ID_MAX).nullable(),
    }),
  }),
  z.object({
    action: z.literal("token.added"),
    data: z.object({
      memberId: id,
      credentialId: id,
      additionId: id,
      approvedBy: id,
      aaguid: z.string(),
      attestationFormat: z.string(),
      transports: z.array(z.string()),
      ...tokenDigests,
    }),
  }),
  z.object({
    action: z.literal("session.ended_by_admin"),
    data: z.object({ memberId: id, sessionsEnded: z.number().int() }),
  }),
  // Quorum operations (server/operations/): the policy in force, each operation's transitions, its votes, keys.
  // Every field is bounded: a proposal or a refused vote must not be able to bloat the append-only trail.
  z.object({
    action: z.literal("policy.seeded"),
    data: z.object({ version: z.number().int(), digest: sha256Hex }),
  }),
  z.object({
    action: z.literal("policy.updated"),
    // operationId: the policy.update operation whose execution appended it (absent for a change made directly).
    data: z.object({
      version: z.number().int(),
      digest: sha256Hex,
      previousVersion: z.number().int(),
      operationId: uuidId.optional(),
    }),
  }),
  z.object({
    action: z.literal("operation.proposed"),
    data: z.object({
      operationId: uuidId,
      kind: z.string().min(1).max(64),
      digest: sha256Hex,
      policyVersion: z.number().int(),
      ruleId: z.string().max(128),
      expiresAt: z.string().max(30),
      /** Present when Keyward proposed it itself (a due rotation): the actor is then "system". */
      systemInitiator: z.enum(SYSTEM_INITIATORS).optional(),
      /** Present when a service account proposed it over the HTTP API: the actor is then "service:<id>". */
      serviceAccountId: uuidId.optional(),
    }),
  }),
  z.object({
    action: z.literal("vote.cast"),
    data: z.object({
      operationId: uuidId,
      voteId: uuidId,
      voterId: uuidId,
      decision: z.enum(["approve", "reject", "veto"]),
      credentialId: id.max(CREDENTIAL_ID_MAX),
    }),
  }),
  z.object({
    action: z.literal("vote.refused"),
    data: z.object({
      operationId: z.string().max(64).nullable(),
      voterId: uuidId,
      decision: z.enum(["approve", "reject", "veto"]).nullable(),
      reason: z.string().max(64),
      credentialId: z.string().max(CREDENTIAL_ID_MAX).nullable(),
    }),
  }),
  z.object({
    action: z.literal("operation.approved"),
    data: z.object({
      operationId: uuidId,
      ruleId: z.string().max(128),
      tally,
      votesCounted: z.number().int(),
    }),
  }),
  // Its votes met the rule but it is not approved yet: a delay runs (vetoGroup may veto until `until`), its
  // window is closed, or a velocity cap is full (`until` null: re-checked periodically). Written again when
  // judged again and still held (a new `until` or hold).
  z.object({
    action: z.literal("operation.waiting"),
    data: z.object({
      operationId: uuidId,
      ruleId: z.string().max(128),
      until: z.string().max(30).nullable(),
      hold: z.enum(["delay", "window", "velocity"]),
      vetoGroup: z.string().max(64).nullable(),
      reasons: z.array(z.string().max(500)).max(16),
    }),
  }),
  z.object({
    action: z.literal("operation.rejected"),
    data: z.object({
      operationId: uuidId,
      ruleId: z.string().max(128),
      tally,
      votesCounted: z.number().int(),
    }),
  }),
  z.object({
    action: z.literal("operation.cancelled"),
    // The reason given (required when an admin cancels what Keyward proposed), bounded like the form's.
    data: z.object({ operationId: uuidId, reason: z.string().max(500).optional() }),
  }),
  // An open operation judged again under a new policy version (server/governance/rejudge.ts): the rule it falls
  // under before and after, and what became of it. Its digest and its recorded policy_version/rule_id never change.
  z.object({
    action: z.literal("operation.rejudged"),
    data: z.object({
      operationId: uuidId,
      fromVersion: z.number().int(),
      toVersion: z.number().int(),
      fromRule: z.string().max(128),
      toRule: z.string().max(128),
      outcome: z.enum(["kept", "approved", "waiting", "rejected", "cancelled"]),
      cause: z.enum(["policy", "membership"]),
      reasons: z.array(z.string().max(500)).max(16),
    }),
  }),
  z.object({
    action: z.literal("operation.expired"),
    data: z.object({ operationId: uuidId, expiresAt: z.string().max(30) }),
  }),
  z.object({
    action: z.literal("operation.executing"),
    data: z.object({ operationId: uuidId, attempt: z.number().int() }),
  }),
  z.object({
    action: z.literal("operation.executed"),
    data: z.object({ operationId: uuidId, attempts: z.number().int() }),
  }),
  z.object({
    action: z.literal("operation.failed"),
    data: z.object({ operationId: uuidId, attempts: z.number().int(), reason: z.string().max(1000) }),
  }),
  // A withdrawal's signed transaction sent to its chain's node once its operation executed, and what became of it
  // (server/withdrawals/broadcast.ts). refused: the node's refusal in words (still tracked, never rebuilt).
  z.object({
    action: z.literal("withdrawal.broadcast"),
    data: z.object({
      operationId: uuidId,
      withdrawalId: uuidId,
      chain: z.string().max(40),
      txid: z.string().max(200),
      refused: z.string().max(1000).nullable(),
    }),
  }),
  z.object({
    action: z.literal("withdrawal.confirmed"),
    data: z.object({
      operationId: uuidId,
      withdrawalId: uuidId,
      chain: z.string().max(40),
      txid: z.string().max(200),
      block: z.string().max(200),
      // The block's number (Ethereum block number, Bitcoin height, Solana slot); absent in events before it was kept.
      blockNumber: z.number().int().optional(),
      confirmations: z.number().int(),
    }),
  }),
  // The block a broadcast withdrawal was seen in left the chain (a reorganisation) before it reached the configured
  // confirmations: block, blockNumber and confirmations are what was seen before; now is where the chain holds the
  // same transaction now (null: in no block; it is tracked on as broadcast and, if the node lost it, the same signed
  // bytes are sent again — never a new transaction).
  z.object({
    action: z.literal("withdrawal.reorged"),
    data: z.object({
      operationId: uuidId,
      withdrawalId: uuidId,
      chain: z.string().max(40),
      txid: z.string().max(200),
      block: z.string().max(200),
      blockNumber: z.number().int().nullable(),
      confirmations: z.number().int(),
      now: z
        .object({
          block: z.string().max(200),
          blockNumber: z.number().int(),
          confirmations: z.number().int(),
        })
        .nullable(),
    }),
  }),
  z.object({
    action: z.literal("withdrawal.failed"),
    data: z.object({
      operationId: uuidId,
      withdrawalId: uuidId,
      chain: z.string().max(40),
      txid: z.string().max(200),
      block: z.string().max(200),
      reason: z.string().max(1000),
    }),
  }),
  z.object({
    action: z.literal("withdrawal.dead"),
    data: z.object({
      operationId: uuidId,
      withdrawalId: uuidId,
      chain: z.string().max(40),
      txid: z.string().max(200),
      reason: z.string().max(1000),
    }),
  }),
  z.object({
    action: z.literal("operation.recovered"),
    data: z.object({ operationId: uuidId, attempts: z.number().int(), executingSince: z.string().max(30) }),
  }),
  z.object({
    action: z.literal("key.created"),
    data: z.object({
      keyId: uuidId,
      operationId: uuidId,
      label: z.string().max(200),
      curve: z.string().max(20),
      tags: z.array(z.string().max(64)).max(32),
      exportable: z.enum(["never", "wrapped"]),
      hsmRef: z.string().max(128),
      publicKey: z.string().max(1024),
      /** Present only for a key made in pre-activation (key.create's preActivation); absent: active. */
      state: z.literal("pre-activation").optional(),
    }),
  }),
  // Restricting is immediate (server/operations/restrict.ts): one tap by an admin or approver, no quorum.
  z.object({
    action: z.literal("key.suspended"),
    data: z.object({
      keyId: uuidId,
      memberId: uuidId,
      credentialId: id.max(CREDENTIAL_ID_MAX),
      previousState: z.string().max(20),
    }),
  }),
  z.object({
    action: z.literal("restriction.refused"),
    data: z.object({
      memberId: uuidId,
      action: z.string().max(32),
      target: z.string().max(64),
      reason: z.string().max(64),
      credentialId: z.string().max(CREDENTIAL_ID_MAX).nullable(),
    }),
  }),
  // Loosening needs the quorum: a key.resume operation, recorded with its execution.
  z.object({ action: z.literal("key.resumed"), data: z.object({ keyId: uuidId, operationId: uuidId }) }),
  // A key made in pre-activation becomes active: a key.activate operation, recorded with its execution.
  z.object({ action: z.literal("key.activated"), data: z.object({ keyId: uuidId, operationId: uuidId }) }),
  // The key lifecycle kinds (server/operations/kinds/key-{revoke,destroy,rotate}.ts), each with its execution.
  z.object({
    action: z.literal("key.revoked"),
    data: z.object({
      keyId: uuidId,
      operationId: uuidId,
      reason: z.string().max(500),
      previousState: z.enum(KEY_STATES),
    }),
  }),
  z.object({
    action: z.literal("key.destruction_scheduled"),
    data: z.object({
      keyId: uuidId,
      operationId: uuidId,
      waitingDays: z.number().int(),
      destroyAfter: z.string().max(30),
      previousState: z.enum(KEY_STATES),
      jobId: uuidId,
    }),
  }),
  // Cancelling keeps a key, so it is immediate (one fresh tap, like a suspension): the key comes back suspended.
  z.object({
    action: z.literal("key.destruction_cancelled"),
    data: z.object({
      keyId: uuidId,
      memberId: uuidId,
      credentialId: id.max(CREDENTIAL_ID_MAX),
      operationId: uuidId,
      destroyAfter: z.string().max(30),
      state: z.enum(KEY_STATES),
    }),
  }),
  z.object({
    action: z.literal("key.destroyed"),
    data: z.object({
      keyId: uuidId,
      operationId: uuidId,
      hsmRef: z.string().max(128),
      /** The tokens the key was destroyed on, and those that no longer held it (gone counts as done). */
      destroyed: z.array(z.string().max(64)).max(64),
      absent: z.array(z.string().max(64)).max(64),
      previousState: z.enum(KEY_STATES),
    }),
  }),
  // Written twice, on the old key's subject and on the successor's.
  z.object({
    action: z.literal("key.rotated"),
    data: z.object({
      keyId: uuidId,
      predecessorId: uuidId,
      operationId: uuidId,
      label: z.string().max(200),
      curve: z.string().max(20),
      tags: z.array(z.string().max(64)).max(32),
      exportable: z.enum(["never", "wrapped"]),
      hsmRef: z.string().max(128),
      publicKey: z.string().max(1024),
    }),
  }),
  // A rotation sweep (server/withdrawals/rotation-sweep.ts) that proposed nothing for one asset of the old key, or
  // for a whole chain (asset null): no chain client to read balances with, nothing left after the fee, the
  // proposal refused (policy, allow-list, bad input). On the old key's subject, actor system.
  z.object({
    action: z.literal("key.sweep_skipped"),
    data: z.object({
      keyId: uuidId,
      successorId: uuidId,
      chain: z.enum(["bitcoin", "ethereum", "solana"]),
      asset: z.string().max(32).nullable(),
      reason: z.string().max(1000),
    }),
  }),
  // A withdrawal's transaction signed by the executor (server/withdrawals/store.ts), in the transaction that marks
  // its operation executed: the decoded signed transaction (amounts as decimal strings) and its hash.
  // Someone took the signed transaction away as a file (no node configured to broadcast it): who, and which one.
  z.object({
    action: z.literal("withdrawal.downloaded"),
    data: z.object({
      operationId: uuidId,
      withdrawalId: uuidId,
      chain: z.enum(["bitcoin", "ethereum", "solana"]),
      txid: z.string().max(200),
      memberId: uuidId,
    }),
  }),
  z.object({
    action: z.literal("withdrawal.signed"),
    data: z.object({
      operationId: uuidId,
      withdrawalId: uuidId,
      keyId: uuidId,
      chain: z.enum(["bitcoin", "ethereum", "solana"]),
      txid: z.string().max(200),
      nonce: z.string().max(100).nullable(),
      decoded: z.object({
        chain: z.enum(["bitcoin", "ethereum", "solana"]),
        network: z.string().max(40),
        from: z.string().max(200),
        transfers: z
          .array(
            z.object({
              asset: z.string().max(32),
              amount: z.string().max(80),
              destination: z.string().max(200),
              change: z.boolean().optional(),
            }),
          )
          .max(256),
        maxFee: z.string().max(80),
        nonce: z.string().max(100).optional(),
        lines: z.array(z.object({ label: z.string().max(100), value: z.string().max(1000) })).max(600),
      }),
    }),
  }),
  // Freezing all signing is immediate (server/operations/freeze.ts); lifting it is a signing.unfreeze operation.
  z.object({
    action: z.literal("signing.frozen"),
    data: z.object({
      freezeId: uuidId,
      memberId: uuidId,
      credentialId: id.max(CREDENTIAL_ID_MAX),
      reason: z.string().max(500).nullable(),
    }),
  }),
  // An approved allowlist.update executed (server/allowlists/store.ts): the addresses that actually changed.
  z.object({
    action: z.literal("allowlist.updated"),
    data: z.object({
      operationId: uuidId,
      list: z.string().max(40),
      chain: z.string().max(40),
      added: z.array(z.string().max(200)).max(100),
      removed: z.array(z.string().max(200)).max(100),
    }),
  }),
  z.object({
    action: z.literal("signing.unfrozen"),
    data: z.object({ freezeId: uuidId, operationId: uuidId, frozenAt: z.string().max(40) }),
  }),
  // Webhook endpoints for notifications (server/notify/webhooks.ts), set by admins: the origin only (a URL's path
  // may itself be a credential), never the signing secret.
  z.object({
    action: z.literal("webhook.added"),
    data: z.object({
      endpointId: uuidId,
      origin: z.string().max(300),
      events: z.array(z.string().max(64)).max(16),
    }),
  }),
  z.object({ action: z.literal("webhook.disabled"), data: z.object({ endpointId: uuidId }) }),
  // Key backups and recovery drills (server/backups): the file's digest, KEK and token, never the wrapped bytes.
  z.object({
    action: z.literal("key.backed_up"),
    data: z.object({
      keyId: uuidId,
      backupId: uuidId,
      operationId: uuidId,
      digest: sha256Hex,
      mechanism: z.string().max(40),
      kek: z.object({ label: z.string().max(255), id: z.string().max(128) }),
      token: z.object({ label: z.string().max(32), serial: z.string().max(32) }),
    }),
  }),
  z.object({
    action: z.literal("key.backup_downloaded"),
    data: z.object({ keyId: uuidId, backupId: uuidId, digest: sha256Hex, memberId: uuidId }),
  }),
  z.object({
    action: z.literal("key.restored"),
    data: z.object({
      keyId: uuidId,
      backupId: uuidId,
      operationId: uuidId,
      backupDigest: sha256Hex,
      token: z.string().max(32),
      mode: z.enum(["token", "session"]),
      drill: z.literal("passed"),
    }),
  }),
  // The go-live ceremony (server/governance/go-live.ts): each admin's tap, bound to the policy digest and the set
  // of admins; a refused tap; and going live itself, once, with the version the admins approved.
  z.object({
    action: z.literal("installation.go_live_tapped"),
    data: z.object({
      memberId: uuidId,
      tapId: uuidId,
      policyVersion: z.number().int(),
      policyDigest: sha256Hex,
      adminSetDigest: sha256Hex,
      credentialId: id.max(CREDENTIAL_ID_MAX),
    }),
  }),
  z.object({
    action: z.literal("installation.go_live_refused"),
    data: z.object({
      memberId: uuidId,
      reason: z.string().max(64),
      credentialId: z.string().max(CREDENTIAL_ID_MAX).nullable(),
    }),
  }),
  // Service accounts (server/service-accounts/): the key's prefix only, never its secret or hash.
  z.object({
    action: z.literal("service_account.created"),
    data: z.object({
      serviceAccountId: uuidId,
      name: z.string().max(64),
      scopes: z.array(z.enum(SERVICE_SCOPES)).max(2),
      keyPrefix: z.string().max(32),
      expiresAt: z.string().max(30),
      ratePerMinute: z.number().int(),
      webhookEndpointId: uuidId.nullable(),
    }),
  }),
  z.object({ action: z.literal("service_account.revoked"), data: z.object({ serviceAccountId: uuidId }) }),
  // A known account's key refused: revoked, expired, or asking beyond its scopes (actor "service:<id>").
  z.object({
    action: z.literal("service_account.refused"),
    data: z.object({
      serviceAccountId: uuidId,
      reason: z.enum(["revoked", "expired", "scope"]),
      scope: z.enum(SERVICE_SCOPES).optional(),
    }),
  }),
  // A period report downloaded (server/reports/export.ts): which kind, the period [from, to) and how many
  // audit events it covered when it was generated.
  z.object({
    action: z.literal("report.exported"),
    data: z.object({
      kind: z.enum(["csv", "pdf", "evidence"]),
      from: z.string().datetime(),
      to: z.string().datetime(),
      events: z.number().int().nonnegative(),
    }),
  }),
  z.object({
    action: z.literal("installation.live"),
    data: z.object({
      policyVersion: z.number().int(),
      policyDigest: sha256Hex,
      adminSetDigest: sha256Hex,
      admins: z.array(uuidId).min(2).max(100),
      completedBy: uuidId,
    }),
  }),
]);

export type AuditEvent = z.infer<typeof auditEventSchema>;
export type AuditAction = AuditEvent["action"];

/** Who did it: a member, a service account (HTTP API), the system itself, or someone not signed in. */
export type Actor = `member:${string}` | `service:${string}` | "system" | "anonymous";
