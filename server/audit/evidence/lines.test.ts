// The streamed read of a bundle (lines.ts), which the CLI and the /verify page's worker share: the download's
// bytes cut into chunks at awkward places (inside a multi-byte UTF-8 character, beside line ends, one byte at a
// time) give verifyBundle's report on the same bundle, a tampered event is named, and a file in any other layout
// is handed back as `left`, saying where, for the caller to read whole.
import { bytesToHex } from "@noble/hashes/utils";
import { describe, expect, it } from "vitest";
import { evidenceJsonStream } from "@/server/reports/evidence-json";
import type { Bundle } from "./bundle";
import { sha256OfCanonical } from "./entry";
import { readLines, verifyKeywardLayout } from "./lines";
import { memoryLog } from "./testing/memory-bundle";
import { verifyBundle } from "./verify";

const utf8 = new TextEncoder();

/** The bytes the download writes (server/reports/evidence-json.ts): one event per line. */
async function download(bundle: Bundle): Promise<Uint8Array> {
  return new Uint8Array(await new Response(evidenceJsonStream(bundle)).arrayBuffer());
}

/** `bytes` as a stream, cut at each of `cuts` (byte offsets, ascending). */
function cutAt(bytes: Uint8Array, cuts: number[]): ReadableStream<Uint8Array<ArrayBuffer>> {
  const bounds = [0, ...cuts.filter((c) => c > 0 && c < bytes.length), bytes.length];
  let i = 0;
  return new ReadableStream<Uint8Array<ArrayBuffer>>({
    pull(controller) {
      const from = bounds[i];
      const to = bounds[i + 1];
      i++;
      if (from === undefined || to === undefined) controller.close();
      else controller.enqueue(bytes.slice(from, to));
    },
  });
}

/** Where `text` starts in `bytes`, every occurrence. */
function offsetsOf(bytes: Uint8Array, text: string): number[] {
  const needle = utf8.encode(text);
  const out: number[] = [];
  for (let i = 0; i + needle.length <= bytes.length; i++)
    if (needle.every((b, j) => bytes[i + j] === b)) out.push(i);
  return out;
}

/** Cuts of uneven sizes (1 to 97 bytes), plus a cut after each byte of every multi-byte character named. */
function awkwardCuts(bytes: Uint8Array, multiByte: string[]): number[] {
  const cuts = new Set<number>();
  for (let at = 0, step = 1; at < bytes.length; step = (step * 31 + 7) % 97 || 1) {
    at += step;
    cuts.add(at);
  }
  for (const ch of multiByte)
    for (const start of offsetsOf(bytes, ch))
      for (let k = 1; k < utf8.encode(ch).length; k++) cuts.add(start + k);
  // And just before and after some line ends.
  bytes.forEach((b, i) => {
    if (b === 0x0a && i % 3 === 0) cuts.add(i).add(i + 1);
  });
  return [...cuts].filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b);
}

const MULTI = ["é", "€", "𝄞"];

/** An honest bundle whose first line holds multi-byte characters (a policy note; its digest made again). */
function bundleWithText(): { bundle: Bundle; vkey: string } {
  const log = memoryLog({ size: 40, checkpointSizes: [10, 20, 30, 40], fromSeq: 11, toSeq: 40 });
  const bundle = structuredClone(log.bundle);
  const policy = bundle.policies[0];
  if (policy === undefined) throw new Error("no policy");
  policy.document = { ...(policy.document as object), note: "révisée: 2 € par 𝄞" };
  policy.digest = bytesToHex(sha256OfCanonical(policy.document));
  return { bundle, vkey: log.key.vkey };
}

describe("verifyKeywardLayout", () => {
  it("gives verifyBundle's report for the download's bytes, however they are cut", async () => {
    const { bundle, vkey } = bundleWithText();
    const bytes = await download(bundle);
    const cuts = awkwardCuts(bytes, MULTI);
    expect(offsetsOf(bytes, "𝄞")).toHaveLength(1);
    const whole = verifyBundle(JSON.parse(new TextDecoder().decode(bytes)), { verifierKey: vkey });
    expect(whole.ok).toBe(true);
    expect(whole.checks.find((c) => c.item === "policy 1")?.ok).toBe(true);

    const read: number[] = [];
    const headers: object[] = [];
    const streamed = await verifyKeywardLayout(
      cutAt(bytes, cuts),
      { verifierKey: vkey },
      { onRead: (n) => read.push(n), onHeader: (h) => headers.push(h) },
    );
    expect(streamed).toEqual({ report: whole });
    expect(read.length).toBe(cuts.length + 1);
    expect(read.at(-1)).toBe(bytes.length);
    expect(headers).toHaveLength(1);
    expect(headers[0]).not.toHaveProperty("events");

    // One byte at a time, and with Windows line ends: the same report.
    const oneByOne = [...bytes.keys()].slice(1);
    expect(await verifyKeywardLayout(cutAt(bytes, oneByOne), { verifierKey: vkey })).toEqual({
      report: whole,
    });
    const crlf = utf8.encode(new TextDecoder().decode(bytes).replaceAll("\n", "\r\n"));
    expect(await verifyKeywardLayout(cutAt(crlf, awkwardCuts(crlf, MULTI)), { verifierKey: vkey })).toEqual({
      report: whole,
    });
  });

  it("names an event changed to hold multi-byte text, as verifyBundle does", async () => {
    const { bundle, vkey } = bundleWithText();
    const victim = bundle.events.find((e) => e.seq === 23);
    if (victim === undefined) throw new Error("no event 23");
    victim.data = { note: "changé après coup: 5 € 𝄞" };
    const bytes = await download(bundle);
    const whole = verifyBundle(JSON.parse(new TextDecoder().decode(bytes)), { verifierKey: vkey });
    const streamed = await verifyKeywardLayout(cutAt(bytes, awkwardCuts(bytes, MULTI)), {
      verifierKey: vkey,
    });
    expect(streamed).toEqual({ report: whole });
    if (!("report" in streamed)) throw new Error("not streamed");
    expect(streamed.report.ok).toBe(false);
    expect(streamed.report.failures.map((f) => `${f.item}: ${f.reason}`)).toEqual([
      "event 23: its hash is not SHA-256 of its previous hash and its content",
      expect.stringMatching(/^inclusion of events 11-40: .* do not give the root of checkpoint 40/),
    ]);
  });

  it("hands back any other layout, saying where it leaves Keyward's, for a whole read", async () => {
    const { bundle } = bundleWithText();
    const text = new TextDecoder().decode(await download(bundle));
    const leaves = async (t: string) => verifyKeywardLayout(cutAt(utf8.encode(t), [5, 300, 301]), {});
    expect(await leaves(JSON.stringify(bundle))).toEqual({
      left: "line 1: not Keyward's one-event-per-line layout",
    });
    expect(await leaves(JSON.stringify(bundle, null, 2))).toEqual({
      left: "line 1: not Keyward's one-event-per-line layout",
    });
    expect(await leaves(text.replace("},\n{", "},\n\n{"))).toEqual({
      left: expect.stringMatching(/^line 3: /),
    });
    expect(await leaves(text.replace("\n]}\n", "\n"))).toEqual({
      left: "the file ends before its events do",
    });
    expect(await leaves(`${text}{}\n`)).toEqual({
      left: `line ${text.split("\n").length}: text after the end of the bundle`,
    });
    expect(await leaves("")).toEqual({ left: "the file ends before its events do" });
  });
});

describe("readLines", () => {
  const text = (parts: string[]) =>
    new ReadableStream<string>({
      pull(controller) {
        const next = parts.shift();
        if (next === undefined) controller.close();
        else controller.enqueue(next);
      },
    });
  const linesOf = async (parts: string[]) => {
    const out: string[] = [];
    await readLines(text(parts), (line) => out.push(line) > 0);
    return out;
  };

  it("splits at \\n and \\r\\n wherever the chunks end, as readline does", async () => {
    expect(await linesOf(["a", "b\nc", "\r", "\n", "\nd\n"])).toEqual(["ab", "c", "", "d"]);
    expect(await linesOf(["x\n", "last"])).toEqual(["x", "last"]);
    expect(await linesOf([])).toEqual([]);
    const long = "y".repeat(10_000);
    const sevens = Array.from({ length: Math.ceil(long.length / 7) }, (_, i) => long.slice(7 * i, 7 * i + 7));
    expect(await linesOf([...sevens, "\n"])).toEqual([long]);
  });

  it("stops reading, and cancels the stream, when told to", async () => {
    let cancelled = false;
    const seen: string[] = [];
    const stream = new ReadableStream<string>({
      start(controller) {
        controller.enqueue("one\ntwo\nthree\n");
      },
      cancel() {
        cancelled = true;
      },
    });
    await readLines(stream, (line) => seen.push(line) < 2);
    expect(seen).toEqual(["one", "two"]);
    expect(cancelled).toBe(true);
  });
});
