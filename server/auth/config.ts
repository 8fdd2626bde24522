// WebAuthn settings derived from the validated environment, in one place for every ceremony.
import "server-only";
import type { X509Certificate } from "node:crypto";
import { env } from "@/server/env";

export type WebAuthnConfig = {
  rpId: string;
  rpName: string;
  origin: string;
  /** Lower-case AAGUIDs; empty means any authenticator model is accepted. */
  aaguidAllowList: readonly string[];
  /** Roots an attestation chain must reach when the allow-list is set (empty: every such token is refused). */
  attestationRoots: readonly X509Certificate[];
  challengeTtlMs: number;
};

export function webauthnConfig(): WebAuthnConfig {
  const e = env();
  return {
    rpId: e.rpId,
    rpName: e.rpName,
    origin: e.origin,
    aaguidAllowList: e.aaguidAllowList,
    attestationRoots: e.attestationRoots,
    challengeTtlMs: 5 * 60_000,
  };
}
