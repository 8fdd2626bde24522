import type { NextConfig } from "next";

const config: NextConfig = {
  // Native and WASM server packages must stay out of the bundles: pkcs11js ships pkcs11.node,
  // PGlite loads its own WASM. Neither may ever reach a client bundle.
  serverExternalPackages: ["pkcs11js", "@electric-sql/pglite", "pg"],
  poweredByHeader: false,
  reactStrictMode: true,
};

export default config;
