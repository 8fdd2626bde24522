// The public face of server/hsm: the rest of the server imports from here, never from pkcs11js.
import "server-only";

export { BACKUP_KEK_LABEL, type BackupKek, ensureBackupKek } from "./backup-kek";
export { HSM_REASONS, HsmError, type HsmErrorKind, type HsmErrorReason } from "./errors";
export { type HsmHealth, type HsmMechanisms, hsmHealth } from "./health";
export { closeHsm, type HsmConfig, type HsmTarget, type TokenDescription } from "./pkcs11";
export { soPinFrom } from "./so-pin";
