// The fonts the report PDF embeds, all shipped with Keyward (nothing is fetched at run time): DejaVu Sans
// (npm dejavu-fonts-ttf) for most scripts and symbols (Ł, ✓, Cyrillic, Greek, Hebrew, Arabic), Noto Sans
// (server/reports/fonts/, OFL) for what DejaVu lacks such as ₿, and Noto Sans SC (OFL) for Chinese and Japanese
// kana. pdfkit has no font fallback and its standard fonts are WinAnsi only (they silently garble Ł and ₿), so
// text is cut into runs, each set in the first font that has a glyph for every character of the run.
import "server-only";
import { readFileSync } from "node:fs";
import path from "node:path";
import { create, type Font } from "fontkit";
import { installRoot } from "@/server/install-root";

export type FontName = "dejavu" | "dejavu-bold" | "noto" | "noto-sc";

type Loaded = { name: FontName; data: Buffer; font: Font };

const FILES: { name: FontName; file: string[] }[] = [
  { name: "dejavu", file: ["node_modules", "dejavu-fonts-ttf", "ttf", "DejaVuSans.ttf"] },
  { name: "dejavu-bold", file: ["node_modules", "dejavu-fonts-ttf", "ttf", "DejaVuSans-Bold.ttf"] },
  { name: "noto", file: ["server", "reports", "fonts", "NotoSans-Regular.ttf"] },
  { name: "noto-sc", file: ["server", "reports", "fonts", "NotoSansSC-Regular.ttf"] },
];

let loaded: Map<FontName, Loaded> | undefined;

function load(): Map<FontName, Loaded> {
  if (loaded !== undefined) return loaded;
  const root = installRoot();
  const out = new Map<FontName, Loaded>();
  for (const { name, file } of FILES) {
    const data = readFileSync(path.join(root, ...file));
    const opened = create(data);
    const font = "fonts" in opened ? opened.fonts[0] : opened;
    if (font === undefined) throw new Error(`the report font ${file.join("/")} holds no font`);
    out.set(name, { name, data, font });
  }
  loaded = out;
  return out;
}

/** The font files, to register with a pdfkit document under their names. */
export function reportFonts(): { name: FontName; data: Buffer }[] {
  return [...load().values()].map(({ name, data }) => ({ name, data }));
}

export type Run = { font: FontName; text: string };

/** Which fonts are tried, in order, for body text and for headings. */
const STACKS: Record<"body" | "bold", FontName[]> = {
  body: ["dejavu", "noto", "noto-sc"],
  bold: ["dejavu-bold", "dejavu", "noto", "noto-sc"],
};

/** `text` cut into runs of one font each: every character in the first font of the stack that has it. */
export function fontRuns(text: string, weight: "body" | "bold" = "body"): Run[] {
  const fonts = load();
  const stack = STACKS[weight];
  const first = stack[0] ?? "dejavu";
  const runs: Run[] = [];
  for (const ch of text) {
    const cp = ch.codePointAt(0) ?? 0;
    // Spaces and line breaks stay in the current run: every font has them, and a run per space costs a font switch.
    const font =
      /\s/.test(ch) && runs.length > 0
        ? (runs[runs.length - 1]?.font ?? first)
        : (stack.find((n) => fonts.get(n)?.font.hasGlyphForCodePoint(cp)) ?? first);
    const last = runs[runs.length - 1];
    if (last !== undefined && last.font === font) last.text += ch;
    else runs.push({ font, text: ch });
  }
  return runs;
}
