// The QR code of an address is SVG drawn on the server, encoding exactly the address (decoded back by size only:
// the same text gives the same symbol, another address another).
import { describe, expect, it } from "vitest";
import { addressQrSvg } from "./address-qr";

describe("addressQrSvg", () => {
  it("draws an SVG, the same for the same address and different for another", async () => {
    const a = await addressQrSvg("tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx");
    expect(a.startsWith("<svg")).toBe(true);
    expect(a).toContain('width="176"');
    expect(a).not.toContain("<script");
    expect(await addressQrSvg("tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx")).toBe(a);
    expect(await addressQrSvg("0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf")).not.toBe(a);
  });
});
