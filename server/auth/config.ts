// WebAuthn settings derived from the validated environment, in one place for every ceremony.
import "server-only";
import { env } from "@/server/env";

export type WebAuthnConfig = {
  rpId: string;
  rpName: string;
  origin: string;
  /** Lower-case AAGUIDs; empty means any authenticator model is accepted. */
  aaguidAllowList: readonly string[];
  challengeTtlMs: number;
};

export function webauthnConfig(): WebAuthnConfig {
  const e = env();
  return {
    rpId: e.rpId,
    rpName: e.rpName,
    origin: e.origin,
    aaguidAllowList: e.aaguidAllowList,
    challengeTtlMs: 5 * 60_000,
  };
}
