// System health for admins and auditors: the database and every HSM token.
import "server-only";
import { hsmStatus } from "@/server/hsm";
import { databaseHealth } from "@/server/status/database-health";
import { createTRPCRouter, withRole } from "../trpc";

export const statusRouter = createTRPCRouter({
  health: withRole("admin", "auditor").query(async ({ ctx }) => {
    const [db, hsm] = await Promise.all([databaseHealth(ctx.db, ctx.engine), hsmStatus()]);
    return { checkedAt: ctx.clock(), database: db, hsm };
  }),
});
