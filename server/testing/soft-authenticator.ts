// A software WebAuthn authenticator for tests: one real P-256 credential that answers registration and
// authentication options the way a hardware security key and its browser would, so tests drive our
// ceremonies end to end. It knows nothing of Keyward: it must never import our code or read our database.
import { createHash, generateKeyPairSync, type KeyObject, randomBytes, sign } from "node:crypto";
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from "@simplewebauthn/server";
import { cose, isoCBOR } from "@simplewebauthn/server/helpers";

export const DEFAULT_AAGUID = "01020304-0506-0708-0102-030405060708";
export const DEFAULT_ORIGIN = "http://localhost:3000";

const AAGUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

// Authenticator data flags (WebAuthn §6.1).
const FLAG_UP = 0x01;
const FLAG_UV = 0x04;
const FLAG_AT = 0x40;

export type SoftAuthenticatorOptions = {
  /** The model's AAGUID, lower-case. */
  aaguid?: string;
  /** `packed` self-attestation (signed with the credential key) or `none`. */
  attestation?: "packed" | "none";
  /** Whether the token verifies its holder (PIN or fingerprint). False models a key without user verification. */
  userVerification?: boolean;
  /** The page origin the "browser" reports in clientDataJSON. */
  origin?: string;
  /** The signature counter before the first ceremony. */
  counter?: number;
  transports?: string[];
};

/** What a browser would raise as a DOMException: the authenticator refused the request. */
export class AuthenticatorRefusedError extends Error {
  override name = "AuthenticatorRefusedError";
  constructor(
    readonly domExceptionName: "InvalidStateError" | "NotAllowedError" | "NotSupportedError",
    message: string,
  ) {
    super(message);
  }
}

export type RegistrationOverrides = {
  userVerified?: boolean;
  origin?: string;
  attestation?: "packed" | "none";
};

export type AuthenticationOverrides = {
  /** The counter to report; the token then remembers it. Default: one more than the last. */
  counter?: number;
  userVerified?: boolean;
  /** The user handle to return (base64url); null omits it. Default: the handle it was registered for. */
  userHandle?: string | null;
  origin?: string;
};

export class SoftAuthenticator {
  /** The credential id, base64url. */
  readonly credentialId: string;
  readonly aaguid: string;
  /** The credential public key, COSE-encoded, as it appears in the attested credential data. */
  readonly publicKeyCose: Uint8Array;
  /** The signature counter reported by the last ceremony. */
  counter: number;
  /** The user handle (base64url) from the last registration; returned in assertions. */
  userHandle: string | undefined;

  private readonly privateKey: KeyObject;
  private readonly publicKeySpki: Buffer;
  private readonly attestation: "packed" | "none";
  private readonly userVerification: boolean;
  private readonly origin: string;
  private readonly transports: string[];

  constructor(options: SoftAuthenticatorOptions = {}) {
    const aaguid = (options.aaguid ?? DEFAULT_AAGUID).toLowerCase();
    if (!AAGUID.test(aaguid)) throw new TypeError(`not an AAGUID: ${aaguid}`);
    this.aaguid = aaguid;
    this.attestation = options.attestation ?? "packed";
    this.userVerification = options.userVerification ?? true;
    this.origin = options.origin ?? DEFAULT_ORIGIN;
    this.counter = options.counter ?? 0;
    this.transports = options.transports ?? ["usb"];
    this.credentialId = randomBytes(32).toString("base64url");

    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    this.privateKey = privateKey;
    this.publicKeySpki = publicKey.export({ format: "der", type: "spki" });
    const jwk = publicKey.export({ format: "jwk" });
    if (!jwk.x || !jwk.y) throw new Error("P-256 public key without coordinates");
    const coseKey = new Map<number, number | Uint8Array>([
      [cose.COSEKEYS.kty, cose.COSEKTY.EC2],
      [cose.COSEKEYS.alg, cose.COSEALG.ES256],
      [cose.COSEKEYS.crv, cose.COSECRV.P256],
      [cose.COSEKEYS.x, Buffer.from(jwk.x, "base64url")],
      [cose.COSEKEYS.y, Buffer.from(jwk.y, "base64url")],
    ]);
    this.publicKeyCose = isoCBOR.encode(coseKey);
  }

  /** navigator.credentials.create(): a new credential bound to options.rp.id, attested as configured. */
  register(
    options: PublicKeyCredentialCreationOptionsJSON,
    overrides: RegistrationOverrides = {},
  ): RegistrationResponseJSON {
    if (!options.pubKeyCredParams.some((p) => p.alg === cose.COSEALG.ES256)) {
      throw new AuthenticatorRefusedError("NotSupportedError", "the relying party does not accept ES256");
    }
    if ((options.excludeCredentials ?? []).some((c) => c.id === this.credentialId)) {
      throw new AuthenticatorRefusedError(
        "InvalidStateError",
        "this token is already registered for this account",
      );
    }
    const origin = overrides.origin ?? this.origin;
    const rpId = options.rp.id ?? new URL(origin).hostname;
    const credentialId = Buffer.from(this.credentialId, "base64url");
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(credentialId.length);
    const authData = Buffer.concat([
      this.header(rpId, FLAG_AT | this.flags(overrides.userVerified), this.counter),
      Buffer.from(this.aaguid.replaceAll("-", ""), "hex"),
      idLength,
      credentialId,
      this.publicKeyCose,
    ]);
    const clientDataJSON = clientData("webauthn.create", options.challenge, origin);
    const attestation = overrides.attestation ?? this.attestation;
    const attStmt =
      attestation === "packed"
        ? new Map<string, number | Uint8Array>([
            ["alg", cose.COSEALG.ES256],
            ["sig", this.signature(authData, clientDataJSON)],
          ])
        : new Map<string, number | Uint8Array>();
    const attestationObject = isoCBOR.encode(
      new Map<string, string | Uint8Array | Map<string, number | Uint8Array>>([
        ["fmt", attestation],
        ["attStmt", attStmt],
        ["authData", authData],
      ]),
    );
    this.userHandle = options.user.id;
    return {
      id: this.credentialId,
      rawId: this.credentialId,
      type: "public-key",
      authenticatorAttachment: "cross-platform",
      clientExtensionResults: {},
      response: {
        clientDataJSON: clientDataJSON.toString("base64url"),
        attestationObject: Buffer.from(attestationObject).toString("base64url"),
        authenticatorData: authData.toString("base64url"),
        transports: this.transports,
        publicKeyAlgorithm: cose.COSEALG.ES256,
        publicKey: this.publicKeySpki.toString("base64url"),
      },
    };
  }

  /** navigator.credentials.get(): an ES256 assertion over authData || SHA-256(clientDataJSON), DER-encoded. */
  authenticate(
    options: PublicKeyCredentialRequestOptionsJSON,
    overrides: AuthenticationOverrides = {},
  ): AuthenticationResponseJSON {
    const allowed = options.allowCredentials ?? [];
    if (allowed.length > 0 && !allowed.some((c) => c.id === this.credentialId)) {
      throw new AuthenticatorRefusedError(
        "NotAllowedError",
        "this token holds none of the allowed credentials",
      );
    }
    const origin = overrides.origin ?? this.origin;
    const rpId = options.rpId ?? new URL(origin).hostname;
    const counter = overrides.counter ?? this.counter + 1;
    this.counter = counter;
    const authData = this.header(rpId, this.flags(overrides.userVerified), counter);
    const clientDataJSON = clientData("webauthn.get", options.challenge, origin);
    const userHandle = overrides.userHandle === undefined ? this.userHandle : overrides.userHandle;
    return {
      id: this.credentialId,
      rawId: this.credentialId,
      type: "public-key",
      authenticatorAttachment: "cross-platform",
      clientExtensionResults: {},
      response: {
        clientDataJSON: clientDataJSON.toString("base64url"),
        authenticatorData: authData.toString("base64url"),
        signature: this.signature(authData, clientDataJSON).toString("base64url"),
        ...(userHandle ? { userHandle } : {}),
      },
    };
  }

  private flags(userVerified: boolean | undefined): number {
    return FLAG_UP | ((userVerified ?? this.userVerification) ? FLAG_UV : 0);
  }

  /** rpIdHash (32) || flags (1) || signCount (4, big-endian). */
  private header(rpId: string, flags: number, counter: number): Buffer {
    const signCount = Buffer.alloc(4);
    signCount.writeUInt32BE(counter);
    return Buffer.concat([sha256(Buffer.from(rpId, "utf8")), Buffer.from([flags]), signCount]);
  }

  /** node:crypto signs EC keys as DER (ASN.1 SEQUENCE of r, s), which is what WebAuthn expects for ES256. */
  private signature(authData: Buffer, clientDataJSON: Buffer): Buffer {
    return sign("sha256", Buffer.concat([authData, sha256(clientDataJSON)]), this.privateKey);
  }
}

function sha256(data: Buffer): Buffer {
  return createHash("sha256").update(data).digest();
}

function clientData(type: "webauthn.create" | "webauthn.get", challenge: string, origin: string): Buffer {
  return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }), "utf8");
}
