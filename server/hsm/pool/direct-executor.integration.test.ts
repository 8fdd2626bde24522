// The direct executor runs the operation set on one long-lived session of a real SoftHSM token.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DirectExecutor } from "./direct-executor";
import { closeHsm } from "../pkcs11/pkcs11";
import { verifySignature } from "../keys/signature";
import { createTestToken, type TestToken } from "../testing/test-token";

describe("DirectExecutor", () => {
  let token: TestToken;
  let executor: DirectExecutor;
  beforeAll(() => {
    token = createTestToken("direct");
    executor = new DirectExecutor(token.config);
  });
  afterAll(async () => {
    await executor.close();
    closeHsm();
    token.cleanup();
  });

  it("generates, finds, signs verifiably, and destroys keys on one session", async () => {
    const key = await executor.execute({
      op: "generate",
      curve: "secp256k1",
      label: "acct-1",
      exportable: "never",
    });
    const found = await executor.execute({ op: "find", ref: key.ref });
    expect(found).toMatchObject({ ref: key.ref, curve: "secp256k1", label: "acct-1", exportable: "never" });
    const digest = randomBytes(32);
    const signature = await executor.execute({ op: "sign", ref: key.ref, data: digest });
    expect(verifySignature("secp256k1", key.publicKey, digest, signature)).toBe(true);
    expect(await executor.execute({ op: "destroy", ref: key.ref })).toBe(true);
    await expect(executor.execute({ op: "sign", ref: key.ref, data: digest })).rejects.toMatchObject({
      reason: "key-missing",
    });
  });
});
