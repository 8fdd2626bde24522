// The admin lock: one transaction-scoped PostgreSQL advisory lock that serialises every change to the set of
// admins (roles, suspension, reactivation, first-admin setup, invitation acceptance) and every token
// revocation, so each change's guards ("another usable admin remains", "the acting admin is still one") read
// what the previous change committed instead of a snapshot from before it. Without it, two admins suspending
// each other at the same moment both see the other as the remaining admin, and both succeed.
//
// Lock order, to stay deadlock-free: this lock first in its transaction, before any row lock and before the
// audit append lock (taken by appendAudit); never take it later in a transaction. Invitation rows are
// written only under it (creation, revocation, acceptance, the creator's suspension or demotion).
// On PGlite (one connection, transactions one after another) it is trivially uncontended.
import "server-only";
import { eq, sql } from "drizzle-orm";
import type { Tx } from "@/db/client";
import { members } from "@/db/schema";
import { AppError } from "@/server/errors";
import { type Acting, isAdmin, liveTokenCount } from "./guards";

/** Arbitrary constant naming this lock; distinct from the audit append lock's key (server/audit/append.ts). */
const ADMIN_LOCK_KEY = 0x4b57_4144; // "KWAD"

/** Waits for the admin lock; it is released when the transaction commits or rolls back. */
export async function takeAdminLock(tx: Tx): Promise<void> {
  await tx.execute(sql`SELECT pg_advisory_xact_lock(${ADMIN_LOCK_KEY})`);
}

/**
 * Takes the admin lock, then re-reads the acting member as the database has them now: they must still be
 * active and hold a live token (the session's `Acting` may predate a suspension, a demotion or a revocation
 * that committed while this request waited). Returns them with their current roles; FORBIDDEN otherwise.
 */
export async function lockAndReloadActing(tx: Tx, actor: Acting, what: string): Promise<Acting> {
  await takeAdminLock(tx);
  const [row] = await tx
    .select({ id: members.id, roles: members.roles, status: members.status })
    .from(members)
    .where(eq(members.id, actor.id));
  if (row?.status !== "active") {
    throw new AppError("FORBIDDEN", `You cannot ${what}: your membership has been suspended.`);
  }
  if ((await liveTokenCount(tx, row.id)) === 0) {
    throw new AppError(
      "FORBIDDEN",
      `You cannot ${what}: you no longer have a live hardware token. Ask an admin to help you add one.`,
    );
  }
  return { id: row.id, roles: row.roles };
}

/** As lockAndReloadActing, and the acting member must still be an admin. */
export async function lockAsAdmin(tx: Tx, actor: Acting, what: string): Promise<Acting> {
  const current = await lockAndReloadActing(tx, actor, what);
  if (!isAdmin(current)) {
    throw new AppError("FORBIDDEN", `You cannot ${what}: you are no longer an admin.`);
  }
  return current;
}
