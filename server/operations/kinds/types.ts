// What every operation kind declares: its payload (zod), how an approver sees it (decoded, in words), the facts
// policy rules match on, who may propose it, and (added by the executor) an execute step safe to repeat.
// Free of server-only imports: the propose forms and the operation page use payload and describe too.
import type { z } from "zod";
import type { Role } from "@/db/schema/members";
import type { ExecuteContext, ExecuteResult } from "../executor/types";

/** An operation as an approver reads it: a title and labelled lines, every value in words. */
export type OperationDisplay = { title: string; lines: { label: string; value: string }[] };

/** What policy rules match on (server/policy): today the tags of the key the operation touches. */
export type OperationFacts = { keyTags: string[] };

/**
 * The executor's side (server/operations/executor/): what execute receives and returns. Owned and refined by
 * the executor engineer; the registry only forwards it.
 */
export type { ExecuteContext, ExecuteResult };

export type OperationKind<P> = {
  kind: string;
  /** Roles that may propose this kind (besides holding a live token and being active). */
  proposers: readonly Role[];
  payload: z.ZodType<P>;
  describe(payload: P): OperationDisplay;
  facts(payload: P): OperationFacts;
  execute?: (ctx: ExecuteContext, op: { id: string; payload: P }) => Promise<ExecuteResult>;
};
