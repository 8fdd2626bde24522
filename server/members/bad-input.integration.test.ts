// Bad input through the tRPC API, on real databases: a signed-in admin's malformed mutations are refused
// with BAD_REQUEST naming the field, before any domain function runs, and nothing changes.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { TRPCError } from "@trpc/server";
import { count } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ZodError } from "zod";
import type { Db } from "@/db/client";
import { auditEvents, invitations, members } from "@/db/schema";
import { createCaller } from "@/server/api/root";
import { createContext } from "@/server/api/trpc";
import { resumeSession } from "@/server/auth/sessions";
import { beginSignIn, completeSignIn } from "@/server/auth/sign-in";
import { TEST_WEBAUTHN_CONFIG as config, firstAdmin } from "@/server/testing/identity-fixtures";
import type { SoftAuthenticator } from "@/server/testing/soft-authenticator";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";

const T0 = new Date("2026-04-06T10:00:00.000Z");
const policy = { idleMs: 15 * 60_000, maxMs: 8 * 3_600_000 };

/** Expects BAD_REQUEST from input validation and returns the fields the validation named. */
async function badRequestFields(call: Promise<unknown>): Promise<string[]> {
  const err = await call.then(
    () => {
      throw new Error("expected the call to be refused");
    },
    (e: unknown) => e,
  );
  if (!(err instanceof TRPCError)) throw err;
  expect(err.code).toBe("BAD_REQUEST");
  if (!(err.cause instanceof ZodError)) throw new Error(`not an input error: ${err.message}`);
  return err.cause.issues.map((i) => i.path.join("."));
}

describe.each(testEngines())("bad input through the API on %s", (engine) => {
  const database = useTestDatabase(engine);
  let db: Db;
  let adminToken: SoftAuthenticator;
  let dataDir: string;

  beforeAll(async () => {
    // The invitations router reads the validated configuration (the link's origin, the default lifetime).
    dataDir = mkdtempSync(path.join(tmpdir(), "keyward-bad-input-"));
    vi.stubEnv("KEYWARD_DATA_DIR", dataDir);
    vi.stubEnv("AUTH_SECRET", "s".repeat(32));
    vi.stubEnv("KEYWARD_HSM_PIN", "123456");
    db = database();
    adminToken = (await firstAdmin(db, { now: T0 })).token;
  });

  afterAll(() => {
    vi.unstubAllEnvs();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** The API as the admin sees it after signing in with their token. */
  async function adminCaller() {
    const options = await beginSignIn(db, config, T0);
    const response = adminToken.authenticate(options);
    const { sessionId } = await completeSignIn(db, config, { response, now: T0, policy });
    const session = await resumeSession(db, { sessionId, now: T0, policy });
    if (!session) throw new Error("the admin's session is not live");
    return createCaller(createContext({ db, engine, session, clock: () => T0 }));
  }

  async function counts() {
    const n = async (table: typeof members | typeof invitations | typeof auditEvents) =>
      (await db.select({ n: count() }).from(table))[0]?.n ?? 0;
    return {
      members: await n(members),
      invitations: await n(invitations),
      auditEvents: await n(auditEvents),
    };
  }

  it("refuses malformed mutations with BAD_REQUEST naming the field, and changes nothing", async () => {
    const api = await adminCaller();
    const before = await counts();

    const noRoles = api.invitations.create({ name: "Grace Hopper", roles: [], groups: [] });
    expect(await badRequestFields(noRoles)).toEqual(["roles"]);
    const shortName = api.invitations.create({ name: "G", roles: ["approver"], groups: [] });
    expect(await badRequestFields(shortName)).toEqual(["name"]);
    const badGroup = api.invitations.create({
      name: "Grace Hopper",
      roles: ["approver"],
      groups: ["Ops Team"],
    });
    expect(await badRequestFields(badGroup)).toEqual(["groups.0"]);
    // A malformed setup code is not even counted as a wrong guess.
    expect(await badRequestFields(api.setup.begin({ code: "not-a-setup-code", name: "Mallory" }))).toEqual([
      "code",
    ]);
    const badMember = api.members.update({ memberId: "not-a-uuid", roles: ["admin"], groups: [] });
    expect(await badRequestFields(badMember)).toEqual(["memberId"]);
    expect(await badRequestFields(api.tokens.revoke({ credentialId: "" }))).toEqual(["credentialId"]);

    expect(await counts()).toEqual(before);

    // The same caller with valid input does change things: the refusals above were about the input.
    await api.invitations.create({ name: "Grace Hopper", roles: ["approver"], groups: [], validHours: 1 });
    expect(await counts()).toEqual({
      members: before.members,
      invitations: before.invitations + 1,
      auditEvents: before.auditEvents + 1,
    });
  });
});
