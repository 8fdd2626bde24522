// The public face of server/hsm: the rest of the server imports from here, never from pkcs11js.
import "server-only";

export { BACKUP_KEK_LABEL, type BackupKek, ensureBackupKek } from "./backup-kek";
export { HSM_REASONS, HsmError, type HsmErrorKind, type HsmErrorReason } from "./errors";
export { type HsmHealth, type HsmMechanisms, hsmHealth } from "./health";
export { closeHsm, type HsmConfig, type HsmTarget, type TokenDescription } from "./pkcs11";
export { soPinFrom } from "./so-pin";
export { type Curve, CURVES, type EcdsaCurve, type Exportable } from "./curves";
export { type SharedBackupKek, type SoLogin, shareBackupKek } from "./kek-sharing";
// The key operations themselves (keys.ts, key-backup.ts) take an open session and stay inside server/hsm:
// the worker pool calls them and is what the rest of the server will use. Only their data types leave.
export type { UnwrapKeyOptions } from "./key-backup";
export type { GeneratedKey, GenerateKeyPairOptions, KeyInfo, SupportedMechanisms } from "./keys";
export { ethereumYParity, isLowS, normalizeLowS, verifySignature } from "./signature";
