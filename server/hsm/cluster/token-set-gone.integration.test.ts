// A primary token that disappears (its folder removed under the running process, as a pulled or dead
// device) while signatures stream: every request still gets a valid signature from the replica, the token is
// reported failed as a device failure (not as "key missing"), and the other token stays reachable.
// In a file of its own: SoftHSM never takes a removed token back within a process (measured).
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DirectExecutor } from "../pool/direct-executor";
import { hsmHealth } from "../status/health";
import { shareBackupKek } from "../ceremonies/kek-sharing";
import { closeHsm } from "../pkcs11/pkcs11";
import { verifySignature } from "../keys/signature";
import { createTestToken, type TestToken } from "../testing/test-token";
import { addTestToken, removeTokenFolder, signStream, soLogin } from "../testing/test-tokens";
import { createTokenSet, type HsmTokenSet } from "./token-set";

let a: TestToken;
let b: TestToken;
let set: HsmTokenSet;
let now = Date.parse("2026-11-25T10:00:00Z");

beforeAll(async () => {
  a = createTestToken("kw-gone-a");
  b = addTestToken(a, "kw-gone-b");
  await shareBackupKek({ source: soLogin(a), replicas: [soLogin(b)] });
  set = createTokenSet([a.config, b.config], (config) => new DirectExecutor(config), {
    clock: () => new Date(now),
    backoffMs: 1_000,
  });
});

afterAll(async () => {
  await set.close();
  closeHsm();
  a.cleanup();
});

const digestOf = (i: number) => createHash("sha256").update(`gone ${i}`).digest();

describe("a primary token that disappears mid-stream", () => {
  it("loses no request, and is reported as a failed device", async () => {
    const key = await set.createKey({ curve: "secp256k1", label: "gone", exportable: "wrapped-only" });
    expect(key.replicated).toEqual(["kw-gone-b"]);
    const total = 150;
    const results = await signStream(set, key.ref, {
      total,
      clients: 3,
      digestOf,
      onAnswer: (n) => n === 40 && removeTokenFolder(a),
    });

    expect(results).toHaveLength(total);
    for (const r of results)
      expect(verifySignature("secp256k1", key.publicKey, digestOf(r.i), r.signature)).toBe(true);
    expect(results.filter((r) => r.token === "kw-gone-a").length).toBeGreaterThanOrEqual(40);
    expect(results.filter((r) => r.token === "kw-gone-b").length).toBeGreaterThan(90);

    const [primary, replica] = set.health();
    expect(primary).toMatchObject({ label: "kw-gone-a", state: "failed", consecutiveFailures: 3 });
    expect(primary?.lastError).toMatchObject({ reason: "device-failed", kind: "device" });
    expect(primary?.lastError?.message).toMatch(/kw-gone-a.*(stopped answering|did not answer)/);
    expect(replica).toMatchObject({ label: "kw-gone-b", state: "healthy" });
  });

  it("keeps the other token reachable: a slot that stopped answering does not hide the rest", async () => {
    const other = await hsmHealth(b.config);
    expect(other.error).toBeUndefined();
    expect(other.ok).toBe(true);
    const gone = await hsmHealth(a.config);
    expect(gone.error).toMatchObject({ code: "device-failed", kind: "device" });
  });

  it("stays failed when probed, since the token does not come back", async () => {
    now += 1_000;
    await set.probeDue();
    expect(set.health()[0]).toMatchObject({ state: "failed", setAsideCount: 2 });
  });
});
