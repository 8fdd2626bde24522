// signFrom "auto" decides from what the PKCS#11 library reports of itself (C_GetInfo), not from its file
// name, on one real SoftHSM token reached two ways: through p11-kit's proxy module (libp11-kit.so.0, which
// forwards to the modules registered with p11-kit, SoftHSM's among them here; it reports "PKCS#11 Kit", and
// could as well forward to another host) the pool signs from its threads; through a copy of SoftHSM under
// a vendor-like file name, from the main thread. Signatures are checked each time.
import { copyFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { verifySignature } from "../keys/signature";
import { closeHsm, type HsmConfig } from "../pkcs11/pkcs11";
import { createTestToken, SOFTHSM_LIBRARY, type TestToken } from "../testing/test-token";
import { HsmPool } from "./pool";

/** p11-kit's proxy: Debian's libp11-kit0, with SoftHSM registered by /usr/share/p11-kit/modules/softhsm2.module. */
const P11KIT_PROXY = "/usr/lib/x86_64-linux-gnu/libp11-kit.so.0";

let token: TestToken;
let copies: string;
const pools: HsmPool[] = [];

beforeAll(() => {
  token = createTestToken("kw-sign-from-lib");
  copies = mkdtempSync(path.join(tmpdir(), "keyward-libraries-"));
});

afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()));
});

afterAll(() => {
  closeHsm();
  token.cleanup();
  rmSync(copies, { recursive: true, force: true });
});

async function signsThrough(library: string): Promise<HsmPool> {
  const config: HsmConfig = { ...token.config, library };
  const pool = await HsmPool.start(config, { size: 1, inFlight: 2 });
  pools.push(pool);
  const key = await pool.execute({ op: "generate", curve: "secp256k1", label: "lib", exportable: "never" });
  const digest = createHash("sha256").update(library).digest();
  const signature = await pool.execute({ op: "sign", ref: key.ref, data: digest });
  expect(verifySignature("secp256k1", key.publicKey, digest, signature)).toBe(true);
  return pool;
}

describe("signFrom auto, by what the library reports", () => {
  it("signs from the threads through p11-kit's proxy, though the token behind it is SoftHSM's", async () => {
    expect(existsSync(P11KIT_PROXY)).toBe(true);
    const pool = await signsThrough(P11KIT_PROXY);
    expect(pool.signing?.signFrom).toBe("threads");
    expect(pool.signing?.why).toMatch(/^auto: the library reports "PKCS#11 Kit"/);
    expect(pool.stats().mainSessions).toBe(0);
  });

  it("signs from the main thread through SoftHSM under another file name", async () => {
    const renamed = path.join(copies, "libvendor-pkcs11.so");
    copyFileSync(SOFTHSM_LIBRARY, renamed);
    const pool = await signsThrough(renamed);
    expect(pool.signing?.signFrom).toBe("main");
    expect(pool.signing?.why).toMatch(/^auto: the library reports "SoftHSM"/);
    expect(pool.stats().mainSessions).toBe(2);
  });
});
