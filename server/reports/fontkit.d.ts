// The little of fontkit (2.0.4, pdfkit's own font reader; it ships no types) that fonts.ts uses.
declare module "fontkit" {
  export interface Font {
    hasGlyphForCodePoint(codePoint: number): boolean;
    readonly postscriptName: string;
  }
  export function create(buffer: Buffer): Font | { fonts: Font[] };
}
