// The server's pool threads run the worker built into the installation, found from the installation itself,
// whatever the working directory holds. Before, HsmPool started <cwd>/server/hsm/pool-bootstrap.mjs, which
// ran TypeScript from that folder through tsx: a server started elsewhere ran whatever code was there.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { closeServerTokenSet, serverTokenSet } from "../cluster/server-token-set";
import { verifySignature } from "../keys/signature";
import { closeHsm } from "../pkcs11/pkcs11";
import { createTestToken, type TestToken } from "../testing/test-token";

let token: TestToken;
let elsewhere: string;
let marker: string;
const cwd = process.cwd();

/** Code a planted file would run: it records that it ran, then fails the thread. */
const planted = (name: string) =>
  `import { appendFileSync } from "node:fs";\nappendFileSync(${JSON.stringify("MARKER")}, ${JSON.stringify(`${name}\n`)});\nthrow new Error("planted ${name} ran");\n`;

beforeAll(() => {
  token = createTestToken("kw-installed");
  elsewhere = mkdtempSync(path.join(tmpdir(), "keyward-elsewhere-"));
  marker = path.join(elsewhere, "ran.txt");
  const plant = (file: string, text: string) => {
    mkdirSync(path.dirname(path.join(elsewhere, file)), { recursive: true });
    writeFileSync(path.join(elsewhere, file), text.replace("MARKER", marker));
  };
  // What the old code started (both before and after the sub-folder split), and a look-alike installation
  // whose built worker and build record would pass a check made from the working directory.
  plant("server/hsm/pool-bootstrap.mjs", planted("server/hsm/pool-bootstrap.mjs"));
  plant("server/hsm/pool/pool-bootstrap.mjs", planted("server/hsm/pool/pool-bootstrap.mjs"));
  plant("package.json", JSON.stringify({ name: "keyward" }));
  const worker = planted("server/hsm/.build/hsm-pool-worker.mjs").replace("MARKER", marker);
  plant("server/hsm/.build/hsm-pool-worker.mjs", worker);
  plant(
    "server/hsm/.build/hsm-pool-worker.json",
    JSON.stringify({ entry: "x.ts", output: createHash("sha256").update(worker).digest("hex"), inputs: {} }),
  );
  vi.stubEnv("KEYWARD_DATA_DIR", path.join(elsewhere, "data"));
  vi.stubEnv("AUTH_SECRET", "s".repeat(32));
  vi.stubEnv("SOFTHSM2_CONF", token.conf);
  vi.stubEnv("KEYWARD_HSM_TOKENS", JSON.stringify([{ label: token.label, pinEnv: "KW_TEST_PIN" }]));
  vi.stubEnv("KW_TEST_PIN", token.pin);
  vi.stubEnv("KEYWARD_HSM_POOL_SIZE", "1");
  process.chdir(elsewhere);
});

afterAll(async () => {
  process.chdir(cwd);
  await closeServerTokenSet();
  closeHsm();
  vi.unstubAllEnvs();
  token.cleanup();
  rmSync(elsewhere, { recursive: true, force: true });
});

describe("the server's pool, started from another folder", () => {
  it("runs the installed worker and none of the files planted in the working directory", async () => {
    expect(process.cwd()).toBe(elsewhere);
    const key = await serverTokenSet().createKey({ curve: "p256", label: "installed", exportable: "never" });
    const data = createHash("sha256").update("installed").digest();
    const { signature } = await serverTokenSet().sign(key.ref, data);
    expect(verifySignature("p256", key.publicKey, data, signature)).toBe(true);
    expect(existsSync(marker)).toBe(false);
  });
});
