// The /verify page's client code as a browser gets it (esbuild, minified, React left out as Next ships it
// apart): no Node built-in, no "server-only", no tRPC client, and no way to send anything — no fetch,
// XMLHttpRequest, WebSocket or beacon in the whole bundle, libraries included — within a size budget.
import path from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { bundleForBrowser } from "@/server/testing/browser-bundle";

// Measured 2026-12-03: 796 KB minified, 197 KB gzip — zod ~454 KB minified, and @simplewebauthn/server/helpers
// (imported by vote-check.ts for CBOR only) brings @peculiar/x509, asn1js and tsyringe, ~210 KB minified.
const GZIP_BUDGET = 230_000;

describe("the /verify page's client bundle", () => {
  it("pulls in nothing Node-only or server-side, cannot send anything, and stays within its budget", async () => {
    const out = await bundleForBrowser(path.join(import.meta.dirname, "verify-form.tsx"), {
      minify: true,
      jsx: "automatic",
      external: ["react", "react-dom", "react/jsx-runtime"],
    });
    expect(out.errors).toEqual([]);
    const inputs = Object.keys(out.metafile.inputs);
    expect(inputs.filter((i) => /server-only|^node:|@trpc|_trpc|server\/db|next-auth/.test(i))).toEqual([]);
    expect(inputs.some((i) => i.endsWith("server/audit/evidence/verify.ts"))).toBe(true);
    const [file] = out.outputFiles;
    if (file === undefined) throw new Error("no output");
    const js = file.text;
    for (const sender of ["fetch(", "XMLHttpRequest", "WebSocket", "sendBeacon", "EventSource"])
      expect(js.includes(sender), sender).toBe(false);
    expect(gzipSync(file.contents).length).toBeLessThan(GZIP_BUDGET);
  });
});
