// Tests' way to approve an operation: each voter in turn asks for the vote's challenge and answers it with a
// real assertion made by their software token (server/testing/soft-authenticator.ts). Returns the state the
// last vote left the operation in.
import type { Db } from "@/db/client";
import type { WebAuthnConfig } from "@/server/auth/config";
import type { Person } from "@/server/testing/identity-fixtures";
import { beginVote, completeVote } from "../vote";

export async function approveInTurn(
  db: Db,
  config: WebAuthnConfig,
  input: { operationId: string; voters: readonly Person[]; now: Date },
): Promise<string> {
  let state = "";
  for (const who of input.voters) {
    const vote = {
      voter: who.acting,
      operationId: input.operationId,
      decision: "approve" as const,
      now: input.now,
    };
    const begun = await beginVote(db, config, vote);
    const response = who.token.authenticate(begun.options);
    ({ state } = await completeVote(db, config, { ...vote, response }));
  }
  return state;
}
