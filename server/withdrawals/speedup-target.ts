// What a speed-up is about, as the database holds it now: the withdrawal operation, the transaction it signed,
// and every withdrawal.speedup operation naming it with the replacement each signed. Read by proposing (in the
// proposing transaction, the withdrawal's row locked so two proposals for the same withdrawal are judged one after
// the other), by the execute step and by the operation page. Reads only.
import "server-only";
import { and, asc, eq, inArray, sql } from "drizzle-orm";
import type { DbOrTx } from "@/db/client";
import { operations, type Withdrawal, withdrawals } from "@/db/schema";
import { SPEEDUP_KIND } from "@/server/operations/kinds/withdrawal-speedup-schema";

/** A transaction Keyward built for the withdrawal or one of its speed-ups (its withdrawals row). */
export type SpeedUpTransaction = Pick<
  Withdrawal,
  | "id"
  | "operationId"
  | "chain"
  | "network"
  | "keyId"
  | "state"
  | "nonce"
  | "txid"
  | "unsigned"
  | "confirmations"
  | "block"
  | "reason"
  | "decoded"
  | "createdAt"
>;

export type SpeedUpTarget = {
  operation: { id: string; kind: string; state: string; payload: unknown };
  /** The withdrawal's own transaction, or null until its execution built one. */
  transaction: SpeedUpTransaction | null;
  /** Every speed-up proposed for it, oldest first, each with the replacement it built (or null). */
  speedUps: {
    operationId: string;
    state: string;
    createdAt: Date;
    payload: unknown;
    transaction: SpeedUpTransaction | null;
  }[];
};

const transactionColumns = {
  id: withdrawals.id,
  operationId: withdrawals.operationId,
  chain: withdrawals.chain,
  network: withdrawals.network,
  keyId: withdrawals.keyId,
  state: withdrawals.state,
  nonce: withdrawals.nonce,
  txid: withdrawals.txid,
  unsigned: withdrawals.unsigned,
  confirmations: withdrawals.confirmations,
  block: withdrawals.block,
  reason: withdrawals.reason,
  decoded: withdrawals.decoded,
  createdAt: withdrawals.createdAt,
};

/**
 * The withdrawal operation `operationId` with its transaction and speed-ups, or null when no operation has that
 * id. `lock`: the withdrawal's transaction row is taken FOR UPDATE first, so a concurrent proposal of a speed-up
 * for the same withdrawal waits here and then sees the one proposed before it.
 */
export async function readSpeedUpTarget(
  db: DbOrTx,
  operationId: string,
  options: { lock?: boolean } = {},
): Promise<SpeedUpTarget | null> {
  const [op] = await db
    .select({
      id: operations.id,
      kind: operations.kind,
      state: operations.state,
      payload: operations.payload,
    })
    .from(operations)
    .where(eq(operations.id, operationId));
  if (op === undefined) return null;
  const own = db.select(transactionColumns).from(withdrawals).where(eq(withdrawals.operationId, op.id));
  const [transaction] = options.lock ? await own.for("update") : await own;
  const speedUps = await db
    .select({
      operationId: operations.id,
      state: operations.state,
      createdAt: operations.createdAt,
      payload: operations.payload,
    })
    .from(operations)
    .where(
      and(eq(operations.kind, SPEEDUP_KIND), sql`${operations.payload}->>'withdrawalOperationId' = ${op.id}`),
    )
    .orderBy(asc(operations.createdAt), asc(operations.id));
  const rows =
    speedUps.length === 0
      ? []
      : await db
          .select(transactionColumns)
          .from(withdrawals)
          .where(
            inArray(
              withdrawals.operationId,
              speedUps.map((s) => s.operationId),
            ),
          );
  const byOperation = new Map(rows.map((r) => [r.operationId, r]));
  const withRows = speedUps.map((s) => ({ ...s, transaction: byOperation.get(s.operationId) ?? null }));
  // Proposed in that order; two proposed in the same instant, in the order their replacements were built.
  const built = (s: (typeof withRows)[number]) =>
    s.transaction?.createdAt.getTime() ?? Number.MAX_SAFE_INTEGER;
  withRows.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || built(a) - built(b));
  return { operation: op, transaction: transaction ?? null, speedUps: withRows };
}
