// Service accounts (admins only): list, create (the API key is in this one answer and never again), revoke.
import "server-only";
import { createServiceAccountInput, revokeServiceAccountInput } from "@/server/service-accounts/schemas";
import {
  createServiceAccount,
  listServiceAccounts,
  revokeServiceAccount,
} from "@/server/service-accounts/manage";
import { createTRPCRouter, withRole } from "../trpc";

export const serviceAccountsRouter = createTRPCRouter({
  list: withRole("admin").query(({ ctx }) => listServiceAccounts(ctx.db, ctx.clock())),

  create: withRole("admin")
    .input(createServiceAccountInput)
    .mutation(({ ctx, input }) =>
      createServiceAccount(ctx.db, { actorId: ctx.member.id, account: input, now: ctx.clock() }),
    ),

  revoke: withRole("admin")
    .input(revokeServiceAccountInput)
    .mutation(({ ctx, input }) =>
      revokeServiceAccount(ctx.db, { actorId: ctx.member.id, id: input.id, now: ctx.clock() }),
    ),
});
