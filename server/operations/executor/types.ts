// What the executor hands a kind's execute step, and what the step gives back. The step runs outside any
// database transaction and must be safe to repeat for the same operation (an HSM call keyed by the operation
// id); `record` then runs inside the one transaction that marks the operation executed.
// A step acts only through this context (the HSM through `signer`, the keys table through `keys`): kinds stay
// free of server-only imports (forms import them), and nothing but the executor hands out the signer.
// Type-only imports here, so the kinds may import this file.
import type { Tx } from "@/db/client";
import type { KeyExportability, KeyState, keys, operations } from "@/db/schema";
import type * as signerFacade from "@/server/hsm/signer";
import type { BackupSteps } from "@/server/backups/steps";
import type { WithdrawalSteps } from "@/server/withdrawals/steps";
import type { AllowListChange } from "@/server/allowlists/store";
import type { Chain } from "@/server/custody/types";
import type { PolicyDocument } from "@/server/policy/schema";
import type { MembershipSteps } from "../kinds/member-context";

export type OperationRow = typeof operations.$inferSelect;

/** The part of the signer facade execute steps use; tests wrap the real facade to lose an answer. */
export type OperationSigner = Pick<typeof signerFacade, "createKey" | "findKey" | "operationKeyRef">;

/** The part of the signer facade the withdrawal kind uses (one signature per request); tests wrap it to lose an answer. */
export type WithdrawalSigner = Pick<typeof signerFacade, "sign">;

/** The part of the signer facade key.backup and key.restore use; tests wrap it to lose an answer. */
export type BackupSigner = Pick<typeof signerFacade, "exportWrapped" | "restoreKey">;

/** A key made by a key.create, as recorded: the keys row (state active) and its key.created event. */
export type CreatedKeyRecord = {
  /** Set when the key.create asked for it (`preActivation`): the key is recorded in pre-activation, not active. */
  state?: "pre-activation";
  operationId: string;
  label: string;
  curve: string;
  tags: string[];
  exportable: KeyExportability;
  hsmRef: string;
  /** Hex of the raw public key (65 bytes SEC1 uncompressed, or 32 bytes Ed25519). */
  publicKey: string;
};

/** A key as an execute step reads it (key.rotate: the predecessor's curve, tags, exportability). */
export type KeyRecordRow = typeof keys.$inferSelect;

export type ExecuteContext = {
  now: Date;
  /**
   * True on the first try of an operation's first claim: nothing can have acted on it before, so a step may
   * tell the HSM its operation-derived key reference is unused (createKey's `fresh`: no token-wide search).
   * False on every repeat (a retry after an unknown outcome, a claim taken over, a recovery at boot).
   */
  firstTry: boolean;
  signer: OperationSigner;
  /** key.backup and key.restore: their HSM calls, and backup files and restores (server/backups/steps.ts). */
  backupSigner: BackupSigner;
  backups: BackupSteps;
  /** The withdrawal kind's HSM calls: sign only, over what server/withdrawals/execute.ts decoded and checked. */
  withdrawalSigner: WithdrawalSigner;
  /** The withdrawal kind's execute step (server/withdrawals/execute.ts): build, store, check, sign, record. */
  withdrawals: WithdrawalSteps;
  keys: {
    recordCreated: (tx: Tx, key: CreatedKeyRecord, at: Date) => Promise<{ keyId: string }>;
    /** The key's state now (outside any transaction), or null when there is no such key. */
    stateOf: (keyId: string) => Promise<KeyState | null>;
    /** pre-activation → active with key.activated; a key already active is left as it is ("already-active"). */
    activate: (
      tx: Tx,
      input: { keyId: string; operationId: string },
      at: Date,
    ) => Promise<"activated" | "already-active">;
    /** suspended → active with key.resumed; a key already active is left as it is ("already-active"). */
    resume: (
      tx: Tx,
      input: { keyId: string; operationId: string },
      at: Date,
    ) => Promise<"resumed" | "already-active">;
    /** The whole key row now (outside any transaction), or null when there is no such key. */
    get: (keyId: string) => Promise<KeyRecordRow | null>;
    /** pre-activation, active, suspended or deactivated → compromised with key.revoked; already compromised is left as it is. */
    revoke: (
      tx: Tx,
      input: { keyId: string; operationId: string; reason: string },
      at: Date,
    ) => Promise<"revoked" | "already-compromised">;
    /** Schedules the destruction: key deactivated, destroy_after, the key.destroy job, key.destruction_scheduled. */
    scheduleDestruction: (
      tx: Tx,
      input: { keyId: string; operationId: string; waitingDays: number },
      at: Date,
    ) => Promise<{ destroyAfter: Date }>;
    /** The successor recorded active (predecessor_id), the old key active → deactivated, key.rotated on both. */
    recordRotated: (
      tx: Tx,
      input: { predecessorId: string; successor: CreatedKeyRecord },
      at: Date,
    ) => Promise<{ keyId: string }>;
    /**
     * key.rotate when the old key left active between the HSM step and its record: the successor the step made is
     * recorded suspended (no predecessor_id: nothing was rotated) with key.created; the old key is left as it is.
     */
    recordSuccessorOfRestricted: (
      tx: Tx,
      input: { predecessorId: string; predecessorState: KeyState; successor: CreatedKeyRecord },
      at: Date,
    ) => Promise<{ keyId: string }>;
  };
  /** The membership kinds' checks and writes (server/members/membership-steps.ts). */
  members: MembershipSteps;
  /** policy.update's access to the policy (server/governance/policy-update-apply.ts). */
  policies: {
    /**
     * Outside any transaction: why the change cannot be applied now (the version in force is no longer
     * `baseVersion`, a rule would be unreachable with the members as they are), or null.
     */
    refusal: (input: { baseVersion: number; document: PolicyDocument }) => Promise<string | null>;
    /** The admin lock, then the policy lock: taken first in the completing transaction (ExecuteResult.lock). */
    lock: (tx: Tx) => Promise<void>;
    /**
     * Under those locks: the version in force must still be `baseVersion` and every rule reachable with the
     * members as they are now (else StepRefusedError with the reasons); appends `document` (policy.updated naming
     * the operation) and judges open operations again under it.
     */
    apply: (
      tx: Tx,
      input: { operationId: string; baseVersion: number; document: PolicyDocument; createdBy: string | null },
      at: Date,
    ) => Promise<{ version: number; digest: string }>;
  };
  /** allowlist.update: the network each chain runs on now, and the write (server/allowlists/store.ts). */
  allowLists: {
    network: (chain: Chain) => string;
    apply: (tx: Tx, change: AllowListChange, at: Date) => Promise<{ added: number; removed: number }>;
  };
  /** signing.unfreeze's access to the freeze it lifts (server/operations/freeze.ts). */
  freezes: {
    /** Whether the freeze is in force or lifted now (outside any transaction), or null when there is none. */
    stateOf: (freezeId: string) => Promise<"in-force" | "lifted" | null>;
    /** Lifts it with signing.unfrozen; a freeze already lifted is left as it is ("already-lifted"). */
    lift: (
      tx: Tx,
      input: { freezeId: string; operationId: string },
      at: Date,
    ) => Promise<"lifted" | "already-lifted">;
  };
};

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export type ExecuteResult = {
  /** Stored in operations.result (plain JSON). */
  result: { [key: string]: JsonValue };
  /**
   * The kind's own rows and audit events (key.create: the keys row and key.created), written in the same
   * transaction as `executed` and `operation.executed`; it runs only if this attempt wins that transaction.
   */
  record?: (tx: Tx, op: OperationRow, at: Date) => Promise<void>;
  /**
   * Runs first in the completing transaction, before the operation's row is touched: takes the locks that come
   * before the operation row in the lock order (policy.update: the admin lock, then the policy lock), so `record`
   * can re-check under them what must still hold. A StepRefusedError thrown there rolls the transaction back
   * like any failed record; the repeated step then makes the same check outside and fails the operation.
   */
  lock?: (tx: Tx) => Promise<void>;
  /**
   * Set when the step did part of its work, which `record` keeps, but not what was approved (key.rotate whose old
   * key was suspended or revoked while its successor was being made): the operation then ends failed with this
   * reason and operation.failed, in the same transaction as `record`, instead of executed.
   */
  failure?: string;
};
