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
    options?: { cause?: unknown; field?: string },
  ) {
    super(message, { cause: options?.cause });
    this.field = options?.field;
  }
  readonly field: string | undefined;
}

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
    case "BAD_REQUEST":
    case "PARSE_ERROR":
    case "PAYLOAD_TOO_LARGE":
    case "UNPROCESSABLE_CONTENT":
    case "METHOD_NOT_SUPPORTED":
      return "BAD_INPUT";
    default:
      return "INTERNAL";
  }
}
