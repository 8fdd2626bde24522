// Tests that a module runs in the browser bundle it with esbuild as a browser build would: one place for the
// options they share (bundled, in memory, ESM, the app's "@" alias, a metafile to read the inputs from).
import path from "node:path";
import { type BuildOptions, type BuildResult, build } from "esbuild";

const ROOT = path.resolve(import.meta.dirname, "../..");

/** `entry` (an absolute path) bundled for the browser; `options` add to or override the shared ones. */
export function bundleForBrowser(
  entry: string,
  options: Omit<BuildOptions, "write" | "metafile"> = {},
): Promise<BuildResult<{ write: false; metafile: true }>> {
  return build({
    entryPoints: [entry],
    bundle: true,
    platform: "browser",
    format: "esm",
    logLevel: "silent",
    alias: { "@": ROOT },
    ...options,
    write: false,
    metafile: true,
  });
}
