// The public face of server/hsm, for everyone: the status page's view of the HSM tokens, what each token attests
// of keys' exposure (booleans only, for the period report), shutdown, and the error and data types those need. Signing and key custody go through ./signer (the operation executor and
// the audit checkpointer only); the security officer's ceremonies through ./ceremonies (scripts/ only).
// boundary.test.ts enforces who may import what.
import "server-only";

export { closeServerTokenSet } from "./cluster/server-token-set";
export type { TokenHealth, TokenState } from "./cluster/token-health";
export type { TokenRole } from "./cluster/token-member";
export { type TokenAttempt, TokenSetError } from "./cluster/token-set-error";
export { type Curve, CURVES, type EcdsaCurve, type Exportable } from "./keys/curves";
export { HSM_REASONS, HsmError, type HsmErrorKind, type HsmErrorReason } from "./pkcs11/errors";
export { closeHsm, type HsmTarget, type TokenDescription } from "./pkcs11/pkcs11";
export type { HsmHealth, HsmMechanisms } from "./status/health";
export {
  type AttestingToken,
  FLAG_CHUNK,
  type KeyAttestations,
  keyAttestations,
  type KeyFlags,
  type KeyFlagsOnToken,
} from "./status/key-attestation";
export {
  type HolderState,
  type KeyHolder,
  type KeyPresence,
  keyPresence,
  type RecordedKey,
} from "./status/key-presence";
export { type HsmStatus, type HsmTokenView, hsmStatus } from "./status/token-status";
export {
  checkUnwrapGuards,
  isSoftHsmLibrary,
  lastUnwrapGuards,
  type UnwrapGuardView,
  unwrapGuardLine,
} from "./status/unwrap-guards";
