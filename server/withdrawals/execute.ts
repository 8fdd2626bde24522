// A withdrawal's execute step (the kind's execute in server/operations/kinds/withdrawal.ts calls it through
// ExecuteContext.withdrawals): build the final transaction from the approved intent and the chain's data, store it
// (Ethereum: with its nonce, under the key's nonce lock) BEFORE anything is signed, decode the stored bytes back,
// refuse unless they equal the intent (checkAgainstIntent), have the HSM sign what custody/ asks, assemble and
// check the signed transaction again, then record it with withdrawal.signed in the completing transaction.
// Safe to repeat: a repeat (an unknown HSM outcome, a claim taken over, a crash) finds the stored transaction and
// signs exactly it again — same nonce, fees, blockhash, inputs — never a second transaction for the same intent.
// It never signs bytes it did not decode and check; there is no entry that takes bytes to sign from a caller. An
// imported Ethereum or Solana transaction (payload.unsignedTransaction, approved as bytes) is signed as exactly
// those bytes, after the same checks, and only with the key's next nonce / a still valid blockhash
// (build-imported.ts).
import "server-only";
import { eq } from "drizzle-orm";
import type { Db } from "@/db/client";
import { operations } from "@/db/schema";
import type { Withdrawal } from "@/db/schema";
import type { ChainConfig } from "@/server/chains/config";
import type { ChainClients } from "@/server/chains/registry";
import { addressOn } from "@/server/custody/addresses";
import { findConfiguredAsset } from "@/server/custody/assets";
import {
  assemble,
  type CustodyContext,
  checkAgainstIntent,
  decodeUnsigned,
  signingRequests,
} from "@/server/custody";
import type { WithdrawalIntent } from "@/server/custody/check";
import * as ethereum from "@/server/custody/ethereum";
import * as solana from "@/server/custody/solana";
import type { Asset, SignedTransaction } from "@/server/custody/types";
import { StepRefusedError } from "@/server/operations/executor/step-refused";
import type { ExecuteResult, WithdrawalSigner } from "@/server/operations/executor/types";
import { requireSigningAllowed } from "@/server/operations/key-guard";
import type { WithdrawalPayload } from "@/server/operations/kinds/withdrawal-schema";
import { buildImportedEthereum, buildImportedSolana } from "./build-imported";
import { type BuiltTransaction, recordSigned, storeBuilt, storedWithdrawal, storeWithNonce } from "./store";
import { recheckVelocity } from "./velocity-recheck";
import { requireWithdrawalKey } from "./withdrawal-key";

export type WithdrawalExecuteDeps = {
  db: Db;
  chains: () => Pick<ChainConfig, "networks" | "assets">;
  clients: () => ChainClients;
  /** The execution-time velocity re-check (server/withdrawals/velocity-lock.ts), when wired: ExecuteResult.lock. */
  velocityLock?: (
    tx: Parameters<NonNullable<ExecuteResult["lock"]>>[0],
    operationId: string,
  ) => Promise<void>;
};

/** Ethereum without an RPC endpoint: the tip Keyward offers, at most the whole max fee (1.5 gwei). */
const OFFLINE_PRIORITY_FEE = 1_500_000_000n;

export function intentOf(p: WithdrawalPayload): WithdrawalIntent {
  return {
    chain: p.chain,
    network: p.network,
    from: p.from,
    asset: p.asset,
    amount: BigInt(p.amount),
    destination: p.destination,
    feeCap: BigInt(p.feeCap),
  };
}

function refuseUnlessIntent(
  what: string,
  decoded: Parameters<typeof checkAgainstIntent>[0],
  intent: WithdrawalIntent,
) {
  const check = checkAgainstIntent(decoded, intent);
  if (!check.ok) {
    throw new StepRefusedError(
      `${what} does not do what was approved, so nothing was signed: ${check.reasons.join("; ")}`,
    );
  }
}

export async function executeWithdrawal(
  deps: WithdrawalExecuteDeps,
  input: { operationId: string; payload: WithdrawalPayload; signer: WithdrawalSigner; now: Date },
): Promise<ExecuteResult> {
  const { payload: p, operationId } = input;
  const { networks, assets } = deps.chains();
  const asset = findConfiguredAsset(assets, p.chain, p.asset);
  if (asset === undefined)
    throw new StepRefusedError(`${p.asset} is no longer a configured asset on ${p.chain}`);
  // Signing is allowed and the key active now (again under locks in the record): otherwise the operation waits,
  // executing, until the freeze is lifted or the key resumed (key-guard.ts). A key deactivated by a rotation
  // signs only a sweep to its successor (withdrawal-key.ts).
  await requireSigningAllowed(deps.db);
  const keyCheck = { keyId: p.keyId, chain: p.chain, destination: p.destination, networks };
  const key = await requireWithdrawalKey(deps.db, keyCheck);
  const from = addressOn(key, p.chain, networks);
  if (from !== p.from) {
    throw new StepRefusedError(
      `the key's ${p.chain} address is ${from ?? "none"} on the network in use, not the approved ${p.from}`,
    );
  }
  const intent = intentOf(p);
  const ctx: CustodyContext = { networks, assets, from };
  const owner = { operationId, chain: p.chain, network: p.network, keyId: p.keyId, asset: p.asset };

  // Velocity caps judged once more under the velocity locks, with the history as committed now (a cap lowered
  // since the approval): refused before any nonce is taken, so a refusal leaves no gap (velocity-recheck.ts).
  const velocity = await deps.db.transaction(async (tx) => {
    const [op] = await tx.select().from(operations).where(eq(operations.id, operationId));
    if (op === undefined) throw new StepRefusedError(`the operation ${operationId} does not exist`);
    return recheckVelocity(tx, op, input.now);
  });
  if (velocity.refusal !== null) {
    throw new StepRefusedError(
      `the velocity limits no longer allow it, so nothing was signed: ${velocity.refusal}`,
    );
  }
  const row =
    (await storedWithdrawal(deps.db, operationId)) ??
    (await build(deps, { owner, payload: p, asset, ctx, intent }));
  if (row.state !== "built") {
    // Recorded already by an attempt whose completion then failed: the same signed transaction is the result.
    return signedResult(deps, { operationId, row, signed: null, keyCheck });
  }
  // An imported transaction is signed only as the very bytes approved, whatever a row says.
  if (p.unsignedTransaction !== undefined && row.unsigned !== p.unsignedTransaction) {
    throw new StepRefusedError(
      "the stored transaction is not the imported one that was approved, so nothing was signed",
    );
  }
  // The stored bytes are decoded and checked on every attempt: nothing is signed on trust in a row.
  refuseUnlessIntent("The built transaction", decodeUnsigned(p.chain, row.unsigned, ctx), intent);
  const signatures: Uint8Array[] = [];
  for (const request of signingRequests(p.chain, row.unsigned, ctx)) {
    const { signature } = await input.signer.sign(key.hsmRef, request.data);
    signatures.push(signature);
  }
  const signed = assemble(p.chain, row.unsigned, signatures, { publicKey: key.publicKey, networks, assets });
  refuseUnlessIntent("The signed transaction", signed.decoded, intent);
  return signedResult(deps, { operationId, row, signed, keyCheck });
}

function signedResult(
  deps: WithdrawalExecuteDeps,
  input: {
    operationId: string;
    row: Withdrawal;
    signed: SignedTransaction | null;
    keyCheck: Omit<Parameters<typeof requireWithdrawalKey>[1], "lock">;
  },
): ExecuteResult {
  const { row, signed } = input;
  const txid = signed?.txid ?? row.txid ?? "";
  return {
    result: {
      withdrawalId: row.id,
      chain: row.chain,
      network: row.network,
      txid,
      ...(row.nonce !== null ? { nonce: row.nonce } : {}),
    },
    ...(deps.velocityLock !== undefined
      ? { lock: (tx) => deps.velocityLock?.(tx, input.operationId) ?? Promise.resolve() }
      : {}),
    record: async (tx, _op, at) => {
      // Lock order: freeze lock, then the key row (key-guard.ts). A freeze or a suspension that committed while
      // the HSM was signing keeps this signature from being recorded: the repeat then waits for the lift.
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
    owner: {
      operationId: string;
      chain: WithdrawalPayload["chain"];
      network: string;
      keyId: string;
      asset: string;
    };
    payload: WithdrawalPayload;
    asset: Asset;
    ctx: CustodyContext;
    intent: WithdrawalIntent;
  },
): Promise<Withdrawal> {
  const { payload: p, asset, ctx, intent, owner } = input;
  const checked = (built: BuiltTransaction): BuiltTransaction => {
    refuseUnlessIntent("The transaction built", built.decoded, intent);
    return built;
  };
  if (p.unsignedTransaction !== undefined && p.chain !== "bitcoin") {
    const imported = {
      owner,
      unsigned: p.unsignedTransaction,
      from: p.from,
      network: p.network,
      ctx,
      checked,
    };
    return p.chain === "ethereum"
      ? buildImportedEthereum(deps, imported)
      : buildImportedSolana(deps, imported);
  }
  switch (p.chain) {
    case "bitcoin": {
      // The approvers approved these exact bytes: they are the transaction.
      if (p.psbt === undefined) throw new StepRefusedError("a Bitcoin withdrawal without its PSBT");
      return storeBuilt(
        deps.db,
        owner,
        checked({ unsigned: p.psbt, decoded: decodeUnsigned("bitcoin", p.psbt, ctx) }),
      );
    }
    case "solana": {
      const client = deps.clients().solana;
      if (client === null) {
        throw new StepRefusedError(
          "no Solana RPC endpoint is configured (KEYWARD_SOLANA_RPC_URL): a Solana transaction needs a recent blockhash from the chain",
        );
      }
      const { blockhash, lastValidBlockHeight } = await client.latestBlockhash();
      const made = await solana.buildTransfer({
        from: p.from,
        destination: p.destination,
        asset,
        amount: intent.amount,
        blockhash,
        lastValidBlockHeight,
      });
      const decoded = decodeUnsigned("solana", made.unsigned, ctx);
      return storeBuilt(
        deps.db,
        owner,
        checked({
          unsigned: made.unsigned,
          decoded,
          nonce: blockhash,
          lastValidBlockHeight: made.lastValidBlockHeight,
        }),
      );
    }
    case "ethereum": {
      const client = deps.clients().ethereum;
      const chainId = Number(p.network);
      const gasLimit = ethereum.gasLimitFor(asset);
      const capPerGas = intent.feeCap / gasLimit;
      let fees: { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint };
      if (client === null) {
        // No node: offer up to the approved cap, with a modest tip; the node that receives the download decides.
        fees = {
          maxFeePerGas: capPerGas,
          maxPriorityFeePerGas: capPerGas < OFFLINE_PRIORITY_FEE ? capPerGas : OFFLINE_PRIORITY_FEE,
        };
      } else {
        const now = await client.fees();
        const suggested = ethereum.suggestFees(now);
        const needed = now.baseFeePerGas + now.maxPriorityFeePerGas;
        if (capPerGas < needed) {
          throw new StepRefusedError(
            `the fee now (${gasLimit * needed} wei for ${gasLimit} gas) is above the approved cap of ${intent.feeCap} wei; propose the withdrawal again with a higher fee cap`,
          );
        }
        fees = {
          maxFeePerGas: suggested.maxFeePerGas < capPerGas ? suggested.maxFeePerGas : capPerGas,
          maxPriorityFeePerGas: now.maxPriorityFeePerGas,
        };
      }
      return storeWithNonce(
        deps.db,
        { ...owner, chainId },
        {
          chainNonce: client === null ? null : () => client.pendingNonce(p.from),
          build: (nonce) => {
            const unsigned = ethereum.buildTransfer({
              chainId,
              asset,
              amount: intent.amount,
              destination: p.destination,
              nonce,
              gasLimit,
              ...fees,
            });
            return checked({
              unsigned,
              decoded: decodeUnsigned("ethereum", unsigned, ctx),
              nonce: String(nonce),
            });
          },
        },
      );
    }
  }
}
