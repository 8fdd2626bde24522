// The audit trail, read-only: recent events and a re-check of the hash chain (incremental from the last point
// this process verified; the whole trail when an admin or auditor asks for it).
import "server-only";
import { z } from "zod";
import { recentAuditEvents } from "@/server/audit/read";
import { verifyChainIncrementally, verifyWholeChain } from "@/server/audit/verify";
import { createTRPCRouter, withRole } from "../trpc";

export const auditRouter = createTRPCRouter({
  recent: withRole("admin", "auditor")
    .input(z.object({ limit: z.number().int().min(1).max(500).default(50) }))
    .query(({ ctx, input }) => recentAuditEvents(ctx.db, input.limit)),

  verify: withRole("admin", "auditor")
    .input(z.object({ full: z.boolean().default(false) }).default({ full: false }))
    .query(({ ctx, input }) => (input.full ? verifyWholeChain(ctx.db) : verifyChainIncrementally(ctx.db))),
});
