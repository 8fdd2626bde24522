// The evidence bundle "keyward-evidence/v2" (and v1, still read): everything a regulator needs to check a period of the audit log,
// its checkpoints and its votes offline, with nothing but the published audit verifier key. One zod schema,
// shared by the export (server side) and the verifier (CLI, browser). Pure: no Node built-ins.
// Encodings: Merkle hashes and proofs in standard base64 (as the checkpoints write roots), chain hashes in hex
// (as audit_events stores them), WebAuthn fields in base64url (as the browser gives them), times ISO 8601 UTC.
import { z } from "zod";

/** What the export writes. v2: one range proof for all the period's events instead of one proof per event. */
export const BUNDLE_FORMAT = "keyward-evidence/v2";
/** Bundles exported before v2: each event with its own inclusion proof; still verified. */
export const BUNDLE_FORMAT_V1 = "keyward-evidence/v1";

const size = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const seq = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const b64 = z.string().max(100);
const hex64 = z.string().regex(/^[0-9a-f]{64}$/);
const b64url = z.string().regex(/^[A-Za-z0-9_-]*$/);
const text = z.string().max(100_000);

export const bundleCheckpointSchema = z.object({
  size,
  /** The C2SP signed note exactly as the HSM-signed checkpoint was stored. */
  note: z.string().max(1_000_000),
});

export const bundleConsistencySchema = z.object({
  from: size,
  to: size,
  /** RFC 9162 consistency proof from the tree of `from` leaves to that of `to`. */
  proof: z.array(b64).max(128),
});

/** An event of a v2 bundle's `events`: its content and chain hashes; the range proof proves them all. */
export const bundleEventContentSchema = z.object({
  seq,
  at: z.string().max(40),
  actor: text,
  action: text,
  subject: text,
  data: z.unknown(),
  prevHash: hex64,
  hash: hex64,
});

/** An event with its own proof: every event of a v1 bundle, and the edges of both versions. */
export const bundleEventSchema = bundleEventContentSchema.extend({
  /** RFC 9162 inclusion proof of leaf seq - 1 in the tree of `size` leaves (a checkpoint of the bundle). */
  inclusion: z.object({ size, proof: z.array(b64).max(128) }),
});

/**
 * v2: that the events are the leaves first.seq - 1 .. last.seq - 1 of the tree of `size` (a checkpoint of the
 * bundle), all at once: `left`, the perfect subtrees of leaves [0, first.seq - 1) (that tree's frontier), and
 * `right`, the aligned perfect subtrees of [last.seq, size), each largest first (log/merkle.ts rangeProofPlan).
 * The verifier appends each event's leaf to `left` as it reads it, then `right`, and folds to the root.
 */
export const bundleRangeProofSchema = z.object({
  size,
  left: z.array(b64).max(64),
  right: z.array(b64).max(64),
});

export const bundleOperationSchema = z.object({
  id: z.string().max(64),
  kind: text,
  payload: z.unknown(),
  initiatorId: z.string().max(64).nullable(),
  systemInitiator: z.string().max(64).nullable(),
  serviceAccountId: z.string().max(64).nullable(),
  createdAt: z.string().max(40),
  expiresAt: z.string().max(40),
  policyVersion: z.number().int(),
  ruleId: text,
  /** operationDigest as stored: recomputed by the verifier from the fields above. */
  digest: hex64,
  state: text,
});

export const bundleAssertionSchema = z.looseObject({
  id: b64url,
  rawId: b64url,
  type: z.literal("public-key"),
  response: z.looseObject({
    authenticatorData: b64url,
    clientDataJSON: b64url,
    signature: b64url,
    userHandle: b64url.optional(),
  }),
});

export const bundleRegistrationSchema = z.object({
  attestationObject: b64url.max(100_000),
  clientDataJSON: b64url.max(10_000),
});

export const bundleVoteSchema = z.object({
  id: z.string().max(64),
  operationId: z.string().max(64),
  voterId: z.string().max(64),
  decision: z.enum(["approve", "reject", "veto"]),
  nonce: z.string().max(200),
  /** base64url of SHA-256(JCS({ v: 1, op: digest, decision, voter, nonce })). */
  challenge: b64url,
  castAt: z.string().max(40),
  /** The whole AuthenticationResponseJSON the voter's token signed. */
  assertion: bundleAssertionSchema,
  /** The token the assertion names: its owner and its COSE public key as registered (base64url). */
  credential: z.object({
    id: b64url,
    memberId: z.string().max(64),
    publicKey: b64url,
    /**
     * The token's registration response as stored (base64url): its attestationObject, whose authData attests
     * this id and key, and the clientDataJSON it signed over. null: not recorded (registered before Keyward kept
     * it); absent in bundles exported before the field existed, read as null.
     */
    registration: bundleRegistrationSchema.nullable().optional(),
  }),
});

export const bundlePolicySchema = z.object({
  version: z.number().int(),
  /** policyDigest: SHA-256 hex of the document's RFC 8785 canonical JSON. */
  digest: hex64,
  document: z.unknown(),
  createdAt: z.string().max(40),
});

const bundleFields = {
  generatedAt: z.string().max(40),
  period: z.object({ from: z.string().max(40), to: z.string().max(40) }),
  log: z.object({
    /** The log's origin: every checkpoint's first line and the audit key's name. */
    origin: text,
    /** The audit key as a C2SP verifier key "<name>+<key id>+<base64(0x01 ‖ Ed25519 key)>". */
    verifierKey: text,
  }),
  /** Ascending: the last checkpoint before the period's first event, …, the first one holding its last. */
  checkpoints: z.array(bundleCheckpointSchema),
  /** One per pair of consecutive checkpoints. */
  consistency: z.array(bundleConsistencySchema),
  /**
   * Consistency proofs from older checkpoints a reader said they kept (export's `kept` sizes) to the bundle's
   * first checkpoint: so a checkpoint from long before the period can still be checked. Usually empty.
   */
  keptConsistency: z.array(bundleConsistencySchema).max(100),
  /** The period's events in seq order (v1: each with its inclusion proof to the bundle's newest checkpoint). */
  events: z.array(bundleEventSchema),
  /**
   * The events just outside the period, with their inclusion proofs: `before` (seq first - 1, at before `from`)
   * and `after` (seq last + 1, after `to`), so the period's first and last events are shown not to have been
   * cut. `before` is null only when the period starts at event 1; `after` only when the newest checkpoint
   * ends with the period's last event (nothing was logged after it when it was signed).
   */
  edges: z.object({ before: bundleEventSchema.nullable(), after: bundleEventSchema.nullable() }),
  /**
   * The event that introduced each voter token (token.registered or token.added, normally one a token), wherever
   * it lies in the log, with its inclusion proof to the bundle's newest checkpoint: the digests it records bind
   * the credential key and registration the votes carry to the log, and its time is the registration time the
   * attestation certificates are judged at. Absent in bundles exported before the field (the period's own
   * events are then the only ones looked at).
   */
  registrationEvents: z.array(bundleEventSchema).optional(),
  /** The relying party the votes' tokens were asked for (rpId hashed into authenticatorData; page origins). */
  webauthn: z.object({ rpId: text, origins: z.array(text).min(1) }),
  operations: z.array(bundleOperationSchema),
  votes: z.array(bundleVoteSchema),
  /** Policy versions in force during the period and those the bundle's operations were judged under. */
  policies: z.array(bundlePolicySchema),
};

export const bundleV1Schema = z.object({ format: z.literal(BUNDLE_FORMAT_V1), ...bundleFields });

export const bundleV2Schema = z.object({
  format: z.literal(BUNDLE_FORMAT),
  ...bundleFields,
  /** The range proof of every event of the period to the bundle's newest checkpoint; null when there is none. */
  inclusion: bundleRangeProofSchema.nullable(),
  events: z.array(bundleEventContentSchema),
});

/** Either version, told apart by `format`. */
export const bundleSchema = z.discriminatedUnion("format", [bundleV2Schema, bundleV1Schema]);

/** What the export writes (v2). */
export type Bundle = z.infer<typeof bundleV2Schema>;
export type BundleV1 = z.infer<typeof bundleV1Schema>;
export type AnyBundle = Bundle | BundleV1;
/** An event with its own inclusion proof (v1 events, edges). */
export type BundleEvent = z.infer<typeof bundleEventSchema>;
export type BundleEventContent = z.infer<typeof bundleEventContentSchema>;
export type BundleVote = z.infer<typeof bundleVoteSchema>;
export type BundleOperation = z.infer<typeof bundleOperationSchema>;
export type BundleRegistration = z.infer<typeof bundleRegistrationSchema>;
