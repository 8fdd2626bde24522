// zod schemas for what browsers send back from WebAuthn ceremonies and for identity inputs.
// Shared by the forms (client) and the procedures (server): one source for every input type.
import { z } from "zod";
import { ROLES } from "@/db/schema/members";

const b64url = z
  .string()
  .min(1)
  .max(16_384)
  .regex(/^[A-Za-z0-9_-]+$/, "must be base64url");

/** A WebAuthn credential id is at most 1023 bytes (WebAuthn §5.8.3): 1364 characters of base64url. */
export const CREDENTIAL_ID_MAX = 1364;
const credentialId = b64url.max(CREDENTIAL_ID_MAX, "a credential id has at most 1023 bytes");

const transports = z.array(z.string().max(32)).max(10);

// Extension outputs are not used by Keyward beyond credProps; other keys are stripped.
const extensionOutputs = z.object({ credProps: z.object({ rk: z.boolean().optional() }).optional() });

export const registrationResponseSchema = z.object({
  id: credentialId,
  rawId: credentialId,
  type: z.literal("public-key"),
  authenticatorAttachment: z.enum(["platform", "cross-platform"]).optional(),
  clientExtensionResults: extensionOutputs,
  response: z.object({
    clientDataJSON: b64url,
    attestationObject: b64url,
    authenticatorData: b64url.optional(),
    transports: transports.optional(),
    publicKeyAlgorithm: z.number().int().optional(),
    publicKey: b64url.optional(),
  }),
});

export const authenticationResponseSchema = z.object({
  id: credentialId,
  rawId: credentialId,
  type: z.literal("public-key"),
  authenticatorAttachment: z.enum(["platform", "cross-platform"]).optional(),
  clientExtensionResults: extensionOutputs,
  response: z.object({
    clientDataJSON: b64url,
    authenticatorData: b64url,
    signature: b64url,
    userHandle: b64url.optional(),
  }),
});

export type RegistrationResponse = z.infer<typeof registrationResponseSchema>;
export type AuthenticationResponse = z.infer<typeof authenticationResponseSchema>;

/** Roles are defined once, in db/schema/members.ts. */
export const roleSchema = z.enum(ROLES);

export const personNameSchema = z
  .string()
  .trim()
  .min(2, "Name must have at least 2 characters")
  .max(80, "Name must have at most 80 characters");

export const groupNameSchema = z
  .string()
  .trim()
  .min(2, "Group names have 2 to 40 characters")
  .max(40, "Group names have 2 to 40 characters")
  .regex(/^[a-z0-9][a-z0-9-]*$/, "Group names use lower-case letters, digits and dashes, e.g. treasury");

export const tokenNicknameSchema = z
  .string()
  .trim()
  .min(1, "Give the token a name, e.g. 'YubiKey 5C blue'")
  .max(60, "Token names have at most 60 characters");

export const rolesSchema = z
  .array(roleSchema)
  .min(1, "Choose at least one role")
  .transform((r) => [...new Set(r)]);

export const groupsSchema = z
  .array(groupNameSchema)
  .max(20)
  .transform((g) => [...new Set(g)]);

export const setupCodeSchema = z
  .string()
  .trim()
  .toUpperCase()
  .transform((s) => s.replace(/[\s-]/g, ""))
  .pipe(
    z.string().regex(/^[0-9A-Z]{16}$/, "The setup code has 16 letters and digits, as printed by npm start"),
  );

export const invitationSecretSchema = z
  .string()
  .min(20)
  .max(100)
  .regex(/^[A-Za-z0-9_-]+$/, "This invitation link is malformed");
