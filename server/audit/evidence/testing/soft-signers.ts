// Voters' tokens for evidence tests that carry a real registration: a SoftAuthenticator registered for the
// memory bundle's relying party (its registration response kept as the bundle stores it), then signing votes.
import { randomBytes } from "node:crypto";
import type { PublicKeyCredentialCreationOptionsJSON } from "@simplewebauthn/server";
import type { SoftAuthenticator } from "@/server/testing/soft-authenticator";
import { bundleAssertionSchema } from "../bundle";
import { RP_ID, type Signer } from "./memory-bundle";

const b64u = (b: Uint8Array) => Buffer.from(b).toString("base64url");

/** Registration options as Keyward's beginRegistration gives them, for the memory bundle's rpId. */
export function creationOptions(): PublicKeyCredentialCreationOptionsJSON {
  return {
    rp: { id: RP_ID, name: "Keyward" },
    user: { id: b64u(randomBytes(32)), name: "voter", displayName: "voter" },
    challenge: b64u(randomBytes(32)),
    pubKeyCredParams: [{ type: "public-key", alg: -7 }],
    excludeCredentials: [],
    attestation: "direct",
  };
}

/** `token` registered now (its real registration response kept), signing the votes it is given. */
export function softSigner(token: SoftAuthenticator): Signer {
  const response = token.register(creationOptions());
  return {
    id: token.credentialId,
    cose: b64u(token.publicKeyCose),
    registration: {
      attestationObject: response.response.attestationObject,
      clientDataJSON: response.response.clientDataJSON,
    },
    assert: (challenge) =>
      bundleAssertionSchema.parse(token.authenticate({ challenge, rpId: RP_ID, allowCredentials: [] })),
  };
}
