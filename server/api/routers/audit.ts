// The audit trail, read-only: recent events, a re-check of the hash chain (incremental from the last point
// this process verified; the whole trail when an admin or auditor asks for it), the signed checkpoints, and
// RFC 9162 proofs: an event's inclusion in a checkpoint's tree, and one checkpoint's tree extending another's.
import "server-only";
import { and, eq, gte, inArray } from "drizzle-orm";
import { z } from "zod";
import { auditCheckpoints, auditEvents } from "@/db/schema";
import { checkpointText, latestCheckpoint } from "@/server/audit/checkpoints";
import { sealedSoFar } from "@/server/audit/integrate";
import { consistencyProofAt, inclusionProofAt, treeSize } from "@/server/audit/log/tree";
import { verifyStoredTree } from "@/server/audit/log/tree-verify";
import { auditEventsPage, recentAuditEvents } from "@/server/audit/read";
import { env } from "@/server/env";
import { AppError } from "@/server/errors";
import { verifyChainIncrementally, verifyWholeChain } from "@/server/audit/verify";
import { progressId, reportProgress } from "@/server/reports/progress";
import { createTRPCRouter, withRole } from "../trpc";

const positive = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

export const auditRouter = createTRPCRouter({
  /** How far this member's report download `id` has got (app/reports/report-download.tsx); null: unknown here. */
  reportProgress: withRole("admin", "auditor")
    .input(z.object({ id: progressId }))
    .query(({ ctx, input }) => reportProgress(input.id, ctx.session.member.id)),

  recent: withRole("admin", "auditor")
    .input(z.object({ limit: z.number().int().min(1).max(500).default(50) }))
    .query(async ({ ctx, input }) => {
      await sealedSoFar(ctx.db); // what the reader's own last change recorded is in the chain
      return recentAuditEvents(ctx.db, input.limit);
    }),

  /** The trail for auditors: filtered by time, actor, action and subject, newest first, a keyset page at a time. */
  events: withRole("admin", "auditor")
    .input(
      z.object({
        from: z.date().optional(),
        to: z.date().optional(),
        actor: z.string().trim().min(1).max(200).optional(),
        action: z.string().trim().min(1).max(100).optional(),
        subject: z.string().trim().min(1).max(300).optional(),
        before: positive.optional(),
        limit: z.number().int().min(1).max(500).default(100),
      }),
    )
    .query(async ({ ctx, input }) => {
      const { before, limit, ...filters } = input;
      await sealedSoFar(ctx.db);
      return auditEventsPage(ctx.db, filters, { before, limit });
    }),

  verify: withRole("admin", "auditor")
    .input(z.object({ full: z.boolean().default(false) }).default({ full: false }))
    .query(({ ctx, input }) => (input.full ? verifyWholeChain(ctx.db) : verifyChainIncrementally(ctx.db))),

  /**
   * The whole tree re-derived from the events, node by node, and every checkpoint checked against it and its
   * signature (an auditor's full check: it reads the whole log).
   */
  verifyTree: withRole("admin", "auditor").query(({ ctx }) => verifyStoredTree(ctx.db, env().audit.origin)),

  /** The newest signed checkpoint and how many events the tree holds beyond it. */
  checkpoint: withRole("admin", "auditor").query(async ({ ctx }) => {
    const [latest, size] = await Promise.all([latestCheckpoint(ctx.db), treeSize(ctx.db)]);
    return {
      treeSize: size,
      latest:
        latest === null
          ? null
          : {
              size: latest.size,
              signedAt: latest.signedAt,
              rootHash: hex(latest.rootHash),
              verifierKey: latest.verifierKey,
              text: checkpointText(latest),
              note: latest.note,
            },
    };
  }),

  /**
   * The inclusion proof of event `seq` in the tree of the first checkpoint that holds it (or of checkpoint
   * `size`): the event's leaf index, the checkpoint's signed note and the proof, each hash in hex.
   */
  inclusion: withRole("admin", "auditor")
    .input(z.object({ seq: positive, size: positive.optional() }))
    .query(async ({ ctx, input }) => {
      const [checkpoint] = await ctx.db
        .select()
        .from(auditCheckpoints)
        .where(
          input.size === undefined
            ? gte(auditCheckpoints.size, input.seq)
            : and(eq(auditCheckpoints.size, input.size), gte(auditCheckpoints.size, input.seq)),
        )
        .orderBy(auditCheckpoints.size)
        .limit(1);
      if (!checkpoint)
        throw new AppError(
          "NOT_FOUND",
          input.size === undefined
            ? `No signed checkpoint holds event ${input.seq} yet; one follows within seconds.`
            : `There is no checkpoint of size ${input.size} holding event ${input.seq}.`,
        );
      const [event] = await ctx.db
        .select({ seq: auditEvents.seq })
        .from(auditEvents)
        .where(eq(auditEvents.seq, input.seq));
      if (!event) throw new AppError("NOT_FOUND", `There is no event ${input.seq}.`);
      const proof = await inclusionProofAt(ctx.db, input.seq, checkpoint.size);
      return {
        seq: input.seq,
        leafIndex: input.seq - 1,
        treeSize: checkpoint.size,
        checkpoint: checkpoint.note,
        proof: proof.map(hex),
      };
    }),

  /** The consistency proof from checkpoint `from` to checkpoint `to` (both signed sizes, from < to). */
  consistency: withRole("admin", "auditor")
    .input(z.object({ from: positive, to: positive }).refine((i) => i.from < i.to, "from must be below to"))
    .query(async ({ ctx, input }) => {
      const found = await ctx.db
        .select()
        .from(auditCheckpoints)
        .where(inArray(auditCheckpoints.size, [input.from, input.to]));
      const note = (size: number) => {
        const row = found.find((c) => c.size === size);
        if (!row) throw new AppError("NOT_FOUND", `There is no signed checkpoint of size ${size}.`);
        return row.note;
      };
      const [from, to] = [note(input.from), note(input.to)];
      const proof = await consistencyProofAt(ctx.db, input.from, input.to);
      return {
        from: { size: input.from, checkpoint: from },
        to: { size: input.to, checkpoint: to },
        proof: proof.map(hex),
      };
    }),
});
