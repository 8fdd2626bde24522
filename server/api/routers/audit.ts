// The audit trail, read-only: recent events and a re-check of the whole hash chain.
import "server-only";
import { z } from "zod";
import { recentAuditEvents, verifyStoredChain } from "@/server/audit/read";
import { createTRPCRouter, withRole } from "../trpc";

export const auditRouter = createTRPCRouter({
  recent: withRole("admin", "auditor")
    .input(z.object({ limit: z.number().int().min(1).max(500).default(50) }))
    .query(({ ctx, input }) => recentAuditEvents(ctx.db, input.limit)),

  verify: withRole("admin", "auditor").query(({ ctx }) => verifyStoredChain(ctx.db)),
});
