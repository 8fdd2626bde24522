// tRPC: the request context and the only three ways to build a procedure — publicProcedure,
// memberProcedure and withRole(...). Each declares its access rule in meta, which the access test reads.
import "server-only";
import { initTRPC, TRPCError } from "@trpc/server";
import superjson from "superjson";
import { ZodError } from "zod";
import type { Db } from "@/db/client";
import type { Role } from "@/db/schema";
import type { SessionMember } from "@/server/auth/sessions";
import { type Clock, systemClock } from "@/server/clock";
import { AppError, codeOfTRPCError, type ErrorCode, toTRPCError } from "@/server/errors";

export type Context = {
  db: Db;
  engine: "pglite" | "postgres";
  session: SessionMember | null;
  clock: Clock;
};

export type Access = { kind: "public" } | { kind: "member" } | { kind: "role"; roles: readonly Role[] };
export type Meta = { access?: Access };

export function createContext(input: Omit<Context, "clock"> & { clock?: Clock }): Context {
  return { ...input, clock: input.clock ?? systemClock };
}

const t = initTRPC
  .context<Context>()
  .meta<Meta>()
  .create({
    transformer: superjson,
    errorFormatter({ shape, error }) {
      const app = error.cause instanceof AppError ? error.cause : undefined;
      const issue = error.cause instanceof ZodError ? error.cause.issues[0] : undefined;
      const issueField = issue && issue.path.length > 0 ? issue.path.join(".") : undefined;
      const appCode: ErrorCode =
        app?.code ?? (issue ? "BAD_INPUT" : codeOfTRPCError(error.code));
      return {
        ...shape,
        // Never leak internals: an unexpected error says so without its message or stack.
        message:
          appCode === "INTERNAL" && !app
            ? "Something went wrong on the server. It has been logged; try again."
            : issue
              ? // Name the field: zod's own messages ("Invalid UUID") do not.
                `${issueField ? `${issueField}: ` : ""}${issue.message}`
              : shape.message,
        data: {
          ...shape.data,
          stack: undefined,
          appCode,
          field: app?.field ?? issueField ?? null,
        },
      };
    },
  });

export const createTRPCRouter = t.router;
export const createCallerFactory = t.createCallerFactory;

/** Turns domain errors into tRPC errors with the mapped code; logs the unexpected ones. */
const mapErrors = t.middleware(async ({ next, path }) => {
  const result = await next();
  if (!result.ok) {
    const cause = result.error.cause;
    if (cause instanceof AppError) throw toTRPCError(cause);
    if (result.error.code === "INTERNAL_SERVER_ERROR") console.error(`[trpc] ${path}:`, result.error.cause ?? result.error);
  }
  return result;
});

export const publicProcedure = t.procedure.meta({ access: { kind: "public" } }).use(mapErrors);

export const memberProcedure = t.procedure
  .meta({ access: { kind: "member" } })
  .use(mapErrors)
  .use(({ ctx, next }) => {
    if (!ctx.session) throw new TRPCError({ code: "UNAUTHORIZED", message: "Sign in with your hardware token." });
    return next({ ctx: { ...ctx, session: ctx.session, member: ctx.session.member } });
  });

/** A procedure open to members holding at least one of `roles`. */
export function withRole(...roles: [Role, ...Role[]]) {
  return memberProcedure.meta({ access: { kind: "role", roles } }).use(({ ctx, next }) => {
    if (!roles.some((r) => ctx.member.roles.includes(r))) {
      throw new TRPCError({
        code: "FORBIDDEN",
        message: `This needs the ${roles.join(" or ")} role.`,
      });
    }
    return next();
  });
}
