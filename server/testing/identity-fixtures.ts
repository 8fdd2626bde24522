// People for integration tests, made through Keyward's real ceremonies with a SoftAuthenticator: the first
// admin through first-admin setup, everyone else through an invitation they accept. Nothing is inserted
// behind the domain functions' back, so every person and token is as real as one the console would make.
import type { Db } from "@/db/client";
import type { Role } from "@/db/schema";
import type { WebAuthnConfig } from "@/server/auth/config";
import { setupCodeSchema } from "@/server/auth/schemas";
import { beginSetup, completeSetup, issueSetupCode } from "@/server/auth/setup-code";
import type { Acting } from "@/server/members/guards";
import {
  beginAcceptInvitation,
  completeAcceptInvitation,
  createInvitation,
} from "@/server/members/invitations";
import { DEFAULT_ORIGIN, SoftAuthenticator } from "./soft-authenticator";

/** The WebAuthn settings tests run under: the SoftAuthenticator's origin, and no AAGUID allow-list. */
export const TEST_WEBAUTHN_CONFIG: Readonly<WebAuthnConfig> = Object.freeze({
  rpId: "localhost",
  rpName: "Keyward",
  origin: DEFAULT_ORIGIN,
  aaguidAllowList: Object.freeze([]),
  attestationRoots: Object.freeze([]),
  challengeTtlMs: 5 * 60_000,
});

/** A member as the domain functions see them (`acting`), and the one token they registered ("Key"). */
export type Person = { acting: Acting; token: SoftAuthenticator };

/** The nickname every fixture person gives their token. */
const FIXTURE_TOKEN_NAME = "Key";

/**
 * The first admin ("Ada Admin" unless named), through the real setup ceremony at `now`: a setup code is
 * issued, and the person registers a new token with it. Fails if the database already has an admin.
 */
export async function firstAdmin(
  db: Db,
  options: { now: Date; config?: WebAuthnConfig; name?: string },
): Promise<Person> {
  const { now, config = TEST_WEBAUTHN_CONFIG, name = "Ada Admin" } = options;
  const issued = await issueSetupCode(db, { now, ttlMs: 60_000 });
  if (!issued) throw new Error("an admin already exists");
  const code = setupCodeSchema.parse(issued.code);
  const token = new SoftAuthenticator();
  const registration = await beginSetup(db, config, { code, name, now });
  const response = token.register(registration);
  const { memberId } = await completeSetup(db, config, {
    code,
    name,
    tokenName: FIXTURE_TOKEN_NAME,
    response,
    now,
  });
  return { acting: { id: memberId, roles: ["admin"] }, token };
}

let people = 0;

/**
 * A new member with one new token, invited by `admin` (an operator in no group unless told otherwise) and
 * accepted at `now` through the real invitation ceremony. Each gets a name no other fixture person has.
 */
export async function invitedMember(
  db: Db,
  admin: Acting,
  options: { now: Date; roles?: Role[]; groups?: string[]; config?: WebAuthnConfig; name?: string },
): Promise<Person> {
  const { now, roles = ["operator"], groups = [], config = TEST_WEBAUTHN_CONFIG } = options;
  const name = options.name ?? `Member ${++people}`;
  const { secret } = await createInvitation(db, { actor: admin, name, roles, groups, ttlMs: 3_600_000, now });
  const token = new SoftAuthenticator();
  const registration = await beginAcceptInvitation(db, config, { secret, now });
  const response = token.register(registration);
  const { memberId } = await completeAcceptInvitation(db, config, {
    secret,
    tokenName: FIXTURE_TOKEN_NAME,
    response,
    now,
  });
  return { acting: { id: memberId, roles }, token };
}
