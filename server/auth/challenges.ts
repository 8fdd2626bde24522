// WebAuthn challenges live server-side and are consumed exactly once, by the ceremony that asked for them.
import "server-only";
import { and, eq, gt, isNull, lt } from "drizzle-orm";
import type { DbOrTx } from "@/db/client";
import { type ChallengePurpose, webauthnChallenges } from "@/db/schema";
import { AppError } from "@/server/errors";

export async function storeChallenge(
  db: DbOrTx,
  input: {
    purpose: ChallengePurpose;
    challenge: string;
    subject?: string;
    userHandle?: string;
    expiresAt: Date;
  },
): Promise<void> {
  await db.insert(webauthnChallenges).values({
    purpose: input.purpose,
    challenge: input.challenge,
    subject: input.subject ?? null,
    userHandle: input.userHandle ?? null,
    expiresAt: input.expiresAt,
  });
}

/** Reads the challenge the browser signed out of clientDataJSON (base64url JSON). Throws BAD_INPUT if unreadable. */
export function challengeFromClientData(clientDataJSON: string): string {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(clientDataJSON, "base64url").toString("utf8"));
    if (
      parsed &&
      typeof parsed === "object" &&
      "challenge" in parsed &&
      typeof parsed.challenge === "string"
    ) {
      return parsed.challenge;
    }
  } catch {
    // fall through to the error below
  }
  throw new AppError("BAD_INPUT", "The token's response is malformed. Try again.", { field: "response" });
}

/**
 * Atomically marks a live challenge of this purpose consumed and returns it; a second call for the same
 * challenge (a replay) finds nothing and gets EXPIRED.
 */
export async function consumeChallenge(db: DbOrTx, purpose: ChallengePurpose, challenge: string, now: Date) {
  const [row] = await db
    .update(webauthnChallenges)
    .set({ consumedAt: now })
    .where(
      and(
        eq(webauthnChallenges.challenge, challenge),
        eq(webauthnChallenges.purpose, purpose),
        isNull(webauthnChallenges.consumedAt),
        gt(webauthnChallenges.expiresAt, now),
      ),
    )
    .returning();
  if (!row) {
    throw new AppError(
      "EXPIRED",
      "This request was already used or has expired. Start again and tap your key once.",
    );
  }
  return row;
}

/** Deletes challenges that expired before `before`; they can never be consumed. Returns how many. */
export async function pruneChallenges(db: DbOrTx, before: Date): Promise<number> {
  const gone = await db
    .delete(webauthnChallenges)
    .where(lt(webauthnChallenges.expiresAt, before))
    .returning({ id: webauthnChallenges.id });
  return gone.length;
}

/** Marks a challenge used without checking it is live: for refusals, so a refused response cannot be retried. */
export async function burnChallenge(db: DbOrTx, challenge: string, now: Date): Promise<void> {
  await db
    .update(webauthnChallenges)
    .set({ consumedAt: now })
    .where(and(eq(webauthnChallenges.challenge, challenge), isNull(webauthnChallenges.consumedAt)));
}

/**
 * Burns the challenge a refused response answers, so the same tap cannot be corrected and sent again. A
 * response too malformed to name its challenge burns nothing (it could never be accepted anyway).
 */
export async function burnAnsweredChallenge(
  db: DbOrTx,
  response: { response: { clientDataJSON: string } },
  now: Date,
): Promise<void> {
  let challenge: string;
  try {
    challenge = challengeFromClientData(response.response.clientDataJSON);
  } catch {
    return;
  }
  await burnChallenge(db, challenge, now);
}
