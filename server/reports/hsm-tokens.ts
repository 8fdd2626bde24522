// What the HSM says for a report, through the public surface server/hsm offers everyone: the tokens' identity
// from the status check (hsmStatus: label, role, state, serial, the primary's manufacturer and model), and what
// each token attests of the inventory's keys (keyAttestations: CKA_LOCAL, CKA_SENSITIVE, CKA_ALWAYS_SENSITIVE,
// CKA_EXTRACTABLE, CKA_NEVER_EXTRACTABLE, CKA_WRAP_WITH_TRUSTED of each key's private half, booleans only, read
// at export time; and whether the token offers a vendor key attestation: SoftHSM offers none). Never a PIN, never
// a key's value.
import "server-only";
import { hsmStatus, type KeyAttestations, keyAttestations } from "@/server/hsm";
import type { HsmTokenIdentity } from "./period";

export async function hsmTokenIdentities(): Promise<HsmTokenIdentity[]> {
  const status = await hsmStatus();
  const primary = status.token;
  return status.tokens.map((t) => ({
    label: t.label,
    role: t.role,
    state: t.state,
    serial: t.serial,
    model: primary !== null && primary.label === t.label ? `${primary.manufacturer}, ${primary.model}` : null,
  }));
}

/** Every configured token's answers about these key references (the server's token set). */
export function hsmKeyAttestations(refs: string[]): Promise<KeyAttestations> {
  return keyAttestations(refs);
}
