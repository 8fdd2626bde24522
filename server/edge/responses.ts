// Error responses the web edge sends itself (before tRPC or Auth.js run): JSON with a closed code and our
// own message, never a library's text.
import { type ErrorCode, HTTP_STATUS } from "@/server/errors";

export function edgeError(code: ErrorCode, message: string, headers: Record<string, string> = {}): Response {
  return Response.json(
    { error: { code, message } },
    { status: HTTP_STATUS[code], headers: { "Cache-Control": "no-store", ...headers } },
  );
}
