// Tests' evidence bundles built in memory: a log of events chained and hashed as Keyward does (chain.ts),
// its RFC 9162 tree (log/merkle.ts), checkpoints signed as C2SP notes by a noble Ed25519 key (log/note.ts), and
// votes signed by a noble P-256 "token" over the real challenge (operations/digest.ts). Nothing here is used
// by the verifier: it is the honest exporter the tamper tests start from.
import { ed25519 } from "@noble/curves/ed25519";
import { p256 } from "@noble/curves/p256";
import { sha256 } from "@noble/hashes/sha2";
import { isoCBOR } from "@simplewebauthn/server/helpers";
import canonicalize from "canonicalize";
import { entryHash, GENESIS_HASH } from "../../chain";
import {
  appendLeaves,
  consistencyProof,
  foldRange,
  inclusionProofPlan,
  rangeProofPlan,
  rootOf,
} from "../../log/merkle";
import {
  base64Encode,
  type Checkpoint,
  ED25519_TYPE,
  formatCheckpoint,
  keyId,
  signedNote,
  verifierKey,
} from "../../log/note";
import { operationDigest, voteChallenge } from "../../../operations/digest";
import {
  BUNDLE_FORMAT,
  BUNDLE_FORMAT_V1,
  type Bundle,
  type BundleEvent,
  type BundleV1,
  type BundleOperation,
  type BundleVote,
} from "../bundle";
import { eventLeafOf } from "../entry";
import { base64urlEncode } from "../vote-check";

export const ORIGIN = "keyward.test/audit";
export const RP_ID = "localhost";
export const PAGE_ORIGIN = "http://localhost:3000";
const utf8 = new TextEncoder();

export type SigningKey = { name: string; secret: Uint8Array; publicKey: Uint8Array; vkey: string };

export function auditSigningKey(name = ORIGIN, seed?: Uint8Array): SigningKey {
  const secret = seed ?? ed25519.utils.randomPrivateKey();
  const publicKey = ed25519.getPublicKey(secret);
  return { name, secret, publicKey, vkey: verifierKey(name, publicKey) };
}

export function signCheckpointNote(
  key: SigningKey,
  c: Omit<Checkpoint, "origin"> & { origin?: string },
): string {
  const text = formatCheckpoint({ origin: c.origin ?? ORIGIN, ...c });
  const signature = ed25519.sign(utf8.encode(text), key.secret);
  return signedNote(text, [
    { name: key.name, keyId: keyId(key.name, ED25519_TYPE, key.publicKey), signature },
  ]);
}

export type Token = { id: string; memberId: string; secret: Uint8Array; cose: string };

export function softToken(memberId: string): Token {
  const secret = p256.utils.randomPrivateKey();
  const point = p256.getPublicKey(secret, false);
  const cose = new Map<number, number | Uint8Array>([
    [1, 2],
    [3, -7],
    [-1, 1],
    [-2, point.slice(1, 33)],
    [-3, point.slice(33, 65)],
  ]);
  return {
    id: base64urlEncode(sha256(point).slice(0, 16)),
    memberId,
    secret,
    cose: base64urlEncode(isoCBOR.encode(cose)),
  };
}

/** A WebAuthn assertion over `challenge` as a browser and security key give it (UP and UV set). */
export function assertion(token: Token, challenge: string, o: { flags?: number; origin?: string } = {}) {
  const authData = new Uint8Array([...sha256(utf8.encode(RP_ID)), o.flags ?? 0x05, 0, 0, 0, 7]);
  const clientDataJSON = utf8.encode(
    JSON.stringify({ type: "webauthn.get", challenge, origin: o.origin ?? PAGE_ORIGIN, crossOrigin: false }),
  );
  const signature = p256
    .sign(sha256(new Uint8Array([...authData, ...sha256(clientDataJSON)])), token.secret)
    .toBytes("der");
  return {
    id: token.id,
    rawId: token.id,
    type: "public-key" as const,
    response: {
      authenticatorData: base64urlEncode(authData),
      clientDataJSON: base64urlEncode(clientDataJSON),
      signature: base64urlEncode(signature),
    },
    clientExtensionResults: {},
  };
}

/**
 * What signs a voter's votes: by default a noble P-256 `softToken` with no registration recorded; tests give
 * others (a SoftAuthenticator with its real registration, an RS256 key).
 */
export type Signer = {
  id: string;
  /** COSE public key, base64url. */
  cose: string;
  registration?: BundleVote["credential"]["registration"];
  assert: (challenge: string) => BundleVote["assertion"];
};

export function tokenSigner(token: Token): Signer {
  return {
    id: token.id,
    cose: token.cose,
    registration: null,
    assert: (challenge) => assertion(token, challenge),
  };
}

const hexSha256 = (base64url: string) =>
  Buffer.from(sha256(Buffer.from(base64url, "base64url"))).toString("hex");

/** What Keyward's token.registered records of the token's key and registration (server/auth/registration.ts). */
export function registrationDigests(credential: BundleVote["credential"]) {
  const registration = credential.registration ?? null;
  return {
    publicKeyDigest: hexSha256(credential.publicKey),
    ...(registration === null
      ? {}
      : {
          attestationObjectDigest: hexSha256(registration.attestationObject),
          clientDataDigest: hexSha256(registration.clientDataJSON),
        }),
  };
}

export type MemoryLog = {
  key: SigningKey;
  events: BundleEvent[];
  leaves: Uint8Array[];
  /** keyward-evidence/v2, as the export writes it. */
  bundle: Bundle;
  /** The same period as a keyward-evidence/v1 bundle (each event with its own proof), built when asked. */
  bundleV1: () => BundleV1;
  tokens: Token[];
};

const period0 = (fromSeq: number, toSeq: number) => toSeq < fromSeq;
const T0 = Date.parse("2026-10-01T00:00:00.000Z");
const uuid = (n: number) => `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;

/**
 * A log of `size` events (an operation proposed at event 5, approved by two voters at events 6 and 7, the rest
 * sign-ins), checkpoints at `checkpointSizes`, and the bundle of events `fromSeq`..`toSeq` proved to the
 * first checkpoint at or after `toSeq`.
 */
export function memoryLog(o: {
  size: number;
  checkpointSizes: number[];
  fromSeq: number;
  toSeq: number;
  key?: SigningKey;
  /** Another history from this event on: its data (and so every hash and checkpoint after it) differs. */
  rewriteFrom?: number;
  /** The two voters' signers (default: noble P-256 tokens, registration not recorded). */
  signers?: (voterId: string, i: number) => Signer;
  /**
   * The seq of each voter's token.registered event (a seq other than 5-7: that event, at T0 + seq s, replaces
   * the sign-in), as Keyward logs a token's registration; default none (registered before the log's events).
   */
  registeredSeqs?: number[];
  /** false: those events record no key and registration digests, as Keyward's did before it recorded them. */
  digestsLogged?: boolean;
}): MemoryLog {
  const key = o.key ?? auditSigningKey();
  const initiator = uuid(100);
  const voters = [uuid(101), uuid(102)];
  const tokens = voters.map(softToken);
  const signers = voters.map((voterId, i) => o.signers?.(voterId, i) ?? tokenSigner(tokens[i] as Token));
  const policy = { version: 1, rules: [{ id: "default", quorum: 2 }] };
  const opBase = {
    id: uuid(200),
    kind: "withdrawal",
    payload: { asset: "BTC", amount: "150000", to: "bc1qexample" },
    initiatorId: initiator,
    systemInitiator: null,
    serviceAccountId: null,
    createdAt: new Date(T0 + 4_000),
    expiresAt: new Date(T0 + 86_400_000),
    policyVersion: 1,
    ruleId: "default",
  };
  const digest = operationDigest(opBase);
  const operation: BundleOperation = {
    ...opBase,
    createdAt: opBase.createdAt.toISOString(),
    expiresAt: opBase.expiresAt.toISOString(),
    digest,
    state: "approved",
  };
  const votes: BundleVote[] = voters.map((voterId, i) => {
    const signer = signers[i];
    if (signer === undefined) throw new Error("no signer");
    const nonce = `nonce-${i}`;
    const challenge = voteChallenge({ digest, decision: "approve", voterId, nonce });
    return {
      id: uuid(300 + i),
      operationId: operation.id,
      voterId,
      decision: "approve",
      nonce,
      challenge,
      castAt: new Date(T0 + (6 + i) * 1000).toISOString(),
      assertion: signer.assert(challenge),
      credential: {
        id: signer.id,
        memberId: voterId,
        publicKey: signer.cose,
        registration: signer.registration ?? null,
      },
    };
  });

  const events: BundleEvent[] = [];
  const leaves: Uint8Array[] = [];
  let prevHash = GENESIS_HASH;
  for (let seq = 1; seq <= o.size; seq++) {
    const vote = votes[seq - 6];
    const content =
      seq === 5
        ? {
            action: "operation.proposed",
            actor: `member:${initiator}`,
            subject: `operation:${operation.id}`,
            data: {
              operationId: operation.id,
              kind: operation.kind,
              digest,
              policyVersion: 1,
              ruleId: "default",
              expiresAt: operation.expiresAt,
            },
          }
        : vote !== undefined
          ? {
              action: "vote.cast",
              actor: `member:${vote.voterId}`,
              subject: `operation:${operation.id}`,
              data: {
                operationId: operation.id,
                voteId: vote.id,
                voterId: vote.voterId,
                decision: vote.decision,
                credentialId: vote.credential.id,
              },
            }
          : {
              action: "auth.signed_in",
              actor: `member:${uuid(seq)}`,
              subject: `member:${uuid(seq)}`,
              data: o.rewriteFrom !== undefined && seq >= o.rewriteFrom ? { rewritten: seq } : { n: seq },
            };
    const registered =
      content.action === "auth.signed_in" ? votes[o.registeredSeqs?.indexOf(seq) ?? -1] : undefined;
    const logged =
      registered === undefined
        ? content
        : {
            action: "token.registered",
            actor: `member:${registered.voterId}`,
            subject: `token:${registered.credential.id}`,
            data: {
              memberId: registered.voterId,
              credentialId: registered.credential.id,
              aaguid: "00000000-0000-0000-0000-000000000000",
              attestationFormat: "packed",
              transports: ["usb"],
              ...(o.digestsLogged === false ? {} : registrationDigests(registered.credential)),
            },
          };
    const entry = { seq, at: new Date(T0 + seq * 1000).toISOString(), ...logged };
    const hash = entryHash(prevHash, entry);
    events.push({ ...entry, prevHash, hash, inclusion: { size: 0, proof: [] } });
    leaves.push(eventLeafOf(entry));
    prevHash = hash;
  }
  const notes = o.checkpointSizes.map((size) => ({
    size,
    note: signCheckpointNote(key, {
      size,
      rootHash: rootOf(leaves.slice(0, size)),
      extensions: [`time ${new Date(T0 + size * 1000 + 500).toISOString()}`],
    }),
  }));
  const before = o.checkpointSizes.filter((s) => s < o.fromSeq).at(-1);
  // The first checkpoint holding the event after the period too, when there is one (as export.ts picks it).
  const target = o.checkpointSizes.find((s) => s >= Math.min(o.toSeq + 1, o.size));
  if (target === undefined) throw new Error("no checkpoint covers the period");
  const inBundle = notes.filter((c) => c.size >= (before ?? 0) && c.size <= target);
  const b64 = (hs: Uint8Array[]) => hs.map(base64Encode);
  // Every perfect subtree once, then each proof folded from its plan: O(n log n) for a whole period, where
  // inclusionProof (the RFC's recursion over all leaves) is O(n) a proof. The bench proves 100,000 events.
  const nodes = new Map(
    appendLeaves(0, [], leaves.slice(0, target)).nodes.map((n) => [`${n.level}/${n.index}`, n.hash]),
  );
  const proofOf = (index: number) =>
    inclusionProofPlan(index, target).map((range) =>
      foldRange(range.map((id) => nodes.get(`${id.level}/${id.index}`) as Uint8Array)),
    );
  const proved = (e: BundleEvent): BundleEvent => ({
    ...e,
    inclusion: { size: target, proof: b64(proofOf(e.seq - 1)) },
  });
  const periodEvents = events.slice(o.fromSeq - 1, o.toSeq);
  const nodeOf = (id: { level: number; index: number }) =>
    base64Encode(nodes.get(`${id.level}/${id.index}`) as Uint8Array);
  const plan = period0(o.fromSeq, o.toSeq) ? null : rangeProofPlan(o.fromSeq - 1, o.toSeq, target);
  const period = periodEvents.map(({ inclusion: _, ...content }) => content);
  const edgeBefore = events[o.fromSeq - 2];
  const edgeAfter = o.toSeq < target ? events[o.toSeq] : undefined;
  const periodVoteIds = new Set(
    period.filter((e) => e.action === "vote.cast").map((e) => (e.data as { voteId: string }).voteId),
  );
  // The registration event of each voter token the bundle carries, wherever it lies, with its own proof.
  const voterTokens = new Set(votes.filter((v) => periodVoteIds.has(v.id)).map((v) => v.credential.id));
  const registrationEvents = events
    .filter(
      (e) =>
        e.seq <= target &&
        e.action === "token.registered" &&
        voterTokens.has((e.data as { credentialId: string }).credentialId),
    )
    .map(proved);
  const bundle: Bundle = {
    format: BUNDLE_FORMAT,
    inclusion:
      plan === null ? null : { size: target, left: plan.left.map(nodeOf), right: plan.right.map(nodeOf) },
    generatedAt: new Date(T0 + 10_000_000).toISOString(),
    period: { from: period[0]?.at ?? "", to: period.at(-1)?.at ?? "" },
    log: { origin: ORIGIN, verifierKey: key.vkey },
    checkpoints: inBundle,
    consistency: inBundle.slice(1).map((c, i) => {
      const from = inBundle[i]?.size ?? 0;
      return { from, to: c.size, proof: b64(consistencyProof(leaves, from, c.size)) };
    }),
    keptConsistency: [],
    events: period,
    registrationEvents,
    edges: {
      before: edgeBefore === undefined ? null : proved(edgeBefore),
      after: edgeAfter === undefined ? null : proved(edgeAfter),
    },
    webauthn: { rpId: RP_ID, origins: [PAGE_ORIGIN] },
    operations: periodVoteIds.size > 0 ? [operation] : [],
    votes: votes.filter((v) => periodVoteIds.has(v.id)),
    policies: [
      {
        version: 1,
        digest: Buffer.from(sha256(utf8.encode(canonicalize(policy) ?? ""))).toString("hex"),
        document: policy,
        createdAt: new Date(T0).toISOString(),
      },
    ],
  };
  const bundleV1 = (): BundleV1 => {
    const { inclusion: _, ...rest } = bundle;
    return { ...rest, format: BUNDLE_FORMAT_V1, events: periodEvents.map(proved) };
  };
  return { key, events, leaves, bundle, bundleV1, tokens };
}
