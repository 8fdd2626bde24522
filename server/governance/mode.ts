// Whether this installation is still in setup mode or has gone live (the go-live ceremony, go-live.ts). Setup
// mode is the default: until the one row of installation_live exists, the first admin invites members, forms
// groups and drafts the policy directly. Once live (never undone: migration 0016's triggers), anything a single
// person could change directly calls requireSetupMode and is refused; it must be proposed as an operation.
import "server-only";
import type { DbOrTx } from "@/db/client";
import { installationLive } from "@/db/schema";
import { AppError } from "@/server/errors";

export type InstallationMode = { mode: "setup" } | { mode: "live"; since: Date; policyVersion: number };

/** Setup until the go-live row exists; then live since then, under the policy version the admins approved. */
export async function installationMode(db: DbOrTx): Promise<InstallationMode> {
  const [row] = await db
    .select({ since: installationLive.since, policyVersion: installationLive.policyVersion })
    .from(installationLive)
    .limit(1);
  return row ? { mode: "live", since: row.since, policyVersion: row.policyVersion } : { mode: "setup" };
}

/**
 * Refuses (CONFLICT) once live. `what` names the change in words, e.g. "changing the policy". Call it inside the
 * transaction that makes the change, after its locks: going live takes the admin lock and the policy lock, so a
 * change holding either sees the go-live that committed before it.
 */
export async function requireSetupMode(tx: DbOrTx, what: string): Promise<void> {
  const mode = await installationMode(tx);
  if (mode.mode === "live") {
    throw new AppError(
      "CONFLICT",
      `Keyward is live: ${what} needs the quorum now — propose it as an operation.`,
    );
  }
}
