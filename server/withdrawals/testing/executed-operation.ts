// Test fixture: the operations row an executed withdrawal leaves behind, for tests that store its signed
// transaction themselves and then drive the broadcast tracker (broadcast and reorg integration tests).
import { randomBytes } from "node:crypto";
import type { Db } from "@/db/client";
import { operations } from "@/db/schema";

/** Inserts an executed `withdrawal` operation of key `keyId` on `chain`; returns its id. */
export async function insertExecutedWithdrawal(
  db: Db,
  input: {
    keyId: string;
    chain: string;
    /** The first transfer's asset and amount: what rows of the withdrawal kind always carry (the velocity ledger's trigger reads them). */
    transfer: { asset: string; amount: bigint } | undefined;
    policyVersion: number;
    at: Date;
  },
): Promise<string> {
  const [op] = await db
    .insert(operations)
    .values({
      kind: "withdrawal",
      payload: {
        keyId: input.keyId,
        chain: input.chain,
        asset: input.transfer?.asset ?? "",
        amount: String(input.transfer?.amount ?? 0n),
      },
      systemInitiator: "rotation-due",
      state: "executed",
      digest: randomBytes(32).toString("hex"),
      policyVersion: input.policyVersion,
      ruleId: "default",
      createdAt: input.at,
      expiresAt: new Date(input.at.getTime() + 86_400_000),
      executedAt: input.at,
    })
    .returning({ id: operations.id });
  if (!op) throw new Error("operation not inserted");
  return op.id;
}
