// The streamed evidence JSON is exactly JSON.stringify(bundle) (what the verifier reads), also when the events
// span several slices, and it arrives in more than one chunk.
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
  it("writes JSON.stringify(bundle) over several slices of events, and the verifier accepts it", async () => {
    const { bundle } = memoryLog({ size: 1_300, checkpointSizes: [2, 1_300], fromSeq: 3, toSeq: 1_250 });
    expect(bundle.events.length).toBeGreaterThan(1_000);
    const { text, chunks } = await read(evidenceJsonStream(bundle));
    expect(text).toBe(`${JSON.stringify(bundle)}\n`);
    expect(chunks).toBeGreaterThan(Object.keys(bundle).length + 3);
    expect(verifyBundle(JSON.parse(text)).failures).toEqual([]);
  });
});
