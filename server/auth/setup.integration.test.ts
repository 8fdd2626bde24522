// First-admin setup on real databases, through the domain functions: the one-time code printed at start
// is single-use, expires, burns after too many wrong guesses, and turns exactly one person into admin.
// The tests in a block share one database and run in order: the last ones complete the setup.
import { createHash } from "node:crypto";
import { and, asc, eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import type { Db } from "@/db/client";
import { auditEvents, tokens, members, setupCodes } from "@/db/schema";
import { verifyStoredChain } from "@/server/audit/read";
import { sealedSoFar } from "@/server/audit/integrate";
import { TEST_WEBAUTHN_CONFIG as config } from "@/server/testing/identity-fixtures";
import { DEFAULT_AAGUID, SoftAuthenticator } from "@/server/testing/soft-authenticator";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";
import { setupCodeSchema } from "./schemas";
import { sha256Hex } from "./secrets";
import { beginSetup, completeSetup, issueSetupCode, MAX_SETUP_ATTEMPTS, setupPending } from "./setup-code";

const T0 = new Date("2026-04-01T08:00:00.000Z");
const TTL_MS = 15 * 60_000;
const later = (ms: number) => new Date(T0.getTime() + ms);

describe.each(testEngines())("first-admin setup on %s", (engine) => {
  const database = useTestDatabase(engine);
  let db: Db;

  beforeAll(() => {
    db = database();
  });

  /** Issues a code and returns it as the setup form submits it (normalised by the procedure's input schema). */
  async function issue(now = T0): Promise<string> {
    const issued = await issueSetupCode(db, { now, ttlMs: TTL_MS });
    if (!issued) throw new Error("no setup code was issued");
    expect(issued.code).toMatch(/^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/);
    expect(issued.expiresAt).toEqual(new Date(now.getTime() + TTL_MS));
    return setupCodeSchema.parse(issued.code);
  }

  async function codeRow(code: string) {
    const [row] = await db
      .select()
      .from(setupCodes)
      .where(eq(setupCodes.codeHash, sha256Hex(code)));
    if (!row) throw new Error("setup code not stored");
    return row;
  }

  const begin = (code: string, now = T0) => beginSetup(db, config, { code, name: "Ada Lovelace", now });

  it("voids the previous code when a new one is issued", async () => {
    const first = await issue();
    const second = await issue();
    await expect(begin(first)).rejects.toMatchObject({ code: "BAD_INPUT", field: "code" });
    expect((await codeRow(first)).voidedAt).toEqual(T0);
    const options = await begin(second);
    expect(options.rp).toEqual({ id: "localhost", name: "Keyward" });
    expect(options.user.name).toBe("Ada Lovelace");
    expect(options.authenticatorSelection?.userVerification).toBe("required");
    // Only the hash is kept.
    const stored = JSON.stringify(await db.select().from(setupCodes));
    expect(stored).not.toContain(first);
    expect(stored).not.toContain(second);
  });

  it("counts wrong codes, burns the code after MAX_SETUP_ATTEMPTS, and then refuses even the right one", async () => {
    const code = await issue();
    const wrong = code === "0000000000000000" ? "1111111111111111" : "0000000000000000";
    for (let attempt = 1; attempt < MAX_SETUP_ATTEMPTS; attempt++) {
      const refused = begin(wrong);
      await expect(refused).rejects.toMatchObject({ code: "BAD_INPUT", field: "code" });
      await expect(refused).rejects.toThrow(`${MAX_SETUP_ATTEMPTS - attempt} attempts left`);
    }
    await expect(begin(wrong)).rejects.toMatchObject({ code: "RATE_LIMITED" });
    await expect(begin(code)).rejects.toMatchObject({ code: "EXPIRED" });

    const row = await codeRow(code);
    expect(row.failedAttempts).toBe(MAX_SETUP_ATTEMPTS);
    expect(row.voidedAt).toEqual(T0);
    const failures = await db
      .select()
      .from(auditEvents)
      .where(
        and(eq(auditEvents.action, "setup.code_failed"), eq(auditEvents.subject, `setup-code:${row.id}`)),
      )
      .orderBy(asc(auditEvents.seq));
    expect(failures.map((e) => e.data)).toEqual(
      Array.from({ length: MAX_SETUP_ATTEMPTS }, (_, i) => ({
        setupCodeId: row.id,
        failedAttempts: i + 1,
        voided: i + 1 === MAX_SETUP_ATTEMPTS,
      })),
    );
  });

  it("refuses an expired code, also when the ceremony started before it expired", async () => {
    const code = await issue();
    const token = new SoftAuthenticator();
    const options = await begin(code, later(TTL_MS - 60_000));
    const complete = completeSetup(db, config, {
      code,
      name: "Ada Lovelace",
      tokenName: "YubiKey blue",
      response: token.register(options),
      now: later(TTL_MS),
    });
    await expect(complete).rejects.toMatchObject({ code: "EXPIRED" });
    await expect(begin(code, later(TTL_MS))).rejects.toMatchObject({ code: "EXPIRED" });
    expect(await setupPending(db)).toBe(true);
    expect(await db.select().from(tokens).where(eq(tokens.id, token.credentialId))).toEqual([]);
  });

  it("makes the first person admin with their token, uses the code up, and records it in an intact chain", async () => {
    const code = await issue();
    const token = new SoftAuthenticator();
    const options = await begin(code);
    const response = token.register(options);
    const input = { code, name: "Ada Lovelace", tokenName: "YubiKey blue", response, now: later(60_000) };
    const { memberId } = await completeSetup(db, config, input);

    const [admin] = await db.select().from(members).where(eq(members.id, memberId));
    expect(admin).toMatchObject({
      name: "Ada Lovelace",
      roles: ["admin"],
      status: "active",
      userHandle: options.user.id,
    });
    const rows = await db.select().from(tokens).where(eq(tokens.memberId, memberId));
    expect(rows).toEqual([
      expect.objectContaining({
        id: token.credentialId,
        nickname: "YubiKey blue",
        aaguid: DEFAULT_AAGUID,
        attestationFormat: "packed",
        counter: 0,
        transports: ["usb"],
        revokedAt: null,
      }),
    ]);
    const row = await codeRow(code);
    expect(row.usedAt).toEqual(later(60_000));

    // The same code again: Keyward is set up, so it is a conflict, and nobody else becomes admin.
    await expect(completeSetup(db, config, input)).rejects.toMatchObject({ code: "CONFLICT" });
    expect(await db.select({ id: members.id }).from(members)).toEqual([{ id: memberId }]);

    const trail = await db.select().from(auditEvents).orderBy(asc(auditEvents.seq));
    const issued = trail.find(
      (e) => e.action === "setup.code_issued" && e.subject === `setup-code:${row.id}`,
    );
    expect(issued?.actor).toBe("system");
    const completed = trail.filter((e) => e.action === "setup.completed");
    expect(completed).toEqual([
      expect.objectContaining({
        actor: `member:${memberId}`,
        subject: `member:${memberId}`,
        data: { memberId, credentialId: token.credentialId },
      }),
    ]);
    const registered = trail.filter((e) => e.action === "token.registered");
    const [stored] = await db.select().from(tokens).where(eq(tokens.id, token.credentialId));
    const digestOf = (base64url: string | null | undefined) =>
      createHash("sha256")
        .update(Buffer.from(base64url ?? "", "base64url"))
        .digest("hex");
    expect(registered).toEqual([
      expect.objectContaining({
        actor: `member:${memberId}`,
        subject: `token:${token.credentialId}`,
        data: {
          memberId,
          credentialId: token.credentialId,
          aaguid: DEFAULT_AAGUID,
          attestationFormat: "packed",
          transports: ["usb"],
          // What binds the token's key and registration, as stored, to the log (evidence bundles check them).
          publicKeyDigest: digestOf(stored?.publicKey),
          attestationObjectDigest: digestOf(stored?.attestationObject),
          clientDataDigest: digestOf(stored?.registrationClientData),
        },
      }),
    ]);
    await sealedSoFar(db);
    const chain = await verifyStoredChain(db);
    expect(chain.problems).toEqual([]);
    expect(chain.events).toBe(trail.length);
  });

  it("prints no code once an admin exists, and refuses setup with any code", async () => {
    expect(await issueSetupCode(db, { now: later(120_000), ttlMs: TTL_MS })).toBeNull();
    expect(await setupPending(db)).toBe(false);
    await expect(begin("0000000000000000", later(120_000))).rejects.toMatchObject({ code: "CONFLICT" });
  });
});
