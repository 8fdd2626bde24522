// What the executor hands the withdrawal kind (ExecuteContext.withdrawals): its execute step bound to the
// database, the chain configuration in use and the chain clients. The HSM signer is passed per call by the kind
// (ExecuteContext.withdrawalSigner), so only the executor ever hands one out.
import "server-only";
import type { Db } from "@/db/client";
import { chainConfig } from "@/server/chains/current";
import { chainClients } from "@/server/chains/registry";
import type { ExecuteResult, WithdrawalSigner } from "@/server/operations/executor/types";
import type { WithdrawalPayload } from "@/server/operations/kinds/withdrawal-schema";
import { executeWithdrawal, type WithdrawalExecuteDeps } from "./execute";
import { executeSpeedUp, type SpeedUpStepInput } from "./speedup-execute";

export type WithdrawalSteps = {
  execute(input: {
    operationId: string;
    payload: WithdrawalPayload;
    signer: WithdrawalSigner;
    /** The execution's time (ExecuteContext.now): the velocity recheck judges the caps at it. */
    now: Date;
  }): Promise<ExecuteResult>;
  /** withdrawal.speedup: the replacement of a stuck Ethereum transaction (server/withdrawals/speedup-execute.ts). */
  speedUp(input: SpeedUpStepInput): Promise<ExecuteResult>;
};

export function withdrawalSteps(
  db: Db,
  options: Partial<Omit<WithdrawalExecuteDeps, "db">> = {},
): WithdrawalSteps {
  const deps: WithdrawalExecuteDeps = {
    db,
    chains: options.chains ?? chainConfig,
    clients: options.clients ?? chainClients,
    ...(options.velocityLock !== undefined ? { velocityLock: options.velocityLock } : {}),
  };
  return {
    execute: (input) => executeWithdrawal(deps, input),
    speedUp: (input) => executeSpeedUp(deps, input),
  };
}
