// The schema, the constants and the words are used by forms and pages that may run in the browser: bundling
// them for the browser must not pull in a node built-in (document.ts's node:crypto stays on the server).
import path from "node:path";
import { describe, expect, it } from "vitest";
import { bundleForBrowser } from "@/server/testing/browser-bundle";

const bundle = (file: string) => bundleForBrowser(path.join(import.meta.dirname, file));

describe("browser-safe policy files", () => {
  it.each(["schema.ts", "describe.ts", "constants.ts", "diff.ts", "reachability.ts"])(
    "%s bundles for the browser",
    async (file) => {
      const out = await bundle(file);
      expect(out.errors).toEqual([]);
    },
  );
  it("document.ts does not (it hashes with node:crypto), which is why the schema lives apart", async () => {
    await expect(bundle("document.ts")).rejects.toThrow(/node:crypto/);
  });
});
