// Who is calling the HTTP API: the service account whose key is in `Authorization: Bearer <key>`, if that key
// is its current one (the stored SHA-256 of the secret matches, compared in constant time), not revoked and not
// expired; and whether it holds the scope the request needs. A refusal of a known account (revoked, expired,
// beyond its scopes) is audited with actor "service:<id>"; an unknown or malformed key is answered the same way
// as a wrong secret, so a caller cannot learn which prefixes exist. The key is never logged or stored.
import "server-only";
import { eq } from "drizzle-orm";
import type { Db } from "@/db/client";
import { type ServiceScope, serviceAccounts } from "@/db/schema";
import { appendAudit } from "@/server/audit/append";
import { AppError } from "@/server/errors";
import { bearerKey, secretHash, secretMatches, splitApiKey } from "./api-key";

export type ServiceAccount = {
  id: string;
  name: string;
  scopes: ServiceScope[];
  ratePerMinute: number;
};

const UNAUTHENTICATED =
  "Send a valid service account key as Authorization: Bearer kw_…; ask an admin for one on Settings → Service accounts.";

// Compared against when no account has the prefix, so a miss costs about what a hit does.
const DECOY_HASH = secretHash("keyward-no-such-key");

async function refuse(
  db: Db,
  account: { id: string },
  now: Date,
  reason: "revoked" | "expired" | "scope",
  scope?: ServiceScope,
) {
  await db.transaction((tx) =>
    appendAudit(tx, {
      action: "service_account.refused",
      actor: `service:${account.id}`,
      subject: `service:${account.id}`,
      at: now,
      data: { serviceAccountId: account.id, reason, ...(scope ? { scope } : {}) },
    }),
  );
}

/** The calling account, or UNAUTHENTICATED (401) naming no detail an attacker could use. */
export async function authenticateServiceKey(
  db: Db,
  input: { authorization: string | null; now: Date },
): Promise<ServiceAccount> {
  const key = bearerKey(input.authorization);
  const parts = key === null ? null : splitApiKey(key);
  if (parts === null) {
    throw new AppError("UNAUTHENTICATED", UNAUTHENTICATED, { field: "Authorization" });
  }
  const [row] = await db
    .select({
      id: serviceAccounts.id,
      name: serviceAccounts.name,
      scopes: serviceAccounts.scopes,
      ratePerMinute: serviceAccounts.ratePerMinute,
      keyHash: serviceAccounts.keyHash,
      expiresAt: serviceAccounts.expiresAt,
      revokedAt: serviceAccounts.revokedAt,
    })
    .from(serviceAccounts)
    .where(eq(serviceAccounts.keyPrefix, parts.prefix));
  const matches = secretMatches(parts.secret, row?.keyHash ?? DECOY_HASH);
  if (!row || !matches) {
    throw new AppError("UNAUTHENTICATED", UNAUTHENTICATED, { field: "Authorization" });
  }
  // Only the holder of the real secret learns that the key was revoked or has expired.
  if (row.revokedAt !== null) {
    await refuse(db, row, input.now, "revoked");
    throw new AppError(
      "UNAUTHENTICATED",
      "This service account key was revoked. Ask an admin for a new one.",
      {
        field: "Authorization",
      },
    );
  }
  if (input.now >= row.expiresAt) {
    await refuse(db, row, input.now, "expired");
    throw new AppError(
      "UNAUTHENTICATED",
      `This service account key expired at ${row.expiresAt.toISOString()}. Ask an admin for a new one.`,
      { field: "Authorization" },
    );
  }
  return { id: row.id, name: row.name, scopes: row.scopes, ratePerMinute: row.ratePerMinute };
}

/** FORBIDDEN (403, audited) unless the account holds `scope`. */
export async function requireScope(
  db: Db,
  account: ServiceAccount,
  scope: ServiceScope,
  now: Date,
): Promise<void> {
  if (account.scopes.includes(scope)) return;
  await refuse(db, account, now, "scope", scope);
  throw new AppError("FORBIDDEN", `This service account's key lacks the scope ${scope}.`, {
    field: "Authorization",
  });
}
