// The public face of server/hsm: the rest of the server imports from here, never from pkcs11js.
import "server-only";

export { BACKUP_KEK_LABEL, type BackupKek, ensureBackupKek } from "./ceremonies/backup-kek";
export { HSM_REASONS, HsmError, type HsmErrorKind, type HsmErrorReason } from "./pkcs11/errors";
export { type HsmHealth, type HsmMechanisms, hsmHealth } from "./status/health";
export { closeHsm, type HsmConfig, type HsmTarget, type TokenDescription } from "./pkcs11/pkcs11";
export { type Curve, CURVES, type EcdsaCurve, type Exportable } from "./keys/curves";
export { type SharedBackupKek, type SoLogin, shareBackupKek } from "./ceremonies/kek-sharing";
// The key operations themselves (keys.ts, key-backup.ts) take an open session and stay inside server/hsm:
// the worker pool calls them and is what the rest of the server will use. Only their data types leave.
export type { UnwrapKeyOptions } from "./keys/key-backup";
export type { GeneratedKey, GenerateKeyPairOptions, KeyInfo, SupportedMechanisms } from "./keys/keys";
export { ethereumYParity, isLowS, normalizeLowS, verifySignature } from "./keys/signature";
// Several tokens as one: what the rest of the server signs and makes keys with.
export { closeServerTokenSet, serverTokenSet } from "./cluster/server-token-set";
export type { TokenHealth, TokenState } from "./cluster/token-health";
export {
  type CreatedKey,
  createTokenSet,
  type ExecutorFactory,
  HsmTokenSet,
  type Replication,
  type Signed,
  type TokenRole,
  type TokenSetOptions,
  type TokenStatus,
} from "./cluster/token-set";
export { type TokenAttempt, TokenSetError } from "./cluster/token-set-error";
export { type HsmStatus, type HsmTokenView, hsmStatus } from "./status/token-status";
