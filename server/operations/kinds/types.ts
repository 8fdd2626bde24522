// What every operation kind declares: its payload (zod), how an approver sees it (decoded, in words), the facts
// policy rules match on, who may propose it, and (added by the executor) an execute step safe to repeat.
// Free of server-only imports: the propose forms and the operation page use payload and describe too.
import type { z } from "zod";
import type { Role } from "@/db/schema/members";
import type { ChainClients } from "@/server/chains/registry";
import type { ChainConfig } from "@/server/chains/config";
import type { KeyExportability, KeyState } from "@/db/schema/operations";
import type { EligibleMember } from "@/server/policy/reachability";
import type { PolicyDocument } from "@/server/policy/schema";
import type { SpeedUpTarget } from "@/server/withdrawals/speedup-target";
import type { ExecuteContext, ExecuteResult } from "../executor/types";
import type { MembershipReader } from "./member-context";

/** An operation as an approver reads it: a title and labelled lines, every value in words. */
export type OperationDisplay = { title: string; lines: { label: string; value: string }[] };

/**
 * What policy rules match on (server/policy's MatchFacts, less the kind): the tags of the key the operation
 * touches, and for a kind that moves funds (none yet: withdrawals, issue 14) its chain, asset, amount in base
 * units, destination (canonical form) and the key it signs with (per-key velocity caps).
 */
export type OperationFacts = {
  keyTags: string[];
  chain?: string;
  asset?: string;
  amount?: bigint;
  destination?: string;
  keyId?: string;
};

/**
 * The executor's side (server/operations/executor/): what execute receives and returns. Owned and refined by
 * the executor engineer; the registry only forwards it.
 */
export type { ExecuteContext, ExecuteResult };

/** A key as a proposal about it reads it, in the proposing transaction (propose.ts provides it). */
export type ProposedKey = {
  id: string;
  label: string;
  tags: string[];
  state: KeyState;
  curve: string;
  exportable: KeyExportability;
  /** Hex of the raw public key (withdrawal: the key's own address on the chain). */
  publicKey: string;
};

/** A stored key backup as a proposal to restore from it reads it (server/backups/propose-facts.ts). */
export type ProposedBackup = {
  id: string;
  keyId: string;
  digest: string;
  tokenLabel: string;
  kekId: string;
  /** Hex of the public key the file names. */
  publicKey: string;
  createdAt: Date;
};

/** The HSM tokens Keyward is configured with (primary first) and whether its HSM can wrap Ed25519 keys. */
export type ProposedHsm = { tokens: string[]; wrapsEd25519: boolean };

/**
 * What the proposing transaction can read for a kind. `key` answers NOT_FOUND for no such key and CONFLICT
 * (naming its state) for a key in none of `states`: the kind only sees a key it may be proposed for.
 */
export type ProposeReader = {
  key(id: string, states: readonly KeyState[]): Promise<ProposedKey>;
  /** The key that succeeded `keyId` in a rotation (keys.predecessor_id), in any state, or null. */
  successorOf(keyId: string): Promise<ProposedKey | null>;
  /** The freeze of all signing in force now, or null (signing.unfreeze names the one it lifts). */
  signingFreeze(): Promise<ProposedFreeze | null>;
  /**
   * A stored key backup, by id or from an uploaded file (checked: its schema, its SHA-256, a stored backup with
   * that SHA-256, the key's recorded public key); errors name payload.backupId or payload.file.
   */
  backup(ref: { id: string } | { file: unknown }): Promise<ProposedBackup>;
  hsm(): ProposedHsm;
  /** The policy in force now (policy.update: its base); DEFAULT_POLICY as version 1 before any was seeded. */
  policyInForce(): Promise<{ version: number; document: PolicyDocument }>;
  /** Every member as the reachability check counts them (server/governance/members-snapshot.ts). */
  eligibleMembers(): Promise<EligibleMember[]>;
  /** The membership kinds: members and tokens as they are now, and the safety check (server/members/membership-steps.ts). */
  members: MembershipReader;
  /** The chain clients in use (server/chains/registry.ts): a withdrawal's fee estimate and balances, when configured. */
  chainClients(): ChainClients;
  /** The chain configuration in use: networks, RPC endpoints, the asset list (server/chains/current.ts). */
  chains(): ChainConfig;
  /** One allow-list's entries on one chain as they are now (allowlist.update), oldest first. */
  allowList(list: string, chain: string): Promise<{ address: string; label: string | null }[]>;
  /** withdrawal.speedup: the withdrawal operation, its transaction (row locked) and its speed-ups, or null. */
  speedUpTarget(operationId: string): Promise<SpeedUpTarget | null>;
};

/** A freeze of all signing as a proposal to lift it reads it (server/operations/freeze.ts). */
export type ProposedFreeze = {
  id: string;
  frozenAt: Date;
  frozenBy: { id: string; name: string };
  reason: string | null;
};

export type OperationKind<P, I = P> = {
  kind: string;
  /** Roles that may propose this kind (besides holding a live token and being active). */
  proposers: readonly Role[];
  /** The payload as stored, digested, shown and executed. */
  payload: z.ZodType<P>;
  /**
   * For a kind whose facts come from the database (key.resume: the key's tags): what the proposer sends
   * (`input`), and how the proposing transaction completes it into the stored payload from what it reads now.
   * Without it the proposer sends the payload itself.
   */
  propose?: { input: z.ZodType<I>; prepare(input: I, read: ProposeReader): Promise<P> };
  describe(payload: P): OperationDisplay;
  facts(payload: P): OperationFacts;
  execute?: (ctx: ExecuteContext, op: { id: string; payload: P }) => Promise<ExecuteResult>;
};
