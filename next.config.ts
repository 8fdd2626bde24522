import type { NextConfig } from "next";

const config: NextConfig = {
  // Native and WASM server packages must stay out of the bundles: pkcs11js ships pkcs11.node,
  // PGlite loads its own WASM. Neither may ever reach a client bundle. pdfkit (and fontkit, which it and the
  // report fonts use) read their data files relative to their own modules, which bundling breaks.
  serverExternalPackages: ["pkcs11js", "@electric-sql/pglite", "pg", "pdfkit", "fontkit"],
  poweredByHeader: false,
  reactStrictMode: true,
};

export default config;
