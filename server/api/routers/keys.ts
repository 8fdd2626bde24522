// Custody keys, read-only: the list (paginated, searchable, filtered), counts by state, one key with its
// lifecycle, and an operation's timeline from the audit trail. Keys change only through operations.
import "server-only";
import { z } from "zod";
import { KEY_STATES } from "@/db/schema";
import { getKey, keyCountsByState, keyOfOperation, listKeys } from "@/server/keys/list-keys";
import { auditTimeline } from "@/server/keys/timeline";
import { KEY_CURVES } from "@/server/operations/kinds/key-create";
import { keyTagSchema } from "@/server/policy/schema";
import { createTRPCRouter, withRole } from "../trpc";

const everyone = withRole("admin", "operator", "approver", "auditor");

export const keysRouter = createTRPCRouter({
  list: everyone
    .input(
      z.object({
        search: z.string().trim().max(200).optional(),
        curve: z.enum(KEY_CURVES).optional(),
        state: z.enum(KEY_STATES).optional(),
        tag: keyTagSchema.optional(),
        page: z.number().int().min(1).max(100_000).default(1),
        pageSize: z.number().int().min(1).max(200).default(50),
      }),
    )
    .query(({ ctx, input }) => listKeys(ctx.db, input)),

  counts: everyone.query(({ ctx }) => keyCountsByState(ctx.db)),

  get: everyone
    .input(z.object({ keyId: z.string().uuid() }))
    .query(({ ctx, input }) => getKey(ctx.db, input.keyId)),

  /** The key an operation made, for the link on the operation's page once it has executed. */
  ofOperation: everyone
    .input(z.object({ operationId: z.string().uuid() }))
    .query(({ ctx, input }) => keyOfOperation(ctx.db, input.operationId)),

  // An operation's story (proposed, votes, decision, execution) for its page. It reads the audit trail only,
  // so it sits with the other read-only trail views here rather than in the operations router.
  operationTimeline: everyone
    .input(z.object({ operationId: z.string().uuid() }))
    .query(({ ctx, input }) => auditTimeline(ctx.db, [`operation:${input.operationId}`])),
});
