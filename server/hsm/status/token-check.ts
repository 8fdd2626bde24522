// What a check of one token finds on an open user session: the token's description, the signing mechanisms
// it offers, how many objects the user sees and its backup KEK. It runs where every other HSM call runs (a
// pool thread in the server), because counting the objects of a token with 10,000 keys takes ~0.5 s.
// Reads only public facts: never a key's value, never the PIN.
import "server-only";
import { describeBackupKek } from "../ceremonies/backup-kek";
import { MECHANISM, mechanismsOf, type Session, type Token, type TokenDescription } from "../pkcs11/pkcs11";

export type HsmMechanisms = {
  ecdsa: boolean;
  eddsa: boolean;
  ecKeyPairGen: boolean;
  edwardsKeyPairGen: boolean;
};

export type TokenCheck = {
  token: TokenDescription;
  mechanisms: HsmMechanisms;
  /** Objects the user can see, and the backup KEK (its id is the same on every token sharing it). */
  objects: { total: number; kek: { id: string; shareable: boolean } | null };
};

/** The mechanisms Keyward needs, and whether the token offers each. No login needed. */
export function mechanismSummary(token: Token): HsmMechanisms {
  const offered = mechanismsOf(token);
  return {
    ecdsa: offered.has(MECHANISM.ecdsa),
    eddsa: offered.has(MECHANISM.eddsa),
    ecKeyPairGen: offered.has(MECHANISM.ecKeyPairGen),
    edwardsKeyPairGen: offered.has(MECHANISM.edwardsKeyPairGen),
  };
}

/** Checks the token on a session logged in as the user (who sees private objects as well as public ones). */
export function checkToken(session: Session): TokenCheck {
  return {
    token: session.token.description,
    mechanisms: mechanismSummary(session.token),
    objects: { total: session.find([]).length, kek: describeBackupKek(session) },
  };
}
