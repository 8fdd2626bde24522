// A bundle in Keyward's download layout (server/reports/evidence-json.ts: every field but the events on the first
// line, then one event per line, then "]}") verified as it is read: bytes in, lines out, each event handed to
// createStreamVerifier and dropped, so a million events are never held at once. The CLI
// (scripts/keyward-verify.mjs) and the /verify page's worker both read bundles through it. Browser-safe: web
// streams only, no Node built-in. It never reads a file whole: a file in another layout comes back as `left`
// (with where and why), and the caller reads that one whole with verifyBundle.
import { createStreamVerifier, type StreamVerifier, type VerifyOptions, type VerifyReport } from "./verify";

/** How the first line ends in Keyward's layout: the events follow, one a line. */
const EVENTS = '"events":[';

export type LayoutResult = { report: VerifyReport } | { left: string };

export type LayoutHooks = {
  /** The bundle's first line parsed (every field but the events), before it is checked (the CLI prints its key). */
  onHeader?: (header: object) => void;
  /** After each chunk of bytes is read: how many so far. */
  onRead?: (bytesRead: number) => void;
};

/**
 * Calls `onLine` with each line of a text stream, in order, without its end ("\n" or "\r\n"); chunks may split
 * a line anywhere; a last line without an end counts, an empty tail after the last end does not (as readline).
 * `onLine` returning false stops the reading (the stream is cancelled).
 */
export async function readLines(
  text: ReadableStream<string>,
  onLine: (line: string) => boolean,
): Promise<void> {
  const reader = text.getReader();
  // The start of a line that spans chunks, kept as parts: appending to one string and searching it again
  // for every chunk would be quadratic on a file with one long line.
  let parts: string[] = [];
  const emit = (line: string) => onLine(line.endsWith("\r") ? line.slice(0, -1) : line);
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    let from = 0;
    for (let end = value.indexOf("\n"); end !== -1; end = value.indexOf("\n", from)) {
      let line = value.slice(from, end);
      if (parts.length > 0) {
        parts.push(line);
        line = parts.join("");
        parts = [];
      }
      from = end + 1;
      if (!emit(line)) {
        await reader.cancel();
        return;
      }
    }
    if (from < value.length) parts.push(value.slice(from));
  }
  if (parts.length > 0) emit(parts.join(""));
}

/** The bundle's bytes (UTF-8) checked in Keyward's layout: its report, or where and why the file leaves it. */
export async function verifyKeywardLayout(
  bytes: ReadableStream<Uint8Array<ArrayBuffer>>,
  options: VerifyOptions,
  hooks: LayoutHooks = {},
): Promise<LayoutResult> {
  let read = 0;
  const counted = bytes.pipeThrough(
    new TransformStream<Uint8Array<ArrayBuffer>, Uint8Array<ArrayBuffer>>({
      transform(chunk, controller) {
        read += chunk.byteLength;
        hooks.onRead?.(read);
        controller.enqueue(chunk);
      },
    }),
  );
  const layout = layoutReader(options, hooks);
  await readLines(counted.pipeThrough(new TextDecoderStream()), layout.line);
  return layout.finish();
}

/** The layout's lines one at a time: a header, events each ending with a comma but the last, "]}", nothing more. */
function layoutReader(options: VerifyOptions, hooks: LayoutHooks) {
  let n = 0;
  let verifier: StreamVerifier | null = null;
  let comma = true; // the previous event line ended with a comma (another event may follow)
  let closed = false;
  let left: string | null = null;
  const leave = (why: string) => {
    left ??= `line ${n}: ${why}`;
    return false;
  };

  const line = (text: string): boolean => {
    n++;
    try {
      if (verifier === null) {
        if (!text.startsWith("{") || !text.endsWith(EVENTS))
          return leave("not Keyward's one-event-per-line layout");
        let head = text.slice(0, -EVENTS.length);
        if (head.endsWith(",")) head = head.slice(0, -1);
        const header: unknown = JSON.parse(`${head}}`);
        if (typeof header !== "object" || header === null) return leave("the first line is not an object");
        // The events are the lines that follow, even if the first line names some too.
        Reflect.deleteProperty(header, "events");
        hooks.onHeader?.(header);
        verifier = createStreamVerifier(header, options);
        return true;
      }
      if (closed) return text.trim() === "" || leave("text after the end of the bundle");
      if (text === "]}") {
        if (!comma || n === 2) closed = true;
        else return leave("a comma before the end of the events");
        return true;
      }
      if (!comma) return leave("an event line without a comma before the next");
      comma = text.endsWith(",");
      verifier.event(JSON.parse(comma ? text.slice(0, -1) : text));
      return true;
    } catch (e) {
      return leave(e instanceof Error ? e.message : String(e));
    }
  };

  const finish = (): LayoutResult => {
    if (left !== null) return { left };
    if (verifier === null || !closed) return { left: "the file ends before its events do" };
    return { report: verifier.finish() };
  };
  return { line, finish };
}
