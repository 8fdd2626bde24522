"use client";
// Browser side of the WebAuthn ceremonies, with errors turned into words a person can act on.
import { startAuthentication, startRegistration, WebAuthnError } from "@simplewebauthn/browser";
import type {
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
} from "@simplewebauthn/browser";
import { TRPCClientError } from "@trpc/client";
import { signIn } from "next-auth/react";
import { isSignInFailure, SIGN_IN_MESSAGES } from "@/server/auth/refusals";

// Chromium answers NotAllowedError, within a second or two, both when nobody taps and when the token cannot
// verify its holder (no PIN or fingerprint set up, a failed PIN, or a U2F-only key) or cannot keep a resident
// key: name every cause.
const NOT_ALLOWED =
  "Your token did not complete the request: it was cancelled or timed out, or the token could not verify you with a PIN or fingerprint, which Keyward requires, or it cannot keep a passkey (a resident key) for sign-in without a user name. Use a FIDO2 token with a PIN or fingerprint set up, and tap it when asked.";

export function describeError(e: unknown): string {
  if (e instanceof WebAuthnError) {
    switch (e.code) {
      // SimpleWebAuthn passes the browser's NotAllowedError through under this code (its only use).
      case "ERROR_PASSTHROUGH_SEE_CAUSE_PROPERTY":
        return NOT_ALLOWED;
      case "ERROR_CEREMONY_ABORTED":
        return "The request was cancelled.";
      case "ERROR_AUTHENTICATOR_PREVIOUSLY_REGISTERED":
        return "This token is already registered.";
      case "ERROR_AUTHENTICATOR_MISSING_USER_VERIFICATION_SUPPORT":
        return "This token cannot verify you with a PIN or fingerprint, which Keyward requires. Use a token with user verification.";
      case "ERROR_INVALID_DOMAIN":
      case "ERROR_INVALID_RP_ID":
        return "This page's address does not match the console's configured origin (KEYWARD_ORIGIN).";
      default:
        return `The token refused: ${e.message}`;
    }
  }
  if (e instanceof Error && e.name === "NotAllowedError") return NOT_ALLOWED;
  if (e instanceof TRPCClientError) return e.message;
  if (e instanceof Error) return e.message;
  return "Something went wrong. Try again.";
}

export async function createCredential(options: PublicKeyCredentialCreationOptionsJSON) {
  return startRegistration({ optionsJSON: options });
}

/** Has one of the person's current tokens sign a challenge (a step-up), with user verification. */
export async function getAssertion(options: PublicKeyCredentialRequestOptionsJSON) {
  return startAuthentication({ optionsJSON: options });
}

/** Asks for a sign-in challenge, has the token sign it, and hands the assertion to next-auth. */
export async function signInWithToken(getOptions: () => Promise<PublicKeyCredentialRequestOptionsJSON>) {
  const options = await getOptions();
  const assertion = await startAuthentication({ optionsJSON: options });
  const result = await signIn("webauthn", { response: JSON.stringify(assertion), redirect: false });
  if (result?.error) {
    throw new Error(isSignInFailure(result.code) ? SIGN_IN_MESSAGES[result.code] : "Sign-in was refused. Try again.");
  }
}
