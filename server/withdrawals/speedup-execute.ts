// A withdrawal.speedup's execute step (the kind in server/operations/kinds/withdrawal-speedup.ts calls it through
// ExecuteContext.withdrawals.speedUp): rebuild the withdrawal's stored original transaction with the approved fees
// and nothing else changed (ethereum.replaceFees: same nonce, recipient, value, calldata, gas limit), refuse unless
// it decodes to exactly the withdrawal's intent within the speed-up's fee cap and differs from the original in its
// two fees only, store it (under the key's nonce lock, nothing of the nonce mined, no later speed-up signed) BEFORE
// the HSM signs, sign it through the withdrawal's signer, assemble, check again, and record it with
// withdrawal.signed on a withdrawals row of its own, which the tracker broadcasts and follows like any other.
// Safe to repeat: a repeat finds the stored replacement; once signed it is the result and nothing is signed again.
import "server-only";
import {
  assemble,
  type CustodyContext,
  checkAgainstIntent,
  decodeUnsigned,
  signingRequests,
} from "@/server/custody";
import { addressOn } from "@/server/custody/addresses";
import { findConfiguredAsset } from "@/server/custody/assets";
import type { WithdrawalIntent } from "@/server/custody/check";
import * as ethereum from "@/server/custody/ethereum";
import type { SignedTransaction } from "@/server/custody/types";
import type { Withdrawal } from "@/db/schema";
import { AppError } from "@/server/errors";
import { StepRefusedError } from "@/server/operations/executor/step-refused";
import type { ExecuteResult, WithdrawalSigner } from "@/server/operations/executor/types";
import { requireSigningAllowed } from "@/server/operations/key-guard";
import type { SpeedUpPayload } from "@/server/operations/kinds/withdrawal-speedup-schema";
import type { WithdrawalExecuteDeps } from "./execute";
import { differencesFromOriginal, type Eip1559Fees, feesOf, leastReplacementFees } from "./speedup-fees";
import { readSpeedUpTarget } from "./speedup-target";
import { recordSigned, storedWithdrawal, storeReplacement } from "./store";
import { requireWithdrawalKey } from "./withdrawal-key";

export type SpeedUpStepInput = {
  operationId: string;
  payload: SpeedUpPayload;
  signer: WithdrawalSigner;
  now: Date;
};

const refused = (why: string) => new StepRefusedError(`${why}, so nothing was signed`);

/** Every reason `unsigned` is not the approved replacement of `original`, in words; empty when it is. */
function replacementProblems(
  original: string,
  unsigned: string,
  input: { fees: Eip1559Fees; intent: WithdrawalIntent; ctx: CustodyContext },
): string[] {
  const check = checkAgainstIntent(decodeUnsigned("ethereum", unsigned, input.ctx), input.intent);
  return [...(check.ok ? [] : check.reasons), ...differencesFromOriginal(original, unsigned, input.fees)];
}

export async function executeSpeedUp(
  deps: WithdrawalExecuteDeps,
  input: SpeedUpStepInput,
): Promise<ExecuteResult> {
  const { payload: p, operationId } = input;
  const { networks, assets } = deps.chains();
  if (String(networks.ethereum.chainId) !== p.network)
    throw refused(`Keyward now runs Ethereum chain id ${networks.ethereum.chainId}, not ${p.network}`);
  if (findConfiguredAsset(assets, "ethereum", p.asset) === undefined)
    throw refused(`${p.asset} is no longer a configured asset on Ethereum`);
  // As a withdrawal: signing allowed and the key usable now, and again under locks in the record.
  await requireSigningAllowed(deps.db);
  const keyCheck = { keyId: p.keyId, chain: "ethereum" as const, destination: p.destination, networks };
  const key = await requireWithdrawalKey(deps.db, keyCheck);
  const from = addressOn(key, "ethereum", networks);
  if (from !== p.from)
    throw refused(`the key's Ethereum address is ${from ?? "none"}, not the approved ${p.from}`);
  const ctx: CustodyContext = { networks, assets, from };
  const intent: WithdrawalIntent = {
    chain: "ethereum",
    network: p.network,
    from,
    asset: p.asset,
    amount: BigInt(p.amount),
    destination: p.destination,
    feeCap: BigInt(p.feeCap),
  };
  const fees: Eip1559Fees = {
    maxFeePerGas: BigInt(p.maxFeePerGas),
    maxPriorityFeePerGas: BigInt(p.maxPriorityFeePerGas),
  };
  const original = await storedWithdrawal(deps.db, p.withdrawalOperationId);
  if (original === null || original.txid !== p.originalTxid || original.nonce !== p.nonce)
    throw refused(
      `the withdrawal's stored transaction is not ${p.originalTxid} with nonce ${p.nonce}, the one this speed-up was approved for`,
    );

  const row =
    (await storedWithdrawal(deps.db, operationId)) ??
    (await build(deps, { operationId, payload: p, original, fees, intent, ctx }));
  if (row.state !== "built") return completed({ operationId, payload: p, row, signed: null, keyCheck });
  // The stored bytes are decoded and compared on every attempt: nothing is signed on trust in a row.
  const problems = replacementProblems(original.unsigned, row.unsigned, { fees, intent, ctx });
  if (problems.length > 0)
    throw refused(`The stored replacement does not do what was approved: ${problems.join("; ")}`);
  const signatures: Uint8Array[] = [];
  for (const request of signingRequests("ethereum", row.unsigned, ctx)) {
    const { signature } = await input.signer.sign(key.hsmRef, request.data);
    signatures.push(signature);
  }
  const signed = assemble("ethereum", row.unsigned, signatures, {
    publicKey: key.publicKey,
    networks,
    assets,
  });
  const check = checkAgainstIntent(signed.decoded, intent);
  if (!check.ok)
    throw refused(`The signed replacement does not do what was approved: ${check.reasons.join("; ")}`);
  return completed({ operationId, payload: p, row, signed, keyCheck });
}

function completed(input: {
  operationId: string;
  payload: SpeedUpPayload;
  row: Withdrawal;
  signed: SignedTransaction | null;
  keyCheck: Omit<Parameters<typeof requireWithdrawalKey>[1], "lock">;
}): ExecuteResult {
  const { row, signed, payload: p } = input;
  return {
    result: {
      withdrawalId: row.id,
      withdrawalOperationId: p.withdrawalOperationId,
      replaces: p.replaces.txid,
      chain: "ethereum",
      network: row.network,
      txid: signed?.txid ?? row.txid ?? "",
      nonce: p.nonce,
    },
    record: async (tx, _op, at) => {
      // Lock order as the withdrawal's: freeze lock, then the key row.
      await requireSigningAllowed(tx, { lock: true });
      await requireWithdrawalKey(tx, { ...input.keyCheck, lock: true });
      if (signed !== null)
        await recordSigned(tx, { operationId: input.operationId, withdrawalId: row.id, signed }, at);
    },
  };
}

async function build(
  deps: WithdrawalExecuteDeps,
  input: {
    operationId: string;
    payload: SpeedUpPayload;
    original: Withdrawal;
    fees: Eip1559Fees;
    intent: WithdrawalIntent;
    ctx: CustodyContext;
  },
): Promise<Withdrawal> {
  const { payload: p, original, fees } = input;
  const least = leastReplacementFees({
    maxFeePerGas: BigInt(p.replaces.maxFeePerGas),
    maxPriorityFeePerGas: BigInt(p.replaces.maxPriorityFeePerGas),
  });
  if (fees.maxFeePerGas < least.maxFeePerGas || fees.maxPriorityFeePerGas < least.maxPriorityFeePerGas)
    throw refused(
      `the fees are not ${ethereum.REPLACEMENT_BUMP_PERCENT}% above those of ${p.replaces.txid}, which nodes require of a replacement`,
    );
  // The node first: a nonce already mined cannot be replaced, and signing for it would only make noise.
  const client = deps.clients().ethereum;
  if (client !== null) {
    const mined = await client.minedNonce(p.from);
    if (mined > Number(p.nonce))
      throw refused(
        `nonce ${p.nonce} of ${p.from} is already used on chain (${mined} transactions mined): the withdrawal or an earlier replacement was mined`,
      );
  }
  let unsigned: string;
  try {
    unsigned = ethereum.replaceFees(original.unsigned, fees);
  } catch (e) {
    if (e instanceof AppError) throw refused(`the replacement cannot be built: ${e.message}`);
    throw e;
  }
  const problems = replacementProblems(original.unsigned, unsigned, input);
  if (problems.length > 0)
    throw refused(`The replacement built does not do what was approved: ${problems.join("; ")}`);
  return storeReplacement(
    deps.db,
    {
      operationId: input.operationId,
      chain: "ethereum",
      network: p.network,
      keyId: p.keyId,
      asset: p.asset,
      chainId: Number(p.network),
    },
    {
      built: { unsigned, decoded: decodeUnsigned("ethereum", unsigned, input.ctx), nonce: p.nonce },
      recheck: async (tx) => {
        const target = await readSpeedUpTarget(tx, p.withdrawalOperationId);
        const own = target?.transaction ?? null;
        if (own === null) throw refused("the withdrawal has no transaction any more");
        const family = [
          { operationId: p.withdrawalOperationId, transaction: own },
          ...(target?.speedUps ?? []).filter((s) => s.operationId !== input.operationId),
        ];
        for (const { operationId, transaction: t } of family) {
          if (t === null) continue;
          if (t.state === "confirmed" || t.state === "failed" || t.block !== null || t.confirmations > 0)
            throw refused(
              `the transaction ${t.txid ?? ""} of ${operationId} with this nonce was mined already`,
            );
          if (t.state === "dead" && operationId === p.withdrawalOperationId)
            throw refused(`the withdrawal's transaction is dead (${t.reason ?? "its nonce was used"})`);
        }
        const replaced = family.find((f) => f.operationId === p.replaces.operationId)?.transaction;
        if (replaced?.txid !== p.replaces.txid)
          throw refused(`the transaction it replaces, ${p.replaces.txid}, is not stored as approved`);
        for (const { operationId, transaction: t } of family) {
          if (t === null || operationId === p.replaces.operationId) continue;
          if (t.state !== "signed" && t.state !== "broadcast") continue;
          if (feesOf(t.unsigned).maxFeePerGas >= BigInt(p.replaces.maxFeePerGas))
            throw refused(
              `the speed-up ${operationId} (${t.txid ?? ""}) was signed after this one was proposed; propose a speed-up of it instead`,
            );
        }
      },
    },
  );
}
