// Quorum operations: propose, cancel, read, and vote (beginVote for the challenge, completeVote with the tap).
// The reads have live twins (onList, onOperation): subscriptions over SSE that yield the same data again
// whenever the audit trail shows a change to it (server/live/).
import "server-only";
import { z } from "zod";
import { OPERATION_STATES, VOTE_DECISIONS } from "@/db/schema";
import { webauthnConfig } from "@/server/auth/config";
import { authenticationResponseSchema } from "@/server/auth/schemas";
import { cancelOperation } from "@/server/operations/cancel";
import { cancelReasonSchema } from "@/server/operations/cancel-reason";
import { proposeOperation } from "@/server/operations/propose";
import { auditTimeline } from "@/server/keys/timeline";
import { keyOfOperation } from "@/server/keys/list-keys";
import { touches } from "@/server/live/audit-head";
import { batchProgress, touchesBatch } from "@/server/live/batch-progress";
import { liveRead, liveSessionPolicy } from "@/server/live/live-read";
import { getOperation, listOperations } from "@/server/operations/read";
import { beginSuspendKey, suspendKey } from "@/server/operations/restrict";
import { beginVote, completeVote } from "@/server/operations/vote";
import { ROLES } from "@/db/schema/members";
import { createTRPCRouter, withRole } from "../trpc";

const operationInput = z.object({ operationId: z.string().uuid() });
const voteInput = operationInput.extend({ decision: z.enum(VOTE_DECISIONS) });
const keyInput = z.object({ keyId: z.string().uuid() });
/** Every role reads operations and keys (auditors included); ROLES is the one list of roles. */
const READERS = ROLES;
const listInput = z.object({
  state: z.enum(OPERATION_STATES).optional(),
  before: z.date().optional(),
  limit: z.number().int().min(1).max(200).default(50),
});
/** tRPC's tracked() id of the last snapshot a reconnecting client holds. */
const lastEventId = z.string().max(32).nullish();

export const operationsRouter = createTRPCRouter({
  // The kind's own roles are re-checked in proposeOperation; the payload is validated by the kind's schema.
  propose: withRole("operator", "admin")
    .input(z.object({ kind: z.string().min(1).max(64), payload: z.unknown() }))
    .mutation(({ ctx, input }) =>
      proposeOperation(ctx.db, {
        actor: ctx.member,
        kind: input.kind,
        payload: input.payload,
        now: ctx.clock(),
      }),
    ),

  // The initiator cancels their own; an admin cancels one Keyward proposed, with a reason (re-checked in cancel.ts).
  cancel: withRole("operator", "admin")
    .input(operationInput.extend({ reason: cancelReasonSchema.optional() }))
    .mutation(({ ctx, input }) =>
      cancelOperation(ctx.db, {
        actor: ctx.member,
        operationId: input.operationId,
        reason: input.reason,
        now: ctx.clock(),
      }),
    ),

  list: withRole(...READERS)
    .input(listInput)
    .query(({ ctx, input }) => listOperations(ctx.db, { viewer: ctx.member, ...input, now: ctx.clock() })),

  get: withRole(...READERS)
    .input(operationInput)
    .query(({ ctx, input }) =>
      getOperation(ctx.db, { viewer: ctx.member, operationId: input.operationId, now: ctx.clock() }),
    ),

  /** operations.list, live: again whenever an operation or a member (whose vote may stop counting) changes. */
  onList: withRole(...READERS)
    .input(listInput.extend({ lastEventId }))
    .subscription(({ ctx, input: { lastEventId, ...input }, signal }) =>
      liveRead({
        db: ctx.db,
        session: ctx.session,
        roles: READERS,
        policy: liveSessionPolicy(),
        clock: ctx.clock,
        signal,
        lastEventId,
        relevant: (change) => touches(change, { kinds: ["operation", "member"] }),
        read: (viewer) => listOperations(ctx.db, { viewer, ...input, now: ctx.clock() }),
      }),
    ),

  /** One operation's page, live: the operation (tally, votes, state), its timeline and the key it made. */
  onOperation: withRole(...READERS)
    .input(operationInput.extend({ lastEventId }))
    .subscription(({ ctx, input, signal }) =>
      liveRead({
        db: ctx.db,
        session: ctx.session,
        roles: READERS,
        policy: liveSessionPolicy(),
        clock: ctx.clock,
        signal,
        lastEventId: input.lastEventId,
        relevant: (change) =>
          touches(change, { subjects: [`operation:${input.operationId}`], kinds: ["member"] }),
        read: async (viewer) => {
          const operation = await getOperation(ctx.db, {
            viewer,
            operationId: input.operationId,
            now: ctx.clock(),
          });
          const [timeline, made] = await Promise.all([
            auditTimeline(ctx.db, [`operation:${input.operationId}`]),
            operation.state === "executed" ? keyOfOperation(ctx.db, input.operationId) : null,
          ]);
          return { operation, timeline, made };
        },
      }),
    ),

  /** A key.create batch's progress, live: again with each chunk of keys recorded (their key.created events). */
  onBatchProgress: withRole(...READERS)
    .input(operationInput.extend({ lastEventId }))
    .subscription(({ ctx, input, signal }) =>
      liveRead({
        db: ctx.db,
        session: ctx.session,
        roles: READERS,
        policy: liveSessionPolicy(),
        clock: ctx.clock,
        signal,
        lastEventId: input.lastEventId,
        relevant: touchesBatch(input.operationId),
        read: () => batchProgress(ctx.db, input.operationId),
      }),
    ),

  // Approvers vote; an admin too, where the judged rule names the admins (vote.ts re-checks, mayApprove).
  beginVote: withRole("approver", "admin")
    .input(voteInput)
    .mutation(({ ctx, input }) =>
      beginVote(ctx.db, webauthnConfig(), { voter: ctx.member, ...input, now: ctx.clock() }),
    ),

  completeVote: withRole("approver", "admin")
    .input(voteInput.extend({ response: authenticationResponseSchema }))
    .mutation(({ ctx, input }) =>
      completeVote(ctx.db, webauthnConfig(), { voter: ctx.member, ...input, now: ctx.clock() }),
    ),

  // A veto during a rule's delay: any role may ask, since the veto group is a group, not a role; vote.ts allows it
  // only to an active member of the judged rule's veto group (not the initiator), while waiting, before the end.
  beginVeto: withRole(...ROLES)
    .input(operationInput)
    .mutation(({ ctx, input }) =>
      beginVote(ctx.db, webauthnConfig(), {
        voter: ctx.member,
        operationId: input.operationId,
        decision: "veto",
        now: ctx.clock(),
      }),
    ),

  veto: withRole(...ROLES)
    .input(operationInput.extend({ response: authenticationResponseSchema }))
    .mutation(({ ctx, input }) =>
      completeVote(ctx.db, webauthnConfig(), {
        voter: ctx.member,
        operationId: input.operationId,
        decision: "veto",
        response: input.response,
        now: ctx.clock(),
      }),
    ),

  // Restricting is immediate: one fresh tap, no quorum (roles re-checked in server/operations/restrict.ts).
  beginSuspendKey: withRole("admin", "approver")
    .input(keyInput)
    .mutation(({ ctx, input }) =>
      beginSuspendKey(ctx.db, webauthnConfig(), { actor: ctx.member, keyId: input.keyId, now: ctx.clock() }),
    ),

  suspendKey: withRole("admin", "approver")
    .input(keyInput.extend({ response: authenticationResponseSchema }))
    .mutation(({ ctx, input }) =>
      suspendKey(ctx.db, webauthnConfig(), { actor: ctx.member, ...input, now: ctx.clock() }),
    ),
});
