// First-admin bootstrap: a one-time code printed at start lets the first person register a token and
// become admin. Single use, expires (15 minutes by default), burned after too many wrong guesses.
// Issuing a code and completing setup run under the admin lock (server/members/admin-lock.ts), so two
// completions at once (or two server instances starting at once) make one admin.
import "server-only";
import { and, arrayContains, eq, gt, isNull } from "drizzle-orm";
import type { Db, DbOrTx, Tx } from "@/db/client";
import { members, setupCodes } from "@/db/schema";
import { appendAudit } from "@/server/audit/append";
import { AppError } from "@/server/errors";
import { takeAdminLock } from "@/server/members/admin-lock";
import { seedPolicy } from "@/server/operations/policy-store";
import type { WebAuthnConfig } from "./config";
import { addVerifiedToken, beginRegistration, newUserHandle, verifyRegistration, withRefusalAudit } from "./registration";
import { type RegistrationResponse, setupCodeSchema } from "./schemas";
import { hashesEqual, newSetupCode, sha256Hex } from "./secrets";

export const MAX_SETUP_ATTEMPTS = 5;

export async function hasAdmin(db: DbOrTx): Promise<boolean> {
  const [row] = await db
    .select({ id: members.id })
    .from(members)
    .where(arrayContains(members.roles, ["admin"]))
    .limit(1);
  return Boolean(row);
}

/** Issues a fresh code (voiding older ones) unless an admin exists. Returns the code to print, once. */
export async function issueSetupCode(db: Db, input: { now: Date; ttlMs: number }) {
  return db.transaction(async (tx) => {
    await takeAdminLock(tx);
    if (await hasAdmin(tx)) return null;
    await tx
      .update(setupCodes)
      .set({ voidedAt: input.now })
      .where(and(isNull(setupCodes.usedAt), isNull(setupCodes.voidedAt)));
    const { code, display } = newSetupCode();
    const expiresAt = new Date(input.now.getTime() + input.ttlMs);
    const [row] = await tx
      .insert(setupCodes)
      .values({ codeHash: sha256Hex(code), expiresAt })
      .returning({ id: setupCodes.id });
    if (!row) throw new AppError("INTERNAL", "Could not store the setup code");
    await appendAudit(tx, {
      action: "setup.code_issued",
      actor: "system",
      subject: `setup-code:${row.id}`,
      at: input.now,
      data: { setupCodeId: row.id, expiresAt: expiresAt.toISOString() },
    });
    return { code: display, expiresAt };
  });
}

const NO_LIVE_CODE =
  "No setup code is live (it expired, was used, or too many wrong codes were tried). Restart Keyward (npm start) to print a new one.";

/** Checks a typed code against the live one, counting failures. Throws a clear error on any mismatch. */
async function checkCode(db: Db, code: string, now: Date): Promise<string> {
  const outcome = await db.transaction(async (tx) => {
    if (await hasAdmin(tx)) return { error: new AppError("CONFLICT", "Keyward is already set up. Sign in instead.") };
    const [live] = await tx
      .select()
      .from(setupCodes)
      .where(and(isNull(setupCodes.usedAt), isNull(setupCodes.voidedAt), gt(setupCodes.expiresAt, now)))
      .for("update")
      .limit(1);
    if (!live) {
      // The row lock may have waited for a setup that completed meanwhile: then say so, not "expired".
      if (await hasAdmin(tx)) return { error: new AppError("CONFLICT", "Keyward is already set up. Sign in instead.") };
      return { error: new AppError("EXPIRED", NO_LIVE_CODE) };
    }
    // Normalised here too (not only by the router), so a caller outside tRPC gets the same answer.
    const typed = setupCodeSchema.safeParse(code);
    if (typed.success && hashesEqual(live.codeHash, sha256Hex(typed.data))) return { id: live.id };
    const failedAttempts = live.failedAttempts + 1;
    const voided = failedAttempts >= MAX_SETUP_ATTEMPTS;
    await tx
      .update(setupCodes)
      .set({ failedAttempts, voidedAt: voided ? now : null })
      .where(eq(setupCodes.id, live.id));
    await appendAudit(tx, {
      action: "setup.code_failed",
      actor: "anonymous",
      subject: `setup-code:${live.id}`,
      at: now,
      data: { setupCodeId: live.id, failedAttempts, voided },
    });
    return {
      error: voided
        ? new AppError("RATE_LIMITED", `Too many wrong codes. ${NO_LIVE_CODE}`)
        : new AppError(
            "BAD_INPUT",
            `That setup code is not right (${MAX_SETUP_ATTEMPTS - failedAttempts} attempts left). Copy it from the terminal running Keyward.`,
            { field: "code" },
          ),
    };
  });
  if ("error" in outcome) throw outcome.error;
  return outcome.id;
}

export async function beginSetup(
  db: Db,
  config: WebAuthnConfig,
  input: { code: string; name: string; now: Date },
) {
  const setupCodeId = await checkCode(db, input.code, input.now);
  return beginRegistration(db, config, {
    purpose: "setup",
    subject: setupCodeId,
    userHandle: newUserHandle(),
    userName: input.name,
    now: input.now,
  });
}

export async function completeSetup(
  db: Db,
  config: WebAuthnConfig,
  input: { code: string; name: string; tokenName: string; response: RegistrationResponse; now: Date },
) {
  const setupCodeId = await checkCode(db, input.code, input.now);
  return withRefusalAudit(db, { actor: "anonymous", purpose: "setup", now: input.now }, async (tx: Tx) => {
    // The admin lock, then the code's row: checkCode's answer came from an earlier transaction, so both
    // "no admin yet" and "the code is still live" are read again here, after any other completion committed.
    await takeAdminLock(tx);
    if (await hasAdmin(tx)) throw new AppError("CONFLICT", "Keyward is already set up. Sign in instead.");
    const [live] = await tx
      .select({ id: setupCodes.id })
      .from(setupCodes)
      .where(
        and(
          eq(setupCodes.id, setupCodeId),
          isNull(setupCodes.usedAt),
          isNull(setupCodes.voidedAt),
          gt(setupCodes.expiresAt, input.now),
        ),
      )
      .for("update");
    if (!live) throw new AppError("EXPIRED", NO_LIVE_CODE);
    const token = await verifyRegistration(tx, config, {
      purpose: "setup",
      subject: setupCodeId,
      response: input.response,
      now: input.now,
    });
    await tx.update(setupCodes).set({ usedAt: input.now }).where(eq(setupCodes.id, live.id));
    const [member] = await tx
      .insert(members)
      .values({ name: input.name, roles: ["admin"], userHandle: token.userHandle })
      .returning({ id: members.id });
    if (!member) throw new AppError("INTERNAL", "Could not create the admin");
    // The default quorum policy is in force from the first admin on (before any audit append: lock order).
    await seedPolicy(tx, input.now);
    const actor = `member:${member.id}` as const;
    await appendAudit(tx, {
      action: "setup.completed",
      actor,
      subject: `member:${member.id}`,
      at: input.now,
      data: { memberId: member.id, credentialId: token.id },
    });
    await addVerifiedToken(tx, { memberId: member.id, nickname: input.tokenName, token, actor, now: input.now });
    return { memberId: member.id };
  });
}

/** For the status page: is the console waiting for its first admin? */
export async function setupPending(db: DbOrTx): Promise<boolean> {
  return !(await hasAdmin(db));
}

