// What the benchmark (bench/) uses of server/hsm: the pool it measures, test tokens, and, for its raw
// pkcs11js baselines (bench/hsm-raw.ts, bench/hsm-raw-threads.ts), the mechanism numbers and key templates
// the module itself uses, so both sides make the same keys. Nothing in the server imports this.
import "server-only";

export { type Curve, CURVES } from "../keys/curves";
export { privateKeyTemplate, publicKeyTemplate } from "../keys/key-objects";
export { verifySignature } from "../keys/signature";
export { MECHANISM } from "../pkcs11/pkcs11";
export { HsmPool } from "../pool/pool";
export { createTestToken, type TestToken } from "./test-token";
export { TestPool } from "./test-pool";
