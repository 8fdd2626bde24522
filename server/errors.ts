// One error type with a closed list of codes. UI and tests switch on the code, never on the message.
// Messages say what happened and what to do; they never carry secrets.
import { TRPCError } from "@trpc/server";

export const ERROR_CODES = {
  UNAUTHENTICATED: "UNAUTHORIZED",
  FORBIDDEN: "FORBIDDEN",
  NOT_FOUND: "NOT_FOUND",
  CONFLICT: "CONFLICT",
  BAD_INPUT: "BAD_REQUEST",
  EXPIRED: "BAD_REQUEST",
  RATE_LIMITED: "TOO_MANY_REQUESTS",
  TOO_LARGE: "PAYLOAD_TOO_LARGE",
  TOKEN_REFUSED: "BAD_REQUEST",
  HSM_UNAVAILABLE: "SERVICE_UNAVAILABLE",
  INTERNAL: "INTERNAL_SERVER_ERROR",
} as const satisfies Record<string, TRPCError["code"]>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class AppError extends Error {
  override name = "AppError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown; field?: string; retryAfterSeconds?: number },
  ) {
    super(message, { cause: options?.cause });
    this.field = options?.field;
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }
  readonly field: string | undefined;
  /** RATE_LIMITED only: seconds until the budget refills, sent as Retry-After. */
  readonly retryAfterSeconds: number | undefined;
}

/**
 * What a person sees for an error that did not come from our own code (a library's, a driver's, a bug): one
 * fixed text per code. The original is logged on the server; its text never reaches the browser.
 */
export const PUBLIC_MESSAGES: Record<ErrorCode, string> = {
  UNAUTHENTICATED: "Sign in with your hardware token.",
  FORBIDDEN: "You are not allowed to do this.",
  NOT_FOUND: "Not found.",
  CONFLICT: "This changed meanwhile. Reload the page and try again.",
  BAD_INPUT: "The request was malformed. Reload the page and try again.",
  EXPIRED: "This has expired. Start again.",
  RATE_LIMITED: "Too many requests. Wait a minute and try again.",
  TOO_LARGE: "The request is too large.",
  TOKEN_REFUSED: "The hardware token was refused.",
  HSM_UNAVAILABLE: "The HSM is unavailable. Try again shortly.",
  INTERNAL: "Something went wrong on the server. It has been logged; try again.",
};

/** HTTP status of each code, for responses built outside tRPC (route handlers, the web edge). */
export const HTTP_STATUS: Record<ErrorCode, number> = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  BAD_INPUT: 400,
  EXPIRED: 400,
  RATE_LIMITED: 429,
  TOO_LARGE: 413,
  TOKEN_REFUSED: 400,
  HSM_UNAVAILABLE: 503,
  INTERNAL: 500,
};

export function toTRPCError(e: AppError): TRPCError {
  return new TRPCError({ code: ERROR_CODES[e.code], message: e.message, cause: e });
}

/** The closed code for an error that did not start as an AppError (auth middleware, input parsing, bugs). */
export function codeOfTRPCError(code: TRPCError["code"]): ErrorCode {
  switch (code) {
    case "UNAUTHORIZED":
      return "UNAUTHENTICATED";
    case "FORBIDDEN":
      return "FORBIDDEN";
    case "NOT_FOUND":
      return "NOT_FOUND";
    case "CONFLICT":
      return "CONFLICT";
    case "TOO_MANY_REQUESTS":
      return "RATE_LIMITED";
    case "PAYLOAD_TOO_LARGE":
      return "TOO_LARGE";
    case "BAD_REQUEST":
    case "PARSE_ERROR":
    case "UNPROCESSABLE_CONTENT":
    case "METHOD_NOT_SUPPORTED":
      return "BAD_INPUT";
    default:
      return "INTERNAL";
  }
}
