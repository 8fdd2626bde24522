// Sign-in options (the challenge a token signs). The assertion itself goes to next-auth's authorize().
import "server-only";
import { webauthnConfig } from "@/server/auth/config";
import { beginSignIn } from "@/server/auth/sign-in";
import { createTRPCRouter, memberProcedure, publicProcedure } from "../trpc";

export const authRouter = createTRPCRouter({
  signInOptions: publicProcedure.mutation(({ ctx }) => beginSignIn(ctx.db, webauthnConfig(), ctx.clock())),

  me: memberProcedure.query(({ ctx }) => ({
    id: ctx.member.id,
    name: ctx.member.name,
    roles: ctx.member.roles,
    groups: ctx.member.groups,
  })),
});
