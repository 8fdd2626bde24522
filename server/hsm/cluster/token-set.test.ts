// The token set's failover rules with scripted executors and a fake clock: which token is asked, in which
// order, what each kind of error does, and how a failed token is set aside and comes back. Real tokens are
// in token-set.integration.test.ts.
import { describe, expect, it } from "vitest";
import { HsmError, type HsmErrorReason, hsmError } from "../pkcs11/errors";
import type { HsmExecutor, HsmOperation, HsmResultOf, HsmResults } from "../pool/operations";
import type { HsmConfig } from "../pkcs11/pkcs11";
import { createTokenSet, type TokenSetOptions } from "./token-set";
import { TokenSetError } from "./token-set-error";

const REF = "00112233445566778899aabbccddeeff";
const DIGEST = new Uint8Array(32);
const CHECK = {
  token: { label: "a", serial: "0123456789abcdef", manufacturer: "SoftHSM project", model: "SoftHSM v2" },
  mechanisms: { ecdsa: true, eddsa: true, ecKeyPairGen: true, edwardsKeyPairGen: true },
  objects: { total: 1, kek: null },
};

/** What a scripted token does with the next call: sign, fail with a reason, never answer, or wait for the test. */
type Script = "ok" | "hang" | HsmErrorReason | Promise<Buffer>;

class ScriptedExecutor implements HsmExecutor {
  closed = false;
  constructor(
    readonly tokenLabel: string,
    private readonly next: () => Script,
    private readonly calls: string[],
  ) {}
  execute<O extends HsmOperation>(request: O): Promise<HsmResultOf<O>>;
  async execute(request: HsmOperation): Promise<HsmResults[HsmOperation["op"]]> {
    this.calls.push(`${this.tokenLabel}:${request.op}`);
    const script = this.next();
    if (script === "hang") return new Promise(() => {});
    if (script instanceof Promise) return script;
    if (script !== "ok") throw hsmError(script, { operation: request.op, tokenLabel: this.tokenLabel });
    if (request.op === "sign") return Buffer.from(this.tokenLabel);
    if (request.op === "mechanisms")
      return { mechanisms: [], curves: { secp256k1: true, ed25519: true, p256: true }, backup: true };
    if (request.op === "check") return CHECK;
    throw new Error(`not scripted: ${request.op}`);
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

function fixture(labels: string[], options: TokenSetOptions = {}) {
  let now = Date.parse("2026-11-25T10:00:00Z");
  const scripts = new Map<string, Script>(labels.map((l) => [l, "ok"]));
  const calls: string[] = [];
  const made: ScriptedExecutor[] = [];
  let factoryFails: HsmErrorReason | undefined;
  const tokens: HsmConfig[] = labels.map((tokenLabel) => ({
    library: "/fake.so",
    tokenLabel,
    pin: "unused",
  }));
  const set = createTokenSet(
    tokens,
    (config) => {
      if (factoryFails !== undefined)
        throw hsmError(factoryFails, { operation: "open", tokenLabel: config.tokenLabel });
      const executor = new ScriptedExecutor(
        config.tokenLabel,
        () => scripts.get(config.tokenLabel) ?? "ok",
        calls,
      );
      made.push(executor);
      return executor;
    },
    { backoffMs: 1_000, clock: () => new Date(now), ...options },
  );
  return {
    set,
    calls,
    made,
    script: (label: string, s: Script) => scripts.set(label, s),
    failFactory: (reason: HsmErrorReason | undefined) => {
      factoryFails = reason;
    },
    advance: (ms: number) => {
      now += ms;
    },
    state: (label: string) => set.health().find((t) => t.label === label),
    signs: () => calls.filter((c) => c.endsWith(":sign")),
  };
}

async function rejection(promise: Promise<unknown>): Promise<TokenSetError | HsmError> {
  const e = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(e instanceof HsmError)) throw new Error(`expected an HsmError, got ${String(e)}`);
  return e;
}

describe("HsmTokenSet.sign", () => {
  it("signs on the primary while it is healthy and leaves the replicas alone", async () => {
    const f = fixture(["a", "b", "c"]);
    expect(await f.set.sign(REF, DIGEST)).toEqual({ signature: Buffer.from("a"), token: "a" });
    expect(f.signs()).toEqual(["a:sign"]);
    expect(f.set.health().map((t) => [t.label, t.role, t.state])).toEqual([
      ["a", "primary", "healthy"],
      ["b", "replica", "healthy"],
      ["c", "replica", "healthy"],
    ]);
  });

  it("falls over on device faults, degrades the token, and sets it aside after failAfter in a row", async () => {
    const f = fixture(["a", "b"], { failAfter: 2 });
    f.script("a", "device-failed");
    expect((await f.set.sign(REF, DIGEST)).token).toBe("b");
    expect(f.state("a")).toMatchObject({ state: "degraded", consecutiveFailures: 1 });
    expect((await f.set.sign(REF, DIGEST)).token).toBe("b");
    expect(f.state("a")).toMatchObject({ state: "failed", lastError: { reason: "device-failed" } });
    expect(f.made[0]?.closed).toBe(true); // a failed token's executor is retired
    f.calls.length = 0;
    expect((await f.set.sign(REF, DIGEST)).token).toBe("b");
    expect(f.signs()).toEqual(["b:sign"]); // set aside: not asked
  });

  it("sets a token aside at once for a wrong PIN, probes it after the back-off on a fresh executor, and uses it again", async () => {
    const f = fixture(["a", "b"]);
    f.script("a", "pin-incorrect");
    expect((await f.set.sign(REF, DIGEST)).token).toBe("b");
    expect(f.state("a")).toMatchObject({ state: "failed", consecutiveFailures: 1 });
    f.script("a", "ok");
    f.advance(999);
    await f.set.probeDue();
    expect(f.state("a")?.state).toBe("failed"); // back-off not over: not probed
    f.advance(1);
    await f.set.probeDue();
    expect(f.state("a")).toMatchObject({ state: "healthy", lastError: { reason: "pin-incorrect" } });
    expect(f.made.map((e) => e.tokenLabel)).toEqual(["a", "b", "a"]);
    expect((await f.set.sign(REF, DIGEST)).token).toBe("a");
  });

  it("a failed probe doubles the back-off", async () => {
    const f = fixture(["a", "b"]);
    f.script("a", "token-missing");
    await f.set.sign(REF, DIGEST);
    f.advance(1_000);
    await f.set.probeDue();
    expect(f.state("a")).toMatchObject({ state: "failed", setAsideCount: 2 });
    expect(f.state("a")?.retryAt?.getTime()).toBe(Date.parse("2026-11-25T10:00:03Z"));
  });

  it("falls over when a token does not answer within the deadline, and counts it as a fault", async () => {
    const f = fixture(["a", "b"], { signTimeoutMs: 20 });
    f.script("a", "hang");
    expect((await f.set.sign(REF, DIGEST)).token).toBe("b");
    expect(f.state("a")).toMatchObject({
      state: "degraded",
      lastError: { reason: "timeout", kind: "outcome-unknown" },
    });
  });

  it("falls over when a token is busy without holding it against the token", async () => {
    const f = fixture(["a", "b"]);
    f.script("a", "busy");
    expect((await f.set.sign(REF, DIGEST)).token).toBe("b");
    expect(f.state("a")).toMatchObject({ state: "healthy", consecutiveFailures: 0 });
  });

  it("does not ask another token when the request itself is wrong", async () => {
    const f = fixture(["a", "b"]);
    f.script("a", "invalid-request");
    expect(await rejection(f.set.sign(REF, DIGEST))).toMatchObject({ reason: "invalid-request" });
    expect(f.signs()).toEqual(["a:sign"]);
    expect(f.state("a")?.state).toBe("healthy");
  });

  it("asks the next token when one has no such key, and says key-missing when none has", async () => {
    const f = fixture(["a", "b"]);
    f.script("a", "key-missing");
    expect((await f.set.sign(REF, DIGEST)).token).toBe("b");
    f.script("b", "key-missing");
    const err = await rejection(f.set.sign(REF, DIGEST));
    expect(err).toMatchObject({ reason: "key-missing", code: "INTERNAL" });
    expect(err.message).toContain("'a', 'b' each answered that it has no such key");
    expect(f.set.health().map((t) => t.state)).toEqual(["healthy", "healthy"]);
  });

  it("rejects naming every token when all fail, and says a key without clones cannot fail over", async () => {
    const f = fixture(["a", "b", "c"]);
    f.script("a", "pin-incorrect");
    f.script("b", "device-failed");
    f.script("c", "key-missing");
    const err = await rejection(f.set.sign(REF, DIGEST));
    if (!(err instanceof TokenSetError)) throw new Error("expected a TokenSetError");
    expect(err).toMatchObject({ reason: "pin-incorrect", kind: "configuration", code: "HSM_UNAVAILABLE" });
    expect(err.attempts.map((a) => [a.token, a.outcome, a.reason])).toEqual([
      ["a", "failed", "pin-incorrect"],
      ["b", "failed", "device-failed"],
      ["c", "no-key", "key-missing"],
    ]);
    expect(err.message).toMatch(/'a' \(primary\): .*'b' \(replica\): .*'c' \(replica\) has no key/);
    expect(err.message).toContain("cannot fail over");
    // Next time the primary is set aside: named, with its probe time, but not asked.
    f.calls.length = 0;
    const again = await rejection(f.set.sign(REF, DIGEST));
    if (!(again instanceof TokenSetError)) throw new Error("expected a TokenSetError");
    expect(again.attempts.map((a) => [a.token, a.outcome])).toEqual([
      ["b", "failed"],
      ["c", "no-key"],
      ["a", "set-aside"],
    ]);
    expect(again.message).toContain("'a' (primary) is set aside until 2026-11-25T10:00:01.000Z");
    expect(f.signs()).toEqual(["b:sign", "c:sign"]);
  });

  it("tries a token set aside for a transient fault as a last resort, never one with a refused PIN", async () => {
    const f = fixture(["a", "b"], { failAfter: 1 });
    f.script("a", "device-failed");
    f.script("b", "pin-incorrect");
    await rejection(f.set.sign(REF, DIGEST));
    expect(f.set.health().map((t) => t.state)).toEqual(["failed", "failed"]);
    f.calls.length = 0;
    f.script("a", "ok");
    f.script("b", "ok");
    expect((await f.set.sign(REF, DIGEST)).token).toBe("a"); // last resort, before its back-off ran out
    expect(f.signs()).toEqual(["a:sign"]);
    expect(f.state("a")?.state).toBe("healthy");
    expect(f.state("b")?.state).toBe("failed");
  });

  it("counts an executor that cannot be made as a token fault, and asks the factory again later", async () => {
    const f = fixture(["a", "b"]);
    f.failFactory("token-missing");
    const err = await rejection(f.set.sign(REF, DIGEST));
    expect(err.message).toContain("'a' (primary)");
    expect(f.set.health().map((t) => t.lastError?.reason)).toEqual(["token-missing", "token-missing"]);
    f.failFactory(undefined);
    f.advance(1_000);
    await f.set.probeDue();
    expect(f.set.health().map((t) => t.state)).toEqual(["healthy", "healthy"]);
  });

  it("ignores a late failure from an executor it already retired", async () => {
    const f = fixture(["a", "b"], { failAfter: 1 });
    let fail: (e: HsmError) => void = () => {};
    f.script("a", new Promise<Buffer>((_, reject) => (fail = reject)));
    const first = f.set.sign(REF, DIGEST);
    while (!f.calls.includes("a:sign")) await new Promise((resolve) => setImmediate(resolve));
    // The first request is now in flight on a's executor.
    f.script("a", "device-failed");
    expect((await f.set.sign(REF, DIGEST)).token).toBe("b"); // a fails and is retired
    const failed = f.state("a");
    expect(failed).toMatchObject({ state: "failed", consecutiveFailures: 1 });
    fail(hsmError("device-failed", { operation: "sign", tokenLabel: "a" }));
    expect((await first).token).toBe("b"); // the request in flight still gets its signature
    expect(f.state("a")).toEqual(failed);
  });

  it("a success that began before a fault does not wipe the fault out", async () => {
    const f = fixture(["a", "b"]);
    let succeed: (signature: Buffer) => void = () => {};
    f.script("a", new Promise<Buffer>((resolve) => (succeed = resolve)));
    const first = f.set.sign(REF, DIGEST);
    while (!f.calls.includes("a:sign")) await new Promise((resolve) => setImmediate(resolve));
    f.script("a", "device-failed");
    await f.set.sign(REF, DIGEST);
    expect(f.state("a")).toMatchObject({ state: "degraded", consecutiveFailures: 1 });
    succeed(Buffer.from("a"));
    expect((await first).token).toBe("a");
    expect(f.state("a")).toMatchObject({ state: "degraded", consecutiveFailures: 1 });
    f.script("a", "ok");
    await f.set.sign(REF, DIGEST); // a success that began after the fault does count
    expect(f.state("a")).toMatchObject({ state: "healthy", consecutiveFailures: 0 });
  });

  it("records what a status check of one token finds, like any call, and names an unknown token", async () => {
    const f = fixture(["a", "b"], { failAfter: 1 });
    await expect(f.set.check("a")).resolves.toEqual(CHECK);
    expect(f.calls).toEqual(["a:check"]);
    f.script("b", "device-failed");
    await expect(f.set.check("b")).rejects.toMatchObject({ reason: "device-failed" });
    expect(f.state("b")).toMatchObject({ state: "failed", lastError: { reason: "device-failed" } });
    expect(f.state("a")?.state).toBe("healthy");
    expect(() => f.set.check("c")).toThrow(/No token 'c'/);
  });
});
