// Why a token ceremony was refused, as closed unions with one message each. The server throws and audits the
// reason; the browser shows the message for it. Imported by both, so it must stay free of server-only code.

/** Refusals of an assertion by a member's token (sign-in, step-up, votes). */
export const ASSERTION_REFUSALS = [
  // The signature did not verify, or the token is unknown: the same answer, so a credential id alone learns nothing.
  "verification_failed",
  "user_verification_missing",
  "token_revoked",
  "member_suspended",
  "wrong_member",
  "counter_regressed",
] as const;
export type AssertionRefusal = (typeof ASSERTION_REFUSALS)[number];

export const ASSERTION_MESSAGES: Record<AssertionRefusal, string> = {
  verification_failed:
    "Keyward could not verify this token: it is not registered here, or its signature did not check out.",
  user_verification_missing:
    "Your token did not verify you (PIN or fingerprint). Keyward requires user verification.",
  token_revoked: "This token has been revoked. Use another token.",
  member_suspended: "Your membership is suspended. Ask an admin to reactivate it.",
  wrong_member: "This token belongs to someone else. Tap one of your own tokens.",
  counter_regressed:
    "This token's signature counter did not go forward, which suggests a cloned token (or the same tap used twice at once). Refused and recorded; tap again, and contact security if it repeats.",
};

/** Refusals of a sign-in: a stale challenge, a malformed response, or a refused assertion. */
export type SignInFailure = "challenge_invalid" | "bad_input" | Exclude<AssertionRefusal, "wrong_member">;

export const SIGN_IN_MESSAGES: Record<SignInFailure, string> = {
  challenge_invalid: "This sign-in request was already used or has expired. Tap your key again.",
  bad_input: "The token's response was malformed. Try again.",
  verification_failed: ASSERTION_MESSAGES.verification_failed,
  user_verification_missing: ASSERTION_MESSAGES.user_verification_missing,
  token_revoked: ASSERTION_MESSAGES.token_revoked,
  member_suspended: ASSERTION_MESSAGES.member_suspended,
  counter_regressed: ASSERTION_MESSAGES.counter_regressed,
};

export function isSignInFailure(code: string | undefined): code is SignInFailure {
  return code !== undefined && Object.hasOwn(SIGN_IN_MESSAGES, code);
}

/** Refusals of a new token at registration (first-admin setup, invitation, adding a token). */
export const TOKEN_REFUSALS = [
  "attestation_invalid",
  "aaguid_not_allowed",
  "attestation_missing",
  "self_attestation",
  "attestation_root_unknown",
  "user_verification_missing",
  "resident_key_missing",
] as const;
export type TokenRefusal = (typeof TOKEN_REFUSALS)[number];

export const TOKEN_REFUSAL_MESSAGES: Record<TokenRefusal, string> = {
  attestation_invalid: "The token's attestation could not be verified. Try again, or use another token.",
  aaguid_not_allowed:
    "This token model is not on this console's allow-list of approved hardware tokens. Use an approved token or ask an admin to add the model.",
  attestation_missing:
    "This token did not provide an attestation, so its model cannot be checked against the allow-list. Allow the browser to share the token's make and model, or use an approved token.",
  self_attestation:
    "This token vouched for itself (self-attestation) instead of presenting its maker's certificate, so nothing proves it is the approved model it claims to be. Use an approved hardware token.",
  attestation_root_unknown:
    "This token's attestation certificate does not lead to a trusted token maker's root certificate, so it is not accepted as an approved hardware token.",
  user_verification_missing:
    "This token did not verify you (PIN or fingerprint). Keyward requires tokens with user verification: set a PIN on the token and try again.",
  resident_key_missing:
    "This token cannot keep a sign-in key on itself (a discoverable credential, or passkey), which Keyward needs for sign-in without a user name. Use a FIDO2 token with room for another passkey.",
};
