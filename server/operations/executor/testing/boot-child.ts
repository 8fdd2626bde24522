// A server start as `next start` does it (instrumentation's register()), for boot-recovery.integration.test.ts.
// A file rather than `node -e`: flags such as --input-type would reach the HSM pool's worker threads.
import { register } from "../../../../instrumentation";

await register();
console.log("booted");
