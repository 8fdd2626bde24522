// Request bodies are capped before anyone parses them: Content-Length is checked first, then the stream is
// counted as it arrives (a chunked body has no length), and reading stops at the cap.
import { edgeError } from "./responses";

export const MAX_BODY_BYTES = 64 * 1024;

function tooLarge(limit: number): Response {
  return edgeError("TOO_LARGE", `The request body is larger than ${Math.round(limit / 1024)} KiB.`);
}

/** The request with its body read (at most `limit` bytes), or the 413 response. */
export async function capBody(request: Request, limit = MAX_BODY_BYTES): Promise<Request | Response> {
  if (request.body === null) return request;
  const declared = request.headers.get("content-length");
  if (declared !== null && !(Number(declared) <= limit)) {
    await request.body.cancel();
    return tooLarge(limit);
  }
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel();
      return tooLarge(limit);
    }
    chunks.push(value);
  }
  const body = Buffer.concat(chunks);
  const headers = new Headers(request.headers);
  headers.set("content-length", String(body.byteLength));
  return new Request(request.url, { method: request.method, headers, body, signal: request.signal });
}
