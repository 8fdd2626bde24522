// The evidence bundle (server/audit/evidence, "keyward-evidence/v1") as the bytes of a JSON download, written a
// slice of events at a time so the body is never one huge string and the event loop turns between slices. The
// text is exactly JSON.stringify(bundle): the verifier (/verify, npx keyward-verify) reads it as it is.
import "server-only";
import type { Bundle } from "@/server/audit/evidence/bundle";

/** Events (or other array items) serialised per chunk. */
const SLICE = 500;

function* jsonParts(bundle: Bundle): Generator<string> {
  let first = true;
  yield "{";
  for (const [key, value] of Object.entries(bundle)) {
    if (value === undefined) continue; // as JSON.stringify leaves it out
    yield `${first ? "" : ","}${JSON.stringify(key)}:`;
    first = false;
    if (!Array.isArray(value) || value.length <= SLICE) {
      yield JSON.stringify(value);
      continue;
    }
    yield "[";
    for (let at = 0; at < value.length; at += SLICE)
      yield `${at === 0 ? "" : ","}${value
        .slice(at, at + SLICE)
        .map((item) => JSON.stringify(item))
        .join(",")}`;
    yield "]";
  }
  yield "}\n";
}

export function evidenceJsonStream(bundle: Bundle): ReadableStream<Uint8Array> {
  const parts = jsonParts(bundle);
  const encoder = new TextEncoder();
  return new ReadableStream<Uint8Array>({
    // One part per pull: the consumer's pace decides, and other requests run between parts.
    pull(controller) {
      const next = parts.next();
      if (next.done) controller.close();
      else controller.enqueue(encoder.encode(next.value));
    },
  });
}
