// First-admin setup: enter the code printed by `npm start`, register a token, become admin.
import "server-only";
import { z } from "zod";
import { webauthnConfig } from "@/server/auth/config";
import { personNameSchema, registrationResponseSchema, setupCodeSchema, tokenNicknameSchema } from "@/server/auth/schemas";
import { beginSetup, completeSetup, setupPending } from "@/server/auth/setup-code";
import { createTRPCRouter, publicProcedure } from "../trpc";

const beginInput = z.object({ code: setupCodeSchema, name: personNameSchema });

export const setupRouter = createTRPCRouter({
  status: publicProcedure.query(async ({ ctx }) => ({ pending: await setupPending(ctx.db) })),

  begin: publicProcedure
    .input(beginInput)
    .mutation(({ ctx, input }) => beginSetup(ctx.db, webauthnConfig(), { ...input, now: ctx.clock() })),

  complete: publicProcedure
    .input(beginInput.extend({ tokenName: tokenNicknameSchema, response: registrationResponseSchema }))
    .mutation(({ ctx, input }) => completeSetup(ctx.db, webauthnConfig(), { ...input, now: ctx.clock() })),
});
