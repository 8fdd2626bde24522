// A refused token tap (a step-up, a vote, a restriction): the challenge it answered is burned, so the same tap
// cannot be corrected and sent again, and the refusal is recorded — in a transaction of its own, because the
// refused step's transaction rolled back. Never swallows the refusal: it is rethrown for the caller's answer.
import "server-only";
import type { Db } from "@/db/client";
import { type AppendInput, appendAudit } from "@/server/audit/append";
import { burnAnsweredChallenge } from "./challenges";
import { CREDENTIAL_ID_MAX } from "./schemas";

export type TapResponse = { id: string; response: { clientDataJSON: string } };

/** A refusal that may carry evidence to append beside it (a regressed signature counter). */
type Refusal = Error & { evidence: AppendInput | null };

export async function withTapRefusal<T, E extends Refusal>(
  db: Db,
  refusal: {
    /** The refusal's own error class; any other error passes through untouched. */
    of: new (
      ...args: never[]
    ) => E;
    response: TapResponse | null;
    now: Date;
    /** The refusal's audit event; `credentialId` is the tap's, bounded, or null when there was no tap yet. */
    record: (e: E, credentialId: string | null) => AppendInput;
  },
  run: () => Promise<T>,
): Promise<T> {
  try {
    return await run();
  } catch (e) {
    if (!(e instanceof refusal.of)) throw e;
    const { response, now } = refusal;
    await db.transaction(async (tx) => {
      if (response) await burnAnsweredChallenge(tx, response, now);
      if (e.evidence) await appendAudit(tx, e.evidence);
      await appendAudit(tx, refusal.record(e, response ? response.id.slice(0, CREDENTIAL_ID_MAX) : null));
    });
    throw e;
  }
}
