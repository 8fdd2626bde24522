// Cross-site request refusal: a state-changing request (any POST to the API) must come from a page of
// KEYWARD_ORIGIN. Browsers send Origin on every POST, so a missing one is refused too (a non-browser client
// can send the right Origin; that is not a cross-site attack).
import { edgeError } from "./responses";

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** The refusal for a request from another origin, or null when it may go on. */
export function refuseForeignOrigin(request: Request, origin: string): Response | null {
  if (SAFE_METHODS.has(request.method)) return null;
  const sent = request.headers.get("origin");
  if (sent === origin) return null;
  return edgeError(
    "FORBIDDEN",
    sent === null
      ? `Refused: this ${request.method} request has no Origin header. Use the console at ${origin}.`
      : `Refused: requests from ${sent.slice(0, 100)} may not change anything here. Use the console at ${origin}.`,
  );
}
