// The streamed evidence JSON parses to the bundle (what the verifier reads), also when the events span several
// slices, in the layout keyward-verify streams (one event per line), and it arrives in more than one chunk.
import { describe, expect, it } from "vitest";
import { memoryLog } from "@/server/audit/evidence/testing/memory-bundle";
import { verifyBundle } from "@/server/audit/evidence/verify";
import { evidenceJsonStream } from "./evidence-json";

async function read(stream: ReadableStream<Uint8Array>): Promise<{ text: string; chunks: number }> {
  const decoder = new TextDecoder();
  let text = "";
  let chunks = 0;
  const reader = stream.getReader();
  for (let next = await reader.read(); !next.done; next = await reader.read()) {
    text += decoder.decode(next.value, { stream: true });
    chunks++;
  }
  return { text: text + decoder.decode(), chunks };
}

describe("evidenceJsonStream", () => {
  it("writes the bundle over several slices of events, one event per line, and the verifier accepts it", async () => {
    const { bundle } = memoryLog({ size: 1_300, checkpointSizes: [2, 1_300], fromSeq: 3, toSeq: 1_250 });
    expect(bundle.events.length).toBeGreaterThan(1_000);
    const { text, chunks } = await read(evidenceJsonStream(bundle));
    expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(bundle)));
    expect(chunks).toBeGreaterThan(3);
    expect(verifyBundle(JSON.parse(text)).failures).toEqual([]);
    // The layout keyward-verify streams: every other field, then one event per line, then "]}".
    const lines = text.split("\n");
    expect(lines[0]?.endsWith('"events":[')).toBe(true);
    const { events, ...header } = bundle;
    expect(JSON.parse(`${lines[0]?.slice(0, -',"events":['.length)}}`)).toEqual(
      JSON.parse(JSON.stringify(header)),
    );
    expect(lines.slice(1, -2).map((l) => JSON.parse(l.replace(/,$/, "")))).toEqual(
      JSON.parse(JSON.stringify(events)),
    );
    expect(lines.slice(-2)).toEqual(["]}", ""]);
    const empty = await read(evidenceJsonStream({ ...bundle, events: [] }));
    expect(JSON.parse(empty.text).events).toEqual([]);
  });
});
