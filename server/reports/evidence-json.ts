// The evidence bundle (server/audit/evidence, "keyward-evidence/v2") as the bytes of a JSON download, written a
// slice of events at a time so the body is never one huge string and the event loop turns between slices. The
// text parses to the bundle (/verify reads it whole); its layout — every other field on the first line, then
// one event per line, then "]}" — is what npx keyward-verify reads as a stream.
import "server-only";
import type { Bundle } from "@/server/audit/evidence/bundle";

/** Events (or other array items) serialised per chunk. */
const SLICE = 500;

function* jsonParts(bundle: Bundle): Generator<string> {
  // Every field but the events on the first line, then one event per line: still one JSON value any tool
  // reads, and what keyward-verify streams (a line per event, O(1) of them in memory).
  const { events, ...header } = bundle;
  const head = JSON.stringify(header);
  yield `${head.slice(0, -1)}${head === "{}" ? "" : ","}"events":[\n`;
  for (let at = 0; at < events.length; at += SLICE) {
    const slice = events.slice(at, at + SLICE).map((e) => JSON.stringify(e));
    yield `${slice.join(",\n")}${at + SLICE < events.length ? "," : ""}\n`;
  }
  yield "]}\n";
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
