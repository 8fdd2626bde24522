// A small PDF text extractor for tests, independent of pdfkit: it reads the file's objects, inflates the
// streams, maps each page's font resources to their embedded font and ToUnicode CMap, and decodes every
// string shown with Tj/TJ back to Unicode the way a PDF reader copying text would. Enough for what pdfkit
// writes (Type0 fonts, 2-byte codes, bfrange/bfchar CMaps); it is not a general PDF parser.
import { inflateSync } from "node:zlib";

type PdfObject = { dict: string; stream: Buffer | null };

function objects(pdf: Buffer): Map<number, PdfObject> {
  const text = pdf.toString("latin1");
  const out = new Map<number, PdfObject>();
  const re = /(\d+) 0 obj\s*([\s\S]*?)endobj/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const body = m[2] ?? "";
    const at = body.indexOf("stream");
    if (at === -1) {
      out.set(Number(m[1]), { dict: body, stream: null });
      continue;
    }
    const dict = body.slice(0, at);
    let start = at + "stream".length;
    if (body[start] === "\r") start++;
    if (body[start] === "\n") start++;
    const end = body.lastIndexOf("endstream");
    const raw = Buffer.from(body.slice(start, end), "latin1");
    const stream = /\/FlateDecode/.test(dict) ? inflateSync(raw) : raw;
    out.set(Number(m[1]), { dict, stream });
  }
  return out;
}

function ref(dict: string, key: string): number | null {
  const m = new RegExp(`/${key}\\s+(\\d+) 0 R`).exec(dict);
  return m === null ? null : Number(m[1]);
}

function hexToString(hex: string): string {
  const units: number[] = [];
  for (let i = 0; i + 4 <= hex.length; i += 4) units.push(Number.parseInt(hex.slice(i, i + 4), 16));
  return String.fromCharCode(...units);
}

/** code (2 bytes) → Unicode text, from a ToUnicode CMap. */
function cmap(source: string): Map<number, string> {
  const map = new Map<number, string>();
  for (const block of source.matchAll(/beginbfrange([\s\S]*?)endbfrange/g)) {
    const body = block[1] ?? "";
    for (const m of body.matchAll(/<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>\s*(\[[^\]]*\]|<[0-9a-fA-F]+>)/g)) {
      const lo = Number.parseInt(m[1] ?? "0", 16);
      const hi = Number.parseInt(m[2] ?? "0", 16);
      const dst = m[3] ?? "";
      if (dst.startsWith("[")) {
        // An item may hold several UTF-16 units, space-separated (a ligature: <0066 006c>).
        const items = [...dst.matchAll(/<([0-9a-fA-F\s]+)>/g)].map((x) =>
          hexToString((x[1] ?? "").replace(/\s/g, "")),
        );
        items.forEach((s, i) => {
          map.set(lo + i, s);
        });
      } else {
        const base = hexToString(dst.slice(1, -1));
        for (let c = lo; c <= hi; c++)
          map.set(c, base.slice(0, -1) + String.fromCharCode(base.charCodeAt(base.length - 1) + (c - lo)));
      }
    }
  }
  for (const block of source.matchAll(/beginbfchar([\s\S]*?)endbfchar/g)) {
    for (const m of (block[1] ?? "").matchAll(/<([0-9a-fA-F]+)>\s*<([0-9a-fA-F\s]+)>/g))
      map.set(Number.parseInt(m[1] ?? "0", 16), hexToString((m[2] ?? "").replace(/\s/g, "")));
  }
  return map;
}

export type PdfFont = { resource: string; baseFont: string; embedded: boolean };

/** Every page's text, in drawing order (runs and lines concatenated as drawn), and the fonts the pages use. */
export function pdfText(pdf: Buffer): { text: string; fonts: PdfFont[] } {
  const objs = objects(pdf);
  const fonts = new Map<string, PdfFont>();
  let text = "";
  for (const [, obj] of objs) {
    if (!/\/Type\s*\/Page\b/.test(obj.dict)) continue;
    const resources = objs.get(ref(obj.dict, "Resources") ?? -1)?.dict ?? obj.dict;
    const fontDict = /\/Font\s*<<([\s\S]*?)>>/.exec(resources)?.[1] ?? "";
    const maps = new Map<string, Map<number, string>>();
    for (const m of fontDict.matchAll(/\/(\w+)\s+(\d+) 0 R/g)) {
      const font = objs.get(Number(m[2]));
      if (font === undefined) continue;
      const uni = objs.get(ref(font.dict, "ToUnicode") ?? -1)?.stream;
      const descendant = /\/DescendantFonts\s*\[\s*(\d+) 0 R/.exec(font.dict);
      const cid = descendant === null ? undefined : objs.get(Number(descendant[1]));
      const descriptor = objs.get(ref(cid?.dict ?? font.dict, "FontDescriptor") ?? -1);
      const embedded = descriptor !== undefined && /\/FontFile[23]?\s+\d+ 0 R/.test(descriptor.dict);
      const baseFont = /\/BaseFont\s*\/([^\s/]+)/.exec(font.dict)?.[1] ?? "?";
      fonts.set(`${m[1]}:${baseFont}`, { resource: m[1] ?? "", baseFont, embedded });
      if (uni !== undefined && uni !== null) maps.set(m[1] ?? "", cmap(uni.toString("latin1")));
    }
    const contents = /\/Contents\s+(\d+) 0 R/.exec(obj.dict);
    const content = objs.get(Number(contents?.[1]))?.stream?.toString("latin1") ?? "";
    let current = new Map<number, string>();
    for (const m of content.matchAll(
      /\/(\w+)\s+[\d.]+\s+Tf|(\[[^\]]*\])\s*TJ|<([0-9a-fA-F]*)>\s*Tj|\bET\b/g,
    )) {
      if (m[1] !== undefined) {
        current = maps.get(m[1]) ?? new Map();
        continue;
      }
      if (m[0] === "ET") continue;
      const hexes =
        m[2] !== undefined ? [...m[2].matchAll(/<([0-9a-fA-F]*)>/g)].map((x) => x[1] ?? "") : [m[3] ?? ""];
      for (const hex of hexes)
        for (let i = 0; i + 4 <= hex.length; i += 4)
          text += current.get(Number.parseInt(hex.slice(i, i + 4), 16)) ?? "\uFFFD";
    }
  }
  return { text, fonts: [...fonts.values()] };
}
