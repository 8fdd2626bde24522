// Test helpers for the executor and the scheduler (tests and scripts/soak-executor.mjs only): operations put
// straight into a given state (the executor's tests start where the votes end), the server's HSM token set
// pointed at a SoftHSM test token, and a signer that loses answers. (The tokens themselves come from
// server/hsm/testing, which only *.test.ts files may import.)
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { eq } from "drizzle-orm";
import type { Db } from "@/db/client";
import { auditEvents, members, type OperationState, operations } from "@/db/schema";
import { closeHsm, closeServerTokenSet, HsmError, TokenSetError } from "@/server/hsm";
import * as signerFacade from "@/server/hsm/signer";
import { ensurePolicySeeded } from "../../policy-store";
import type { OperationSigner } from "../types";

/** What the environment needs of a SoftHSM test token (server/hsm/testing/test-token.ts makes them). */
export type TokenForEnv = { conf: string; label: string; pin: string };

/** Environment that points the server's token set (server/env.ts) at `token`, one thread per token. */
export function hsmEnvironment(token: TokenForEnv, dataDir: string): Record<string, string> {
  return {
    KEYWARD_DATA_DIR: dataDir,
    AUTH_SECRET: "s".repeat(32),
    SOFTHSM2_CONF: token.conf,
    KEYWARD_HSM_TOKENS: JSON.stringify([{ label: token.label, pinEnv: "KW_EXECUTOR_TEST_PIN" }]),
    KW_EXECUTOR_TEST_PIN: token.pin,
    KEYWARD_HSM_POOL_SIZE: "1",
  };
}

/** Points the server's token set at `token` (a fresh data folder too); close() restores the environment. */
export function useTokenForServer(token: TokenForEnv): {
  dataDir: string;
  env: Record<string, string>;
  close: () => Promise<void>;
} {
  const dataDir = mkdtempSync(path.join(tmpdir(), "keyward-executor-"));
  const env = hsmEnvironment(token, dataDir);
  const before = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  return {
    dataDir,
    env,
    close: async () => {
      await closeServerTokenSet();
      closeHsm();
      for (const [k, v] of Object.entries(before)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** An active initiator and the default policy: what an operation row needs to exist. */
export async function seedInitiator(db: Db, now: Date): Promise<{ memberId: string; policyVersion: number }> {
  const policy = await ensurePolicySeeded(db, now);
  const [member] = await db
    .insert(members)
    .values({ name: "Initiator", roles: ["operator"], userHandle: randomBytes(16).toString("base64url") })
    .returning({ id: members.id });
  if (member === undefined) throw new Error("no member row");
  return { memberId: member.id, policyVersion: policy.version };
}

export type KeyCreateInput = {
  label: string;
  curve: "secp256k1" | "ed25519" | "p256";
  exportable: "never" | "wrapped";
};

/** key.create operations put straight into `state` (approved by default), as the votes would have left them. */
export async function insertKeyCreates(
  db: Db,
  seed: { memberId: string; policyVersion: number },
  count: number,
  options: { now: Date; state?: OperationState; payload?: (i: number) => unknown; expiresAt?: Date },
): Promise<string[]> {
  const rows = Array.from({ length: count }, (_, i) => ({
    id: randomUUID(),
    kind: "key.create",
    payload: options.payload?.(i) ?? {
      label: `key ${i}`,
      curve: "secp256k1",
      tags: ["test"],
      exportable: "never",
    },
    initiatorId: seed.memberId,
    state: options.state ?? "approved",
    digest: randomBytes(32).toString("hex"),
    policyVersion: seed.policyVersion,
    ruleId: "default",
    createdAt: options.now,
    expiresAt: options.expiresAt ?? new Date(options.now.getTime() + 48 * 3_600_000),
    decidedAt: (options.state ?? "approved") === "pending" ? null : options.now,
  }));
  await db.insert(operations).values(rows);
  return rows.map((r) => r.id);
}

/** The audit actions recorded for one operation, in order. */
export async function actionsOf(db: Db, operationId: string): Promise<string[]> {
  const rows = await db
    .select({ action: auditEvents.action })
    .from(auditEvents)
    .where(eq(auditEvents.subject, `operation:${operationId}`))
    .orderBy(auditEvents.seq, auditEvents.id);
  return rows.map((r) => r.action);
}

/**
 * The real signer facade, except that the first `lose` calls of createKey lose their answer after the HSM
 * acted (the key is made, then the caller sees outcome-unknown), as a timeout or a crash of the pool's
 * thread would; `refuse` makes every createKey fail with a configuration error before the HSM is asked.
 */
export function faultySigner(faults: {
  lose?: number;
  refuse?: boolean;
  /** The first this many createKey calls find the primary set aside (TokenSetError), as a broken worker would. */
  unavailable?: number;
}): OperationSigner & { calls: () => number } {
  let calls = 0;
  return {
    calls: () => calls,
    findKey: signerFacade.findKey,
    operationKeyRef: signerFacade.operationKeyRef,
    createKey: async (options) => {
      calls++;
      if (faults.refuse === true) {
        throw new HsmError("mechanism-unsupported", "this token cannot make such a key (injected)", {
          operation: "createKey",
        });
      }
      if (calls <= (faults.unavailable ?? 0)) {
        throw new TokenSetError(
          "misconfigured",
          "New keys are made on the primary HSM token, and it cannot serve now (injected).",
          [],
          "createKey",
        );
      }
      const key = await signerFacade.createKey(options);
      if (calls <= (faults.lose ?? 0)) {
        throw new HsmError("outcome-unknown", "the HSM's answer was lost (injected after the key was made)", {
          operation: "createKey",
        });
      }
      return key;
    },
  };
}
