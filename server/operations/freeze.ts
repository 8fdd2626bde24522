// Freeze all signing at once (ARCHITECTURE.md: restricting is immediate, loosening needs the quorum). Any active
// admin or approver freezes with one fresh tap, as restrict.ts suspends a key: beginFreezeSigning issues a
// challenge (purpose "restrict", five minutes, single use) bound to the action signing.freeze and the member;
// freezeSigning consumes it, verifies the member's own token signed it (verifyTokenAssertion) and stores the
// freeze with signing.frozen (who, which token) in one transaction. While a freeze is in force the executor
// claims no operation but the signing.unfreeze that lifts it (executor/claim.ts), and every signing path's
// guard refuses (key-guard.ts, requireSigningAllowed). Only a signing.unfreeze operation approved by the quorum
// lifts it (kinds/signing-unfreeze.ts, liftFreeze here). Never lifts a freeze outside that operation.
// Every refusal burns the tap's challenge and is recorded (restriction.refused) in a transaction of its own.
import "server-only";
import { createHash } from "node:crypto";
import type { PublicKeyCredentialRequestOptionsJSON } from "@simplewebauthn/server";
import { and, count, eq, isNull, sql } from "drizzle-orm";
import type { Db, DbOrTx, Tx } from "@/db/client";
import { keys, members, signingFreezes } from "@/db/schema";
import { appendAudit } from "@/server/audit/append";
import type { AssertionRefusedError } from "@/server/auth/assertion";
import type { WebAuthnConfig } from "@/server/auth/config";
import { ASSERTION_MESSAGES, type AssertionRefusal } from "@/server/auth/refusals";
import type { AuthenticationResponse } from "@/server/auth/schemas";
import { AppError } from "@/server/errors";
import type { Acting } from "@/server/members/guards";
import { memberWithRole } from "./actors";
import { confirmRestrictionTap, issueRestrictionTap, withRestrictionRefusal } from "./restriction-tap";
import { RESTRICTORS } from "./restrict";

const FREEZE_ACTION = "signing.freeze";
/** The audit subject of every freeze event: signing as a whole. */
export const SIGNING_SUBJECT = "signing";

/**
 * Arbitrary constant naming the freeze lock (a transaction-scoped advisory lock). A freeze or a lift takes it
 * exclusively; a signing path's recording transaction takes it shared before it reads whether a freeze is in
 * force (key-guard.ts). A freeze is a new row, which no row lock can wait for: the advisory lock is what makes
 * a freeze either wait for a signature being recorded, or be seen by it. Lock order: operation row → token row
 * → freeze lock → key row → audit append lock.
 */
const FREEZE_LOCK_KEY = 0x4b57465a; // "KWFZ"

/** Takes the freeze lock until the end of the caller's transaction (outside one it is released at once). */
export async function lockFreezes(db: DbOrTx, mode: "shared" | "exclusive"): Promise<void> {
  await db.execute(
    mode === "shared"
      ? sql`SELECT pg_advisory_xact_lock_shared(${FREEZE_LOCK_KEY})`
      : sql`SELECT pg_advisory_xact_lock(${FREEZE_LOCK_KEY})`,
  );
}

/** The freeze in force, as every page shows it. */
export type FreezeInForce = {
  id: string;
  frozenAt: Date;
  frozenBy: { id: string; name: string };
  tokenId: string;
  reason: string | null;
};

/** The freeze in force now, or null (at most one: the partial unique index of migration 0009). */
export async function freezeInForce(db: DbOrTx): Promise<FreezeInForce | null> {
  const [row] = await db
    .select({
      id: signingFreezes.id,
      frozenAt: signingFreezes.frozenAt,
      memberId: members.id,
      memberName: members.name,
      tokenId: signingFreezes.tokenId,
      reason: signingFreezes.reason,
    })
    .from(signingFreezes)
    .innerJoin(members, eq(members.id, signingFreezes.frozenBy))
    .where(isNull(signingFreezes.liftedAt));
  if (!row) return null;
  return {
    id: row.id,
    frozenAt: row.frozenAt,
    frozenBy: { id: row.memberId, name: row.memberName },
    tokenId: row.tokenId,
    reason: row.reason,
  };
}

/** What every page's banner shows: the freeze in force (or null) and how many keys are suspended. */
export async function restrictionStatus(
  db: DbOrTx,
): Promise<{ freeze: FreezeInForce | null; suspendedKeys: number }> {
  const [freeze, [suspended]] = await Promise.all([
    freezeInForce(db),
    db.select({ n: count() }).from(keys).where(eq(keys.state, "suspended")),
  ]);
  return { freeze, suspendedKeys: suspended?.n ?? 0 };
}

export type FreezeRefusal =
  | AssertionRefusal
  | "challenge_invalid"
  | "wrong_binding"
  | "not_allowed"
  | "already_frozen";

const MESSAGES: Record<FreezeRefusal, string> = {
  ...ASSERTION_MESSAGES,
  wrong_member: "That token belongs to someone else. Confirm with one of your own tokens.",
  challenge_invalid: "This confirmation was already used or has expired. Press Freeze again and tap once.",
  wrong_binding: "This tap was made for another action, another person or another reason. Start again here.",
  not_allowed: "Freezing all signing needs the admin or approver role.",
  already_frozen: "Signing is already frozen: nothing more to freeze. Reload to see who froze it and when.",
};

const CODES: Partial<Record<FreezeRefusal, AppError["code"]>> = {
  challenge_invalid: "EXPIRED",
  verification_failed: "UNAUTHENTICATED",
  user_verification_missing: "UNAUTHENTICATED",
  token_revoked: "UNAUTHENTICATED",
  counter_regressed: "UNAUTHENTICATED",
  already_frozen: "CONFLICT",
};

export class FreezeRefusedError extends AppError {
  constructor(
    readonly reason: FreezeRefusal,
    readonly evidence: AssertionRefusedError["evidence"] = null,
  ) {
    super(CODES[reason] ?? "FORBIDDEN", MESSAGES[reason]);
  }
}

/**
 * The challenge subject: the action, on signing as a whole, by one member, for one reason (its SHA-256: the text
 * shown on every page is the one the tap confirmed). Same shape as restrict.ts's, so a tap asked for suspending a
 * key can never freeze signing, nor the other way round.
 */
export function freezeSubject(memberId: string, reason: string | null): string {
  const bound = createHash("sha256")
    .update(reason ?? "")
    .digest("hex");
  return `restrict:${FREEZE_ACTION}:all:${memberId}:${bound}`;
}

async function restrictor(db: DbOrTx, memberId: string) {
  try {
    return await memberWithRole(db, memberId, RESTRICTORS, "freeze all signing");
  } catch (e) {
    if (e instanceof AppError && e.code === "FORBIDDEN") throw new FreezeRefusedError("not_allowed");
    throw e;
  }
}

/** Issues the tap for freezing all signing, bound to `reason`: refused at once for a non-restrictor or while a freeze is in force. */
export async function beginFreezeSigning(
  db: Db,
  config: WebAuthnConfig,
  input: { actor: Acting; reason: string | null; now: Date },
): Promise<{ options: PublicKeyCredentialRequestOptionsJSON }> {
  return withRefusalAudit(db, { ...input, response: null }, async () => {
    await restrictor(db, input.actor.id);
    if ((await freezeInForce(db)) !== null) throw new FreezeRefusedError("already_frozen");
    return issueRestrictionTap(db, config, {
      memberId: input.actor.id,
      subject: freezeSubject(input.actor.id, input.reason),
      now: input.now,
      refuse: (reason, evidence) => new FreezeRefusedError(reason, evidence),
    });
  });
}

/**
 * Freezes all signing with the tap beginFreezeSigning asked for: the freeze row and signing.frozen (who, which
 * token, the reason) in one transaction. The insert meets the one-in-force index (ON CONFLICT DO NOTHING), so of
 * two people freezing at once one freezes and the other gets CONFLICT, and nothing of theirs but the refusal is
 * written.
 */
export async function freezeSigning(
  db: Db,
  config: WebAuthnConfig,
  input: { actor: Acting; response: AuthenticationResponse; reason: string | null; now: Date },
): Promise<{ freezeId: string; frozenAt: Date; credentialId: string }> {
  return withRefusalAudit(db, input, () =>
    db.transaction(async (tx) => {
      const { tokenId } = await confirmRestrictionTap(tx, config, {
        memberId: input.actor.id,
        subject: freezeSubject(input.actor.id, input.reason),
        response: input.response,
        now: input.now,
        refuse: (reason, evidence) => new FreezeRefusedError(reason, evidence),
        // Re-read now: a member suspended or demoted since the tap was issued restricts nothing.
        recheck: () => restrictor(tx, input.actor.id),
      });
      await lockFreezes(tx, "exclusive");
      const [frozen] = await tx
        .insert(signingFreezes)
        .values({ frozenAt: input.now, frozenBy: input.actor.id, tokenId, reason: input.reason })
        .onConflictDoNothing()
        .returning({ id: signingFreezes.id });
      if (!frozen) throw new FreezeRefusedError("already_frozen");
      await appendAudit(tx, {
        action: "signing.frozen",
        actor: `member:${input.actor.id}`,
        subject: SIGNING_SUBJECT,
        at: input.now,
        data: { freezeId: frozen.id, memberId: input.actor.id, credentialId: tokenId, reason: input.reason },
      });
      return { freezeId: frozen.id, frozenAt: input.now, credentialId: tokenId };
    }),
  );
}

/** Whether the freeze `freezeId` is in force or lifted, or null when there is no such freeze. */
export async function freezeStateOf(db: DbOrTx, freezeId: string): Promise<"in-force" | "lifted" | null> {
  const [row] = await db
    .select({ liftedAt: signingFreezes.liftedAt })
    .from(signingFreezes)
    .where(eq(signingFreezes.id, freezeId));
  if (!row) return null;
  return row.liftedAt === null ? "in-force" : "lifted";
}

/**
 * signing.unfreeze's record, in the transaction that marks the operation executed: lifted_at and
 * lifted_by_operation set by a conditional update, with signing.unfrozen. A freeze already lifted (by another
 * signing.unfreeze naming it) counts as done and writes nothing more.
 */
export async function liftFreeze(
  tx: Tx,
  input: { freezeId: string; operationId: string },
  at: Date,
): Promise<"lifted" | "already-lifted"> {
  await lockFreezes(tx, "exclusive");
  const [row] = await tx
    .update(signingFreezes)
    .set({ liftedAt: at, liftedByOperation: input.operationId })
    .where(and(eq(signingFreezes.id, input.freezeId), isNull(signingFreezes.liftedAt)))
    .returning({ frozenAt: signingFreezes.frozenAt });
  if (row === undefined) {
    if ((await freezeStateOf(tx, input.freezeId)) === "lifted") return "already-lifted";
    throw new AppError("NOT_FOUND", `No freeze ${input.freezeId}.`);
  }
  await appendAudit(tx, {
    action: "signing.unfrozen",
    actor: "system",
    subject: SIGNING_SUBJECT,
    at,
    data: { freezeId: input.freezeId, operationId: input.operationId, frozenAt: row.frozenAt.toISOString() },
  });
  return "lifted";
}

/**
 * Runs a freeze step; a refusal burns the challenge its response answered and is recorded as
 * restriction.refused (action signing.freeze) in a transaction of its own, then rethrown.
 */
function withRefusalAudit<T>(
  db: Db,
  meta: { actor: Acting; response: AuthenticationResponse | null; now: Date },
  run: () => Promise<T>,
): Promise<T> {
  return withRestrictionRefusal(
    db,
    {
      of: FreezeRefusedError,
      memberId: meta.actor.id,
      action: FREEZE_ACTION,
      target: "all",
      subject: SIGNING_SUBJECT,
      response: meta.response,
      now: meta.now,
    },
    run,
  );
}
