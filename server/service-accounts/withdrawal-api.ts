// What the HTTP API does for a service account: propose a withdrawal under an Idempotency-Key, and read a
// withdrawal it proposed. The key is claimed in the proposing transaction (a row keyed by account + key), so
// the key exists exactly when its withdrawal does: a second request with the same key waits on PostgreSQL for
// the first to commit, then returns the first's answer (same body) or is refused with 409 (another body). A
// proposal that is refused (bad input, the policy) rolls back with its key, and may be sent again.
import "server-only";
import { and, eq } from "drizzle-orm";
import type { Db } from "@/db/client";
import { operations, type WithdrawalState, withdrawals } from "@/db/schema";
import { AppError } from "@/server/errors";
import { type WithdrawalInput, withdrawalPayloadSchema } from "@/server/operations/kinds/withdrawal-schema";
import { proposeAsService } from "@/server/operations/propose";
import type { OperationRow } from "@/server/operations/transitions";
import { type WithdrawalStatus, withdrawalStatusSchema } from "./api-schemas";
import { answerOnce } from "./idempotency";

export const WITHDRAWAL_KIND = "withdrawal";

type Transaction = {
  state: WithdrawalState;
  txid: string | null;
  confirmations: number;
  reason: string | null;
};

/** The API's view of a withdrawal operation and, once built, its chain transaction. */
export function withdrawalStatus(op: OperationRow, tx: Transaction | null): WithdrawalStatus {
  const payload = withdrawalPayloadSchema.parse(op.payload);
  return {
    id: op.id,
    state: op.state,
    chain: payload.chain,
    network: payload.network,
    asset: payload.asset,
    decimals: payload.decimals,
    amount: payload.amount,
    destination: payload.destination,
    feeCap: payload.feeCap,
    createdAt: op.createdAt.toISOString(),
    expiresAt: op.expiresAt.toISOString(),
    transaction:
      tx === null
        ? null
        : {
            state: tx.state,
            txid: tx.txid,
            confirmations: tx.confirmations,
            reason: tx.reason,
          },
  };
}

export type ApiAnswer = { status: number; body: WithdrawalStatus; replayed: boolean };

/**
 * Proposes `input` (already validated against the kind's input schema) for the account, once per
 * (account, idempotency key) (idempotency.ts). `digest` is bodyDigest of the request body as sent.
 */
export async function proposeWithdrawalOnce(
  db: Db,
  input: {
    serviceAccountId: string;
    idempotencyKey: string;
    digest: string;
    withdrawal: WithdrawalInput;
    now: Date;
  },
): Promise<ApiAnswer> {
  const answer = await answerOnce(
    db,
    {
      serviceAccountId: input.serviceAccountId,
      key: input.idempotencyKey,
      digest: input.digest,
      now: input.now,
    },
    async (tx) => {
      const op = await proposeAsService(tx, {
        serviceAccountId: input.serviceAccountId,
        kind: WITHDRAWAL_KIND,
        payload: input.withdrawal,
        now: input.now,
      });
      return { operationId: op.id, status: 201, body: withdrawalStatus(op, null) };
    },
  );
  return { ...answer, body: withdrawalStatusSchema.parse(answer.body) };
}

/** A withdrawal this account proposed, as it is now; NOT_FOUND for anything else (another's, not a withdrawal). */
export async function readWithdrawal(
  db: Db,
  input: { serviceAccountId: string; id: string },
): Promise<WithdrawalStatus> {
  const [row] = await db
    .select({
      op: operations,
      tx: {
        state: withdrawals.state,
        txid: withdrawals.txid,
        confirmations: withdrawals.confirmations,
        reason: withdrawals.reason,
      },
    })
    .from(operations)
    .leftJoin(withdrawals, eq(withdrawals.operationId, operations.id))
    .where(
      and(
        eq(operations.id, input.id),
        eq(operations.kind, WITHDRAWAL_KIND),
        eq(operations.serviceAccountId, input.serviceAccountId),
      ),
    );
  if (!row)
    throw new AppError("NOT_FOUND", `id: no withdrawal ${input.id} proposed by this account.`, {
      field: "id",
    });
  return withdrawalStatus(row.op, row.tx);
}
