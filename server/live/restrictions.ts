// The restrictions in force, as every page's banner shows them, for their live subscription
// (restrictions.onStatus): the freeze of all signing, if any (who froze it, when, why), and how many keys are
// suspended. A freeze and its lifting are audited on the subject `signing`, a suspension or a resumption on the
// key's own subject, so those are the changes that wake it. Reads only; never more than restrictions.status
// shows.
import "server-only";
import type { Db } from "@/db/client";
import { restrictionStatus, SIGNING_SUBJECT } from "@/server/operations/freeze";
import { type Change, touches } from "./audit-head";

/** The same fields as restrictions.status: the banner's subscription writes them into that query's cache. */
export async function restrictionsShown(db: Db) {
  const { freeze, suspendedKeys } = await restrictionStatus(db);
  return {
    freeze: freeze && {
      id: freeze.id,
      frozenAt: freeze.frozenAt,
      frozenBy: freeze.frozenBy,
      reason: freeze.reason,
    },
    suspendedKeys,
  };
}

/** A freeze or its lifting, or any key's change (suspended, resumed, or any other state it leaves). */
export function touchesRestrictions(change: Change): boolean {
  return touches(change, { subjects: [SIGNING_SUBJECT], kinds: ["key"] });
}
