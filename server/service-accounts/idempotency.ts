// The Idempotency-Key store: the first request with a key of an account runs `create` in the same transaction
// that claims the key (a row keyed by account + key), so the key exists exactly when what it created does. A
// second request with the key waits on PostgreSQL for the first transaction (the primary key's insert blocks),
// then gets the first's stored answer when its body digest is the same, and a 409 naming Idempotency-Key when
// it is not. A `create` that throws rolls back with its claim: the same key may be sent again.
import "server-only";
import { createHash } from "node:crypto";
import canonicalize from "canonicalize";
import { and, eq } from "drizzle-orm";
import type { Db, Tx } from "@/db/client";
import { idempotencyKeys } from "@/db/schema";
import { AppError } from "@/server/errors";

/** SHA-256 hex of the body's RFC 8785 canonical JSON: key order and white space do not change it. */
export function bodyDigest(body: unknown): string {
  const text = canonicalize(body);
  if (text === undefined)
    throw new AppError("BAD_INPUT", "body: the body must be a JSON object.", { field: "body" });
  return createHash("sha256").update(text, "utf8").digest("hex");
}

export type StoredAnswer = { status: number; body: unknown };

export async function answerOnce(
  db: Db,
  claim: { serviceAccountId: string; key: string; digest: string; now: Date },
  create: (tx: Tx) => Promise<StoredAnswer & { operationId: string }>,
): Promise<StoredAnswer & { replayed: boolean }> {
  const thisKey = and(
    eq(idempotencyKeys.serviceAccountId, claim.serviceAccountId),
    eq(idempotencyKeys.key, claim.key),
  );
  return db.transaction(async (tx) => {
    const claimed = await tx
      .insert(idempotencyKeys)
      .values({
        serviceAccountId: claim.serviceAccountId,
        key: claim.key,
        bodyDigest: claim.digest,
        createdAt: claim.now,
      })
      .onConflictDoNothing()
      .returning({ key: idempotencyKeys.key });
    if (claimed.length === 0) {
      // READ COMMITTED: this statement sees the first transaction's committed row.
      const [prior] = await tx.select().from(idempotencyKeys).where(thisKey);
      if (!prior?.response)
        throw new AppError("INTERNAL", "The Idempotency-Key is recorded without its answer.");
      if (prior.bodyDigest !== claim.digest) {
        throw new AppError(
          "CONFLICT",
          "Idempotency-Key: this key was sent before with another body. Use a new key for a new request, or send the same body to get the first answer again.",
          { field: "Idempotency-Key" },
        );
      }
      return { ...prior.response, replayed: true };
    }
    const { operationId, status, body } = await create(tx);
    await tx.update(idempotencyKeys).set({ operationId, response: { status, body } }).where(thisKey);
    return { status, body, replayed: false };
  });
}
