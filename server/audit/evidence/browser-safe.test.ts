// The verifier must run in the browser (the offline /verify page) as it runs in the CLI: bundling it for the
// browser pulls in no Node built-in and no "server-only"; the exporter, which reads the database, does not bundle.
import path from "node:path";
import { describe, expect, it } from "vitest";
import { bundleForBrowser } from "@/server/testing/browser-bundle";

// As the app resolves them (tsconfig paths): only export.ts uses them.
const bundle = (file: string) => bundleForBrowser(path.join(import.meta.dirname, file));

describe("browser-safe evidence verifier", () => {
  it.each([
    "verify.ts",
    "lines.ts",
    "report.ts",
    "report-text.ts",
    "bundle.ts",
    "entry.ts",
    "vote-check.ts",
    "registration-check.ts",
    "signatures.ts",
    "certificate-status.ts",
  ])("%s bundles for the browser, without server-only", async (file) => {
    const out = await bundle(file);
    expect(out.errors).toEqual([]);
    const inputs = Object.keys(out.metafile.inputs);
    expect(inputs.filter((i) => /server-only|node:/.test(i))).toEqual([]);
    expect(inputs.some((i) => i.endsWith("log/note.ts"))).toBe(
      !["bundle.ts", "entry.ts", "signatures.ts", "report.ts", "report-text.ts"].includes(file),
    );
  });
  it("export.ts does not (it reads the database)", async () => {
    await expect(bundle("export.ts")).rejects.toThrow(/node:/);
  });
});
