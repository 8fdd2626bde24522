// The HSM tokens' identity for a report, from the status check server/hsm exposes to everyone (hsmStatus): label,
// role, state, serial, and the primary's manufacturer and model. Never a PIN; never the keys' attributes (the
// app has no read-only path to CKA_* flags).
import "server-only";
import { hsmStatus } from "@/server/hsm";
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
