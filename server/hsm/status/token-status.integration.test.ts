// What the status page gets for a token set on real SoftHSM tokens: every token with its role, serial, KEK
// and state; a replica whose PIN changed reported failed (and not asked its PIN again while set aside);
// a replica holding another KEK flagged; and the whole set back to healthy once fixed.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBackupKek } from "../ceremonies/backup-kek";
import { DirectExecutor } from "../pool/direct-executor";
import { shareBackupKek } from "../ceremonies/kek-sharing";
import { closeHsm } from "../pkcs11/pkcs11";
import { createTestToken, type TestToken } from "../testing/test-token";
import { addTestToken, changePinAndLogOut, restorePin, soLogin } from "../testing/test-tokens";
import { createTokenSet, type HsmTokenSet } from "../cluster/token-set";
import { hsmStatus } from "./token-status";

let a: TestToken;
let b: TestToken;
let c: TestToken; // holds a KEK of its own
let now = Date.parse("2026-11-25T10:00:00Z");
const sets: HsmTokenSet[] = [];

function setOf(...tokens: TestToken[]) {
  const configs = tokens.map((t) => t.config);
  const set = createTokenSet(configs, (config) => new DirectExecutor(config), {
    clock: () => new Date(now),
    backoffMs: 1_000,
  });
  sets.push(set);
  return { set, tokens: configs };
}

beforeAll(async () => {
  a = createTestToken("kw-status-a");
  b = addTestToken(a, "kw-status-b");
  c = addTestToken(a, "kw-status-c");
  await shareBackupKek({ source: soLogin(a), replicas: [soLogin(b)] });
  await ensureBackupKek({ soPin: c.soPin, target: soLogin(c).target });
});

afterAll(async () => {
  for (const set of sets) await set.close();
  closeHsm();
  a.cleanup();
});

describe("hsmStatus", () => {
  it("shows every token healthy, with its role, serial and the one shared KEK", async () => {
    const status = await hsmStatus(setOf(a, b));
    expect(status).toMatchObject({ ok: true, state: "healthy", token: { label: "kw-status-a" } });
    expect(status.objects?.kek).toMatchObject({ shareable: true });
    expect(status.tokens.map((t) => [t.label, t.role, t.state, t.problem])).toEqual([
      ["kw-status-a", "primary", "healthy", null],
      ["kw-status-b", "replica", "healthy", null],
    ]);
    for (const t of status.tokens) expect(t.serial).toMatch(/^[0-9a-f]{16}$/);
    expect(status.tokens[1]?.kek?.id).toBe(status.tokens[0]?.kek?.id);
  });

  it("reports a replica whose PIN changed as failed, keeps signing healthy on the primary, and recovers", async () => {
    const source = setOf(a, b);
    const pin = await changePinAndLogOut(b, b.pin);
    const status = await hsmStatus(source);
    expect(status.state).toBe("degraded");
    expect(status.ok).toBe(false);
    const replica = status.tokens[1];
    expect(replica).toMatchObject({ label: "kw-status-b", state: "failed", serial: expect.any(String) });
    expect(replica?.lastError).toMatchObject({ reason: "pin-incorrect", at: new Date(now) });
    expect(replica?.retryAt).toEqual(new Date(now + 1_000));
    expect(JSON.stringify(status)).not.toContain(pin);
    expect(JSON.stringify(status)).not.toContain(b.pin);

    // Looking again while it is set aside changes nothing (its PIN is not tried again).
    const again = await hsmStatus(source);
    expect(again.tokens[1]).toMatchObject({ state: "failed", consecutiveFailures: 1, retryAt: replica?.retryAt });

    await restorePin(b, pin);
    now += 1_000;
    const fixed = await hsmStatus(source);
    expect(fixed.state).toBe("healthy");
    expect(fixed.tokens[1]).toMatchObject({ state: "healthy", lastError: { reason: "pin-incorrect" } });
  });

  it("flags a replica that holds another backup KEK, since no clone can be made on it", async () => {
    const status = await hsmStatus(setOf(a, c));
    expect(status.state).toBe("degraded");
    expect(status.tokens[1]).toMatchObject({ label: "kw-status-c", state: "healthy", kek: { shareable: false } });
    expect(status.tokens[1]?.problem).toMatchObject({ code: "misconfigured" });
    expect(status.tokens[1]?.problem?.message).toContain("holds another backup KEK");
  });
});
