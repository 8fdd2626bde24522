// What the operation page shows of speed-ups (withdrawals.speedUps): for an Ethereum withdrawal or one of its
// speed-ups, every transaction Keyward signed for that withdrawal's nonce (the original first) with its state and
// fees, the one that confirmed, and — on the withdrawal's page — whether a speed-up can be proposed now (the same
// judgement proposing makes from the database) with the chain's current fee estimate and the least fees a
// replacement must offer; on a speed-up's page, its replacement decoded from the stored bytes. Reads only.
import "server-only";
import { and, eq, inArray, isNotNull, or, sql } from "drizzle-orm";
import type { Db } from "@/db/client";
import { operations, type WithdrawalState, withdrawals } from "@/db/schema";
import { type ChainClients, chainClients } from "@/server/chains/registry";
import { NATIVE_ASSETS } from "@/server/custody/assets";
import { suggestFees } from "@/server/custody/ethereum";
import { SPEEDUP_KIND, speedUpPayloadSchema } from "@/server/operations/kinds/withdrawal-speedup-schema";
import { formatUnits } from "@/server/policy/amounts";
import { feesOf, leastReplacementFees } from "./speedup-fees";
import { speedUpStanding } from "./speedup-prepare";
import { readSpeedUpTarget, type SpeedUpTransaction } from "./speedup-target";

export type SpeedUpTransactionView = {
  operationId: string;
  speedUp: boolean;
  operationState: string;
  state: WithdrawalState | null;
  txid: string | null;
  nonce: string | null;
  /** "3 gwei max, 1 gwei tip per gas" (null until built). */
  fees: string | null;
  confirmations: number;
  reason: string | null;
};

export type SpeedUpProposal =
  | {
      possible: true;
      /** The viewer holds a role that may propose withdrawal.speedup. */
      mayPropose: boolean;
      replaces: { operationId: string; txid: string; fees: string };
      gasLimit: string;
      /** The least a replacement must offer, gwei per gas as the form takes it. */
      least: { maxFeePerGas: string; maxPriorityFeePerGas: string };
      /** What the form starts with: at least `least`, and what the chain asks now (2 × base fee + tip). */
      suggested: { maxFeePerGas: string; maxPriorityFeePerGas: string; feeCap: string };
      /** The chain's fee now, in words ("base fee 50 gwei, tip 1 gwei per gas"), or why it is not known. */
      estimate: string;
    }
  | { possible: false; reason: string };

export type SpeedUpView = {
  withdrawalOperationId: string;
  viewing: "withdrawal" | "speed-up";
  transactions: SpeedUpTransactionView[];
  /** The transaction of this nonce that confirmed, if one did. */
  confirmed: { operationId: string; txid: string; speedUp: boolean } | null;
  proposal: SpeedUpProposal;
  /** On a speed-up's page: its replacement decoded from the stored bytes (empty until built). */
  lines: { label: string; value: string }[];
};

const gwei = (wei: bigint) => formatUnits(wei, 9);
const feeWords = (unsigned: string) => {
  const f = feesOf(unsigned);
  return `${gwei(f.maxFeePerGas)} gwei max, ${gwei(f.maxPriorityFeePerGas)} gwei tip per gas`;
};

function transactionView(
  operationId: string,
  speedUp: boolean,
  operationState: string,
  t: SpeedUpTransaction | null,
): SpeedUpTransactionView {
  return {
    operationId,
    speedUp,
    operationState,
    state: t?.state ?? null,
    txid: t?.txid ?? null,
    nonce: t?.nonce ?? null,
    fees: t === null ? null : feeWords(t.unsigned),
    confirmations: t?.confirmations ?? 0,
    reason: t?.reason ?? null,
  };
}

/**
 * The speed-ups view of operation `operationId` (a withdrawal or a withdrawal.speedup), or null when it is neither
 * or the withdrawal is not on Ethereum. `clients`: the node asked for the current fees (the ones in use).
 */
export async function speedUpView(
  db: Db,
  operationId: string,
  options: { mayPropose: boolean; clients?: ChainClients },
): Promise<SpeedUpView | null> {
  let target = await readSpeedUpTarget(db, operationId);
  let viewing: SpeedUpView["viewing"] = "withdrawal";
  if (target?.operation.kind === "withdrawal.speedup") {
    const parsed = speedUpPayloadSchema.safeParse(target.operation.payload);
    if (!parsed.success) return null;
    target = await readSpeedUpTarget(db, parsed.data.withdrawalOperationId);
    viewing = "speed-up";
  }
  if (target === null || target.operation.kind !== "withdrawal") return null;
  const payload = target.operation.payload;
  if (
    typeof payload !== "object" ||
    payload === null ||
    !("chain" in payload) ||
    payload.chain !== "ethereum"
  )
    return null;
  const transactions = [
    transactionView(target.operation.id, false, target.operation.state, target.transaction),
    ...target.speedUps.map((s) => transactionView(s.operationId, true, s.state, s.transaction)),
  ];
  const mined = transactions.find((t) => t.state === "confirmed");
  const own = target.speedUps.find((s) => s.operationId === operationId)?.transaction;
  return {
    withdrawalOperationId: target.operation.id,
    viewing,
    transactions,
    confirmed:
      mined?.txid != null
        ? { operationId: mined.operationId, txid: mined.txid, speedUp: mined.speedUp }
        : null,
    proposal:
      viewing === "withdrawal"
        ? await proposal(target, options.mayPropose, options.clients ?? chainClients())
        : {
            possible: false,
            reason: "this is a speed-up: a further one is proposed from the withdrawal's page",
          },
    lines: viewing === "speed-up" && own ? decodedLines(own) : [],
  };
}

async function proposal(
  target: NonNullable<Awaited<ReturnType<typeof readSpeedUpTarget>>>,
  mayPropose: boolean,
  clients: ChainClients,
): Promise<SpeedUpProposal> {
  const standing = speedUpStanding(target, target.operation.id);
  if (!standing.ok) return { possible: false, reason: standing.error.message };
  const { replaces } = standing;
  const least = leastReplacementFees(replaces.fees);
  let max = least.maxFeePerGas;
  let tip = least.maxPriorityFeePerGas;
  let estimate = "unknown: no Ethereum node is configured";
  if (clients.ethereum !== null) {
    try {
      const now = await clients.ethereum.fees();
      const asked = suggestFees(now);
      if (asked.maxPriorityFeePerGas > tip) tip = asked.maxPriorityFeePerGas;
      if (asked.maxFeePerGas > max) max = asked.maxFeePerGas;
      estimate = `base fee ${gwei(now.baseFeePerGas)} gwei, tip ${gwei(now.maxPriorityFeePerGas)} gwei per gas now`;
    } catch (e) {
      estimate = `unknown: the Ethereum node did not answer (${e instanceof Error ? e.message.slice(0, 200) : String(e)})`;
    }
  }
  if (tip > max) max = tip;
  return {
    possible: true,
    mayPropose,
    replaces: { operationId: replaces.operationId, txid: replaces.txid, fees: feeWords(replaces.unsigned) },
    gasLimit: replaces.fees.gasLimit.toString(),
    least: { maxFeePerGas: gwei(least.maxFeePerGas), maxPriorityFeePerGas: gwei(least.maxPriorityFeePerGas) },
    suggested: {
      maxFeePerGas: gwei(max),
      maxPriorityFeePerGas: gwei(tip),
      feeCap: formatUnits(replaces.fees.gasLimit * max, NATIVE_ASSETS.ethereum.decimals),
    },
    estimate,
  };
}

function decodedLines(t: SpeedUpTransaction): { label: string; value: string }[] {
  const decoded = t.decoded;
  if (
    typeof decoded !== "object" ||
    decoded === null ||
    !("lines" in decoded) ||
    !Array.isArray(decoded.lines)
  )
    return [];
  return decoded.lines.flatMap((l: unknown) =>
    typeof l === "object" &&
    l !== null &&
    "label" in l &&
    "value" in l &&
    typeof l.label === "string" &&
    typeof l.value === "string"
      ? [{ label: l.label, value: l.value }]
      : [],
  );
}

/**
 * For the withdrawals list: of the Ethereum withdrawal operations `withdrawalOperationIds` whose nonce a speed-up's
 * replacement took (in a block or confirmed), that replacement's state, hash and confirmations — what the
 * withdrawal's own row, dead, does not say. One query for the page.
 */
export async function minedReplacementsOf(
  db: Db,
  withdrawalOperationIds: readonly string[],
): Promise<Map<string, { state: WithdrawalState; txid: string | null; confirmations: number }>> {
  const out = new Map<string, { state: WithdrawalState; txid: string | null; confirmations: number }>();
  if (withdrawalOperationIds.length === 0) return out;
  const of = sql<string>`${operations.payload}->>'withdrawalOperationId'`;
  const rows = await db
    .select({
      withdrawalOperationId: of,
      state: withdrawals.state,
      txid: withdrawals.txid,
      confirmations: withdrawals.confirmations,
    })
    .from(operations)
    .innerJoin(withdrawals, eq(withdrawals.operationId, operations.id))
    .where(
      and(
        eq(operations.kind, SPEEDUP_KIND),
        inArray(of, [...withdrawalOperationIds]),
        or(eq(withdrawals.state, "confirmed"), isNotNull(withdrawals.block)),
      ),
    );
  for (const r of rows)
    out.set(r.withdrawalOperationId, { state: r.state, txid: r.txid, confirmations: r.confirmations });
  return out;
}
