// A deposit address as a QR code, drawn on the server as SVG (qrcode 1.5.4): no script runs in the browser to
// make it, and what it encodes is exactly the canonical address shown beside it (no URI scheme, no amount), so
// any wallet that scans it reads the same characters a person can compare.
import "server-only";
import QRCode from "qrcode";

/** The SVG markup of `address` as a QR code (error correction M, 4-module quiet zone). */
export async function addressQrSvg(address: string): Promise<string> {
  return QRCode.toString(address, { type: "svg", errorCorrectionLevel: "M", margin: 4, width: 176 });
}
