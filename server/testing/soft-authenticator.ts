// A software WebAuthn authenticator for tests: one real P-256 credential that answers registration and
// authentication options the way a hardware security key and its browser would, so tests drive our
// ceremonies end to end. It knows nothing of Keyward: it must never import our code or read our database.
import { createHash, generateKeyPairSync, KeyObject, randomBytes, sign } from "node:crypto";
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
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

/** What a token model's factory gave it: an attestation key and its certificate chain (x5c, leaf first, DER). */
export type AttestationIdentity = { key: KeyObject; x5c: Uint8Array[] };

export type SoftAuthenticatorOptions = {
  /** The model's AAGUID, lower-case. */
  aaguid?: string;
  /**
   * `packed` or `none`. `packed` is full attestation (x5c) when an `attestationIdentity` is given, and
   * self-attestation (signed with the credential key, no certificate) without one.
   */
  attestation?: "packed" | "none";
  /** The attestation key and chain, e.g. from `TestAttestationCa.issue()`. */
  attestationIdentity?: AttestationIdentity;
  /** The `credProps.rk` the "browser" reports (undefined: no credProps output, as some browsers do). */
  residentKey?: boolean;
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

const FIDO_GEN_CE_AAGUID = "1.3.6.1.4.1.45724.1.1.4";
const TEST_VALIDITY = {
  notBefore: new Date("2020-01-01T00:00:00Z"),
  notAfter: new Date("2099-12-31T00:00:00Z"),
};
const ECDSA_P256 = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

/**
 * A token vendor's attestation CA made up for a test: a self-signed P-256 root that issues attestation
 * certificates (FIDO packed requirements: OU "Authenticator Attestation", CA false, the AAGUID extension).
 * Valid 2020-2099, so tests may run their ceremonies at any fixed date.
 */
export class TestAttestationCa {
  private constructor(
    private readonly root: x509.X509Certificate,
    private readonly rootKey: CryptoKey,
  ) {}

  static async create(name = "Keyward Test Attestation Root"): Promise<TestAttestationCa> {
    const keys = await crypto.subtle.generateKey(ECDSA_P256, true, ["sign", "verify"]);
    const root = await x509.X509CertificateGenerator.createSelfSigned(
      {
        serialNumber: randomBytes(8).toString("hex"),
        name: `C=SE, O=Keyward Tests, CN=${name}`,
        keys,
        signingAlgorithm: ECDSA_P256,
        ...TEST_VALIDITY,
        extensions: [
          new x509.BasicConstraintsExtension(true, 1, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        ],
      },
      crypto,
    );
    return new TestAttestationCa(root, keys.privateKey);
  }

  /** The root, PEM: what a relying party pins. */
  get pem(): string {
    return this.root.toString("pem");
  }

  /** A fresh attestation key with a certificate for `aaguid` issued by this root: x5c = [leaf]. */
  async issue(aaguid: string): Promise<AttestationIdentity> {
    const keys = await crypto.subtle.generateKey(ECDSA_P256, true, ["sign", "verify"]);
    const aaguidBytes = Buffer.from(aaguid.replaceAll("-", ""), "hex");
    const leaf = await x509.X509CertificateGenerator.create(
      {
        serialNumber: randomBytes(8).toString("hex"),
        subject: "C=SE, O=Keyward Tests, OU=Authenticator Attestation, CN=Soft Token",
        issuer: this.root.subject,
        publicKey: keys.publicKey,
        signingKey: this.rootKey,
        signingAlgorithm: ECDSA_P256,
        ...TEST_VALIDITY,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          // id-fido-gen-ce-aaguid: an OCTET STRING holding the 16 AAGUID bytes.
          new x509.Extension(
            FIDO_GEN_CE_AAGUID,
            false,
            Buffer.concat([Buffer.from([0x04, 0x10]), aaguidBytes]),
          ),
        ],
      },
      crypto,
    );
    return { key: KeyObject.from(keys.privateKey), x5c: [new Uint8Array(leaf.rawData)] };
  }
}

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
  private readonly attestationIdentity: AttestationIdentity | undefined;
  private readonly residentKey: boolean | undefined;
  private readonly userVerification: boolean;
  private readonly origin: string;
  private readonly transports: string[];

  constructor(options: SoftAuthenticatorOptions = {}) {
    const aaguid = (options.aaguid ?? DEFAULT_AAGUID).toLowerCase();
    if (!AAGUID.test(aaguid)) throw new TypeError(`not an AAGUID: ${aaguid}`);
    this.aaguid = aaguid;
    this.attestation = options.attestation ?? "packed";
    this.attestationIdentity = options.attestationIdentity;
    this.residentKey = options.residentKey;
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
    const identity = this.attestationIdentity;
    const attStmt = new Map<string, number | Uint8Array | Uint8Array[]>();
    if (attestation === "packed") {
      attStmt.set("alg", cose.COSEALG.ES256);
      // Full attestation signs with the model's attestation key; self-attestation with the credential's own.
      attStmt.set("sig", this.signature(authData, clientDataJSON, identity?.key));
      if (identity) attStmt.set("x5c", identity.x5c);
    }
    const attestationObject = isoCBOR.encode(
      new Map<string, string | Uint8Array | Map<string, number | Uint8Array | Uint8Array[]>>([
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
      // A browser reports credProps only when asked (options.extensions.credProps).
      clientExtensionResults:
        this.residentKey !== undefined && options.extensions?.credProps
          ? { credProps: { rk: this.residentKey } }
          : {},
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
  private signature(authData: Buffer, clientDataJSON: Buffer, key: KeyObject = this.privateKey): Buffer {
    return sign("sha256", Buffer.concat([authData, sha256(clientDataJSON)]), key);
  }
}

function sha256(data: Buffer): Buffer {
  return createHash("sha256").update(data).digest();
}

function clientData(type: "webauthn.create" | "webauthn.get", challenge: string, origin: string): Buffer {
  return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }), "utf8");
}
