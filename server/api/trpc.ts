// tRPC: the request context and the only three ways to build a procedure — publicProcedure,
// memberProcedure and withRole(...). Each declares its access rule in meta, which the access test reads.
// Public procedures spend the caller's rate budget first; refusals (FORBIDDEN) are audited as access.denied;
// only our own messages reach the browser.
import "server-only";
import { initTRPC } from "@trpc/server";
import superjson from "superjson";
import { ZodError } from "zod";
import type { Db } from "@/db/client";
import type { Role } from "@/db/schema";
import { recordAccessDenied } from "@/server/audit/access-denied";
import type { SessionMember } from "@/server/auth/sessions";
import { type Clock, systemClock } from "@/server/clock";
import { endpointOfProcedure, type RateLimits, rateLimitMessage } from "@/server/edge/rate-limit";
import { AppError, codeOfTRPCError, type ErrorCode, PUBLIC_MESSAGES, toTRPCError } from "@/server/errors";
import { SSE_KEEP_ALIVE } from "@/server/live/keep-alive";

/** The network client a request comes from (server/edge/client-address.ts) and the budgets it spends. */
export type EdgeClient = { address: string; limits: RateLimits };

export type Context = {
  db: Db;
  engine: "pglite" | "postgres";
  session: SessionMember | null;
  clock: Clock;
  /** null only for in-process calls made on nobody's behalf over the network (tests, scripts). */
  edge: EdgeClient | null;
};

export type Access = { kind: "public" } | { kind: "member" } | { kind: "role"; roles: readonly Role[] };
export type Meta = { access?: Access };

export function createContext(
  input: Omit<Context, "clock" | "edge"> & { clock?: Clock; edge?: EdgeClient | null },
): Context {
  return { ...input, clock: input.clock ?? systemClock, edge: input.edge ?? null };
}

const t = initTRPC
  .context<Context>()
  .meta<Meta>()
  .create({
    transformer: superjson,
    // Live streams: a ping when idle, and the browser reconnects a stream gone quiet (server/live/keep-alive.ts).
    sse: SSE_KEEP_ALIVE,
    errorFormatter({ shape, error, path }) {
      const app = error.cause instanceof AppError ? error.cause : undefined;
      const issue = error.cause instanceof ZodError ? error.cause.issues[0] : undefined;
      const issueField = issue && issue.path.length > 0 ? issue.path.join(".") : undefined;
      const appCode: ErrorCode = app?.code ?? (issue ? "BAD_INPUT" : codeOfTRPCError(error.code));
      // Library, driver and parser text (tRPC's own, a JSON parser's, a database's) stays in the server log.
      if (!app && !issue)
        console.error(`[trpc] ${path ?? "(no procedure)"}: ${error.code}`, error.cause ?? error.message);
      return {
        ...shape,
        message: app
          ? app.message
          : issue
            ? // Name the field: zod's own messages ("Invalid UUID") do not.
              `${issueField ? `${issueField}: ` : ""}${issue.message}`
            : PUBLIC_MESSAGES[appCode],
        data: {
          code: shape.data.code,
          httpStatus: shape.data.httpStatus,
          path: shape.data.path,
          appCode,
          field: app?.field ?? issueField ?? null,
        },
      };
    },
  });

export const createTRPCRouter = t.router;
export const createCallerFactory = t.createCallerFactory;

/** Turns domain errors into tRPC errors with the mapped code, and audits every refused authorisation. */
const mapErrors = t.middleware(async ({ ctx, next, path, meta }) => {
  const result = await next();
  if (result.ok) return result;
  const cause = result.error.cause;
  const error = cause instanceof AppError ? toTRPCError(cause) : result.error;
  const member = ctx.session?.member;
  if (error.code === "FORBIDDEN" && member) {
    await recordAccessDenied(ctx.db, {
      memberId: member.id,
      procedure: path,
      requiredRoles: meta?.access?.kind === "role" ? meta.access.roles : [],
      at: ctx.clock(),
    });
  }
  if (cause instanceof AppError) throw error;
  return result;
});

/** Public procedures answer anyone: each call spends one unit of its endpoint's budgets before it runs. */
const rateLimited = t.middleware(async ({ ctx, next, path, type }) => {
  if (ctx.edge) {
    const kind = type === "query" ? "read" : "write";
    const decision = await ctx.edge.limits.consume(endpointOfProcedure(path), ctx.edge.address, kind);
    if (!decision.ok) {
      throw new AppError("RATE_LIMITED", rateLimitMessage(decision), {
        retryAfterSeconds: decision.retryAfterSeconds,
      });
    }
  }
  return next();
});

export const publicProcedure = t.procedure
  .meta({ access: { kind: "public" } })
  .use(mapErrors)
  .use(rateLimited);

export const memberProcedure = t.procedure
  .meta({ access: { kind: "member" } })
  .use(mapErrors)
  .use(({ ctx, next }) => {
    if (!ctx.session) throw new AppError("UNAUTHENTICATED", "Sign in with your hardware token.");
    return next({ ctx: { ...ctx, session: ctx.session, member: ctx.session.member } });
  });

/** A procedure open to members holding at least one of `roles`. */
export function withRole(...roles: [Role, ...Role[]]) {
  return memberProcedure.meta({ access: { kind: "role", roles } }).use(({ ctx, next }) => {
    if (!roles.some((r) => ctx.member.roles.includes(r))) {
      throw new AppError("FORBIDDEN", `This needs the ${roles.join(" or ")} role.`);
    }
    return next();
  });
}
