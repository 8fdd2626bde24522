// Custody keys, read-only: the list (paginated, searchable, filtered), counts by state, one key with its
// lifecycle, open operations and HSM tokens, and an operation's timeline from the audit trail. Keys change only
// through operations. onList, onCounts and onKey are the live twins of list, counts and get (server/live/).
import "server-only";
import { z } from "zod";
import { KEY_STATES } from "@/db/schema";
import { keyCursor } from "@/server/keys/key-cursor";
import { keyHolders, keyPage } from "@/server/keys/key-page";
import { keyCountsByState, keyOfOperation, listKeys } from "@/server/keys/list-keys";
import { touches } from "@/server/live/audit-head";
import { liveRead, liveSessionPolicy } from "@/server/live/live-read";
import { auditTimeline } from "@/server/keys/timeline";
import { KEY_CURVES } from "@/server/operations/kinds/key-create";
import { keyTagSchema } from "@/server/policy/schema";
import { ROLES } from "@/db/schema/members";
import { createTRPCRouter, withRole } from "../trpc";

/** Every role reads operations and keys (auditors included); ROLES is the one list of roles. */
const READERS = ROLES;
const everyone = withRole(...READERS);

const listInput = z.object({
  search: z.string().trim().max(200).optional(),
  curve: z.enum(KEY_CURVES).optional(),
  state: z.enum(KEY_STATES).optional(),
  tag: keyTagSchema.optional(),
  /** Where the page starts (server/keys/key-cursor.ts): a token from a page's cursors, or "last"; none: the first. */
  cursor: keyCursor.optional(),
  pageSize: z.number().int().min(1).max(200).default(50),
});
const keyInput = z.object({ keyId: z.string().uuid() });
/** tRPC's tracked() id of the last snapshot a reconnecting client holds. */
const lastEventId = z.string().max(32).nullish();

export const keysRouter = createTRPCRouter({
  list: everyone.input(listInput).query(({ ctx, input }) => listKeys(ctx.db, input)),

  counts: everyone.query(({ ctx }) => keyCountsByState(ctx.db)),

  get: everyone
    .input(keyInput)
    .query(({ ctx, input }) => keyPage(ctx.db, { viewer: ctx.member, keyId: input.keyId, now: ctx.clock() })),

  /** Which HSM tokens hold the key: asked of the HSM (cached a few seconds), apart from keys.get. */
  holders: everyone.input(keyInput).query(({ ctx, input }) => keyHolders(ctx.db, input.keyId)),

  /** keys.list, live: again whenever a key changes. */
  onList: everyone
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
        relevant: (change) => touches(change, { kinds: ["key"] }),
        read: () => listKeys(ctx.db, input),
      }),
    ),

  /** keys.counts, live (the home page). */
  onCounts: everyone.input(z.object({ lastEventId }).optional()).subscription(({ ctx, input, signal }) =>
    liveRead({
      db: ctx.db,
      session: ctx.session,
      roles: READERS,
      policy: liveSessionPolicy(),
      clock: ctx.clock,
      signal,
      lastEventId: input?.lastEventId,
      relevant: (change) => touches(change, { kinds: ["key"] }),
      read: () => keyCountsByState(ctx.db),
    }),
  ),

  /** keys.get and keys.holders, live: the key's own events, and any operation's (one may name this key). */
  onKey: everyone.input(keyInput.extend({ lastEventId })).subscription(({ ctx, input, signal }) =>
    liveRead({
      db: ctx.db,
      session: ctx.session,
      roles: READERS,
      policy: liveSessionPolicy(),
      clock: ctx.clock,
      signal,
      lastEventId: input.lastEventId,
      relevant: (change) => touches(change, { subjects: [`key:${input.keyId}`], kinds: ["operation"] }),
      read: async (viewer) => ({
        page: await keyPage(ctx.db, { viewer, keyId: input.keyId, now: ctx.clock() }),
        holders: await keyHolders(ctx.db, input.keyId),
      }),
    }),
  ),

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
