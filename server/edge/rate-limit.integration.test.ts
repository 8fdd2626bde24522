// The rate budgets hold across instances: two servers sharing one PostgreSQL database, taking requests at the
// same moment, grant exactly the budget between them (and the in-memory store does the same for one server).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase, testEngines } from "@/server/testing/test-db";
import { memoryRateLimits, postgresRateLimits, type RateLimits } from "./rate-limit";

async function granted(instances: RateLimits[], endpoint: string, address: string, attempts: number) {
  const decisions = await Promise.all(
    Array.from({ length: attempts }, (_, i) => instances[i % instances.length]?.consume(endpoint, address)),
  );
  return decisions.filter((d) => d?.ok).length;
}

describe("in memory (one instance)", () => {
  it("grants exactly the per-address budget to concurrent requests, then the overall one", async () => {
    const limits = memoryRateLimits({ perAddress: 6, total: 10 });
    expect(await granted([limits], "sign-in", "10.0.0.1", 20)).toBe(6);
    expect(await granted([limits], "sign-in", "10.0.0.2", 20)).toBe(4);
    const refused = await limits.consume("sign-in", "10.0.0.3");
    expect(refused).toMatchObject({ ok: false, scope: "overall" });
    // Another endpoint has budgets of its own; reads get ten times the budget of writes.
    expect(await granted([limits], "setup.begin", "10.0.0.1", 3)).toBe(3);
    const reads = await Promise.all(
      Array.from({ length: 70 }, () => limits.consume("setup.status", "10.0.0.4", "read")),
    );
    expect(reads.filter((d) => d.ok)).toHaveLength(60);
  });
});

describe.runIf(testEngines().includes("postgres"))("in PostgreSQL (several instances)", () => {
  let database: TestDatabase;
  let instances: RateLimits[];
  beforeAll(async () => {
    database = await createTestDatabase("postgres");
    const url = database.url ?? "";
    instances = [
      await postgresRateLimits(url, { perAddress: 6, total: 1000 }),
      await postgresRateLimits(url, { perAddress: 6, total: 1000 }),
    ];
  });
  afterAll(async () => {
    for (const i of instances ?? []) await i.close();
    await database?.drop();
  });

  it("two instances taking 20 requests at once from one address grant 6 between them (10 rounds)", async () => {
    for (let round = 0; round < 10; round++) {
      expect(await granted(instances, `endpoint-${round}`, "10.0.0.1", 20)).toBe(6);
    }
  });

  it("says when to come back", async () => {
    const [first] = instances;
    if (!first) throw new Error("no instance");
    for (let i = 0; i < 6; i++) await first.consume("retry", "10.9.9.9");
    const refused = await first.consume("retry", "10.9.9.9");
    if (refused.ok) throw new Error("expected a refusal");
    expect(refused.retryAfterSeconds).toBeGreaterThan(0);
    expect(refused.retryAfterSeconds).toBeLessThanOrEqual(60);
  });
});
