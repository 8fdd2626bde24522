// The two hashes votes are bound to (ARCHITECTURE.md, "A withdrawal, end to end", step 3). Both are SHA-256 of
// RFC 8785 canonical JSON, so anyone holding the stored operation, vote and token public key can recompute them.
import { createHash } from "node:crypto";
import canonicalize from "canonicalize";
import type { SystemInitiator } from "@/db/schema/operations";
import { digestInitiator } from "./initiator";

export type DigestInput = {
  id: string;
  kind: string;
  payload: unknown;
  /** Null for an operation the system proposed: `systemInitiator` names it, digested as "system:<name>". */
  initiatorId: string | null;
  systemInitiator?: SystemInitiator | null;
  /** Set for an operation a service account proposed: digested as "service:<id>". */
  serviceAccountId?: string | null;
  createdAt: Date;
  expiresAt: Date;
  policyVersion: number;
  ruleId: string;
};

function sha256OfCanonical(value: unknown): Buffer {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError("cannot canonicalise this value");
  return createHash("sha256").update(text, "utf8").digest();
}

/**
 * SHA-256 hex of everything an approver approves: kind, payload, initiator, created and expiry times, the policy
 * version and rule it was judged under, and the operation's id (so two identical proposals made in the same
 * millisecond are still two operations with two digests, and a vote for one cannot count for the other).
 */
export function operationDigest(op: DigestInput): string {
  return sha256OfCanonical({
    v: 1,
    id: op.id,
    kind: op.kind,
    payload: op.payload,
    initiator: digestInitiator(op),
    createdAt: op.createdAt.toISOString(),
    expiresAt: op.expiresAt.toISOString(),
    policyVersion: op.policyVersion,
    ruleId: op.ruleId,
  }).toString("hex");
}

/**
 * The 32 bytes a voter's token signs: SHA-256(JCS({ v: 1, op: digest, decision, voter, nonce })). The decision
 * is approve, reject, or veto (only during a delay, by the rule's veto group): a tap for one is never another.
 */
export function voteChallengeBytes(input: {
  digest: string;
  decision: "approve" | "reject" | "veto";
  voterId: string;
  nonce: string;
}): Uint8Array<ArrayBuffer> {
  return new Uint8Array(
    sha256OfCanonical({
      v: 1,
      op: input.digest,
      decision: input.decision,
      voter: input.voterId,
      nonce: input.nonce,
    }),
  );
}

/** The vote challenge as WebAuthn carries it (base64url of voteChallengeBytes). */
export function voteChallenge(input: Parameters<typeof voteChallengeBytes>[0]): string {
  return Buffer.from(voteChallengeBytes(input)).toString("base64url");
}
