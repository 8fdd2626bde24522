// The HTTP API's request handling, framework-free (Request in, Response out) so tests drive it without Next:
// body cap → bearer key → the account's rate limit (429 + Retry-After) → scope → input → the domain function.
// Every refusal is RFC 9457 problem+json naming the field at fault; nothing a library says reaches the caller,
// and the key never appears in a log or an answer.
import "server-only";
import type { ZodError } from "zod";
import type { Db } from "@/db/client";
import type { ServiceScope } from "@/db/schema";
import type { Clock } from "@/server/clock";
import { capBody } from "@/server/edge/body-limit";
import { AppError, type ErrorCode, HTTP_STATUS, PUBLIC_MESSAGES } from "@/server/errors";
import { withdrawalInputSchema } from "@/server/operations/kinds/withdrawal-schema";
import { idempotencyKeySchema, type Problem, withdrawalIdSchema } from "./api-schemas";
import { authenticateServiceKey, requireScope, type ServiceAccount } from "./authenticate";
import type { ServiceRateLimits } from "./rate-limit";
import { bodyDigest } from "./idempotency";
import { proposeWithdrawalOnce, readWithdrawal } from "./withdrawal-api";

export type ApiDeps = { db: Db; clock: Clock; limits: ServiceRateLimits };

const PROBLEM_TITLES: Record<ErrorCode, string> = {
  UNAUTHENTICATED: "Not authenticated",
  FORBIDDEN: "Not allowed",
  NOT_FOUND: "Not found",
  CONFLICT: "Conflict",
  BAD_INPUT: "Invalid request",
  EXPIRED: "Expired",
  RATE_LIMITED: "Too many requests",
  TOO_LARGE: "Request too large",
  TOKEN_REFUSED: "Refused",
  HSM_UNAVAILABLE: "HSM unavailable",
  INTERNAL: "Internal error",
};

/** A problem+json response. */
export function problem(
  code: ErrorCode,
  detail: string,
  options: { field?: string | null; errors?: Problem["errors"]; headers?: Record<string, string> } = {},
): Response {
  const status = HTTP_STATUS[code];
  const body: Problem = {
    type: `urn:keyward:problem:${code.toLowerCase()}`,
    title: PROBLEM_TITLES[code],
    status,
    detail,
    code,
    field: options.field ?? null,
    ...(options.errors ? { errors: options.errors } : {}),
  };
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/problem+json", "Cache-Control": "no-store", ...options.headers },
  });
}

/** A field as the API names it: the kind's "payload.amount" is the body's "amount". */
function apiField(field: string | undefined): string | null {
  if (field === undefined) return null;
  return field.startsWith("payload.") ? field.slice("payload.".length) : field;
}

function fromError(e: unknown): Response {
  if (e instanceof AppError) {
    const headers: Record<string, string> =
      e.retryAfterSeconds !== undefined ? { "Retry-After": String(e.retryAfterSeconds) } : {};
    if (e.code === "UNAUTHENTICATED") headers["WWW-Authenticate"] = 'Bearer realm="keyward"';
    const field = apiField(e.field);
    const detail = e.field?.startsWith("payload.") ? e.message.replace(/^payload\./, "") : e.message;
    return problem(e.code, detail, { field, headers });
  }
  console.error("[api] request failed:", e instanceof Error ? e.message : e);
  return problem("INTERNAL", PUBLIC_MESSAGES.INTERNAL);
}

function invalid(error: ZodError, prefix = ""): Response {
  const errors = error.issues.map((i) => ({
    field: [prefix, ...i.path.map(String)].filter((p) => p !== "").join(".") || "body",
    message: i.message,
  }));
  const first = errors[0] ?? { field: "body", message: "invalid" };
  return problem("BAD_INPUT", `${first.field}: ${first.message}`, { field: first.field, errors });
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", "Cache-Control": "no-store", ...headers },
  });
}

/** Authenticates, spends one unit of the account's budget, checks the scope. */
async function admit(
  request: Request,
  deps: ApiDeps,
  scope: ServiceScope,
): Promise<ServiceAccount | Response> {
  const now = deps.clock();
  const account = await authenticateServiceKey(deps.db, {
    authorization: request.headers.get("authorization"),
    now,
  });
  const decision = await deps.limits.consume(account.id, account.ratePerMinute);
  if (!decision.ok) {
    return problem(
      "RATE_LIMITED",
      `This service account may make ${account.ratePerMinute} requests a minute. Try again in ${decision.retryAfterSeconds} s.`,
      { headers: { "Retry-After": String(decision.retryAfterSeconds) } },
    );
  }
  await requireScope(deps.db, account, scope, now);
  return account;
}

/** POST /api/v1/withdrawals */
export async function postWithdrawal(request: Request, deps: ApiDeps): Promise<Response> {
  try {
    const capped = await capBody(request);
    if (capped instanceof Response) return problem("TOO_LARGE", "The request body is larger than 64 KiB.");
    const account = await admit(capped, deps, "withdrawals:propose");
    if (account instanceof Response) return account;
    const key = idempotencyKeySchema.safeParse(capped.headers.get("idempotency-key") ?? undefined);
    if (!key.success) {
      const message = key.error.issues[0]?.message ?? "invalid";
      return problem("BAD_INPUT", `Idempotency-Key: ${message}`, { field: "Idempotency-Key" });
    }
    let body: unknown;
    try {
      body = await capped.json();
    } catch {
      return problem("BAD_INPUT", "body: the body must be JSON (Content-Type: application/json).", {
        field: "body",
      });
    }
    const parsed = withdrawalInputSchema.safeParse(body);
    if (!parsed.success) return invalid(parsed.error);
    const answer = await proposeWithdrawalOnce(deps.db, {
      serviceAccountId: account.id,
      idempotencyKey: key.data,
      digest: bodyDigest(body),
      withdrawal: parsed.data,
      now: deps.clock(),
    });
    return json(answer.status, answer.body, {
      Location: `/api/v1/withdrawals/${answer.body.id}`,
      ...(answer.replayed ? { "Idempotent-Replayed": "true" } : {}),
    });
  } catch (e) {
    return fromError(e);
  }
}

/** GET /api/v1/withdrawals/{id} */
export async function getWithdrawal(request: Request, id: string, deps: ApiDeps): Promise<Response> {
  try {
    const account = await admit(request, deps, "withdrawals:read");
    if (account instanceof Response) return account;
    const parsed = withdrawalIdSchema.safeParse(id);
    if (!parsed.success) return invalid(parsed.error, "id");
    return json(200, await readWithdrawal(deps.db, { serviceAccountId: account.id, id: parsed.data }));
  } catch (e) {
    return fromError(e);
  }
}
