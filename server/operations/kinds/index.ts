// The registry of operation kinds. Each kind is bound here so callers handle a stored payload (unknown JSON)
// through the kind's own zod schema: nothing reaches describe, facts or execute without being parsed by it.
import type { Role } from "@/db/schema/members";
import { allowlistUpdate } from "./allowlist-update";
import { keyActivate } from "./key-activate";
import { keyBackup } from "./key-backup";
import { keyCreate } from "./key-create";
import { keyDestroy } from "./key-destroy";
import { keyRestore } from "./key-restore";
import { keyResume } from "./key-resume";
import { keyRevoke } from "./key-revoke";
import { keyRotate } from "./key-rotate";
import { memberInvite } from "./member-invite";
import { memberReinstate } from "./member-reinstate";
import { memberUpdate } from "./member-update";
import { policyUpdate } from "./policy-update";
import { signingUnfreeze } from "./signing-unfreeze";
import { tokenRevoke } from "./token-revoke";
import { withdrawal } from "./withdrawal";
import { withdrawalSpeedup } from "./withdrawal-speedup";
import type {
  ExecuteContext,
  ExecuteResult,
  OperationDisplay,
  OperationFacts,
  OperationKind,
  ProposeReader,
} from "./types";

export type {
  ExecuteContext,
  ExecuteResult,
  OperationDisplay,
  OperationFacts,
  OperationKind,
  ProposedKey,
  ProposeReader,
} from "./types";

/** A registered kind with its payload type erased: every method parses the payload first. */
export type RegisteredKind = {
  kind: string;
  proposers: readonly Role[];
  /** The payload as the kind's schema accepts it (zod errors name the field); throws ZodError otherwise. */
  parse(payload: unknown): unknown;
  /** What the proposer sends, as the kind accepts it: its proposal input, or else the payload itself. */
  parseProposal(input: unknown): unknown;
  /** The stored payload for a parsed proposal, completed in the proposing transaction (parsed by `parse`). */
  prepare(input: unknown, read: ProposeReader): Promise<unknown>;
  describe(payload: unknown): OperationDisplay;
  facts(payload: unknown): OperationFacts;
  execute?: (ctx: ExecuteContext, op: { id: string; payload: unknown }) => Promise<ExecuteResult>;
};

function bind<P, I>(k: OperationKind<P, I>): RegisteredKind {
  const { execute, propose } = k;
  return {
    kind: k.kind,
    proposers: k.proposers,
    parse: (payload) => k.payload.parse(payload),
    parseProposal: (input) => (propose ? propose.input.parse(input) : k.payload.parse(input)),
    prepare: async (input, read) =>
      k.payload.parse(propose ? await propose.prepare(propose.input.parse(input), read) : input),
    describe: (payload) => k.describe(k.payload.parse(payload)),
    facts: (payload) => k.facts(k.payload.parse(payload)),
    execute: execute && ((ctx, op) => execute(ctx, { id: op.id, payload: k.payload.parse(op.payload) })),
  };
}

const KINDS: ReadonlyMap<string, RegisteredKind> = new Map(
  [bind(keyCreate), bind(keyActivate), bind(keyResume), bind(keyRevoke), bind(keyDestroy), bind(keyRotate), bind(keyBackup), bind(keyRestore), bind(signingUnfreeze), bind(memberInvite), bind(memberUpdate), bind(memberReinstate), bind(tokenRevoke), bind(withdrawal), bind(policyUpdate), bind(allowlistUpdate), bind(withdrawalSpeedup)].map((k) => [k.kind, k]),
);

export const OPERATION_KIND_NAMES: readonly string[] = [...KINDS.keys()];

/** The kind named `kind`, or undefined when Keyward knows no such kind. */
export function operationKind(kind: string): RegisteredKind | undefined {
  return KINDS.get(kind);
}
