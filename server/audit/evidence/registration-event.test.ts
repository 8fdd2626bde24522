// A voter token's registration bound to the audit log (registration-event.ts, verify.ts): the bundle carries
// the token.registered event of each voter token with its own inclusion proof, here logged before the period
// (events 2 and 3, period 5-11); its digests must be those of the credential key and registration the bundle
// gives, and its time dates the attestation certificates. Each tampering an insider with the database, the
// server's files and the HSM PIN could try — a forged self-attested registration with a key of their own and
// the votes re-signed by it, another registration of the same token, a blanked one, the event's data altered,
// its proof dropped — is named with the token.
import { describe, expect, it } from "vitest";
import { SoftAuthenticator } from "@/server/testing/soft-authenticator";
import { chainedBundle, LEAF, REGISTERED } from "./testing/attestation-chain";
import { creationOptions, softSigner } from "./testing/soft-signers";
import { registrationBinding } from "./registration-event";
import type { verifyBundle } from "./verify";

const failed = (r: ReturnType<typeof verifyBundle>) => r.failures.map((f) => `${f.item}: ${f.reason}`);

/** The period 5-11, the voters' tokens registered at events 2 and 3, before it. */
const registeredBefore = (o: Parameters<typeof chainedBundle>[0] = {}) => chainedBundle({ fromSeq: 5, ...o });

/** A software authenticator claiming `credentialId`: what an insider makes to sign as someone else's token. */
function forgerOf(credentialId: string) {
  const forger = new SoftAuthenticator();
  Object.defineProperty(forger, "credentialId", { value: credentialId });
  return softSigner(forger);
}

describe("the voter tokens' registration events", () => {
  it("proves each token's registration event, logged before the period, and checks the certificate dates at its time", async () => {
    const chain = await registeredBefore();
    expect(chain.bundle.events[0]?.seq).toBe(5);
    expect(chain.bundle.registrationEvents?.map((e) => [e.seq, e.action, e.inclusion.size])).toEqual([
      [2, "token.registered", 12],
      [3, "token.registered", 12],
    ]);
    const { report, check } = chain.verify();
    expect(failed(report)).toEqual([]);
    expect(check?.reason).toContain(
      "its key and registration are the ones the log recorded at its registration (event 2, token.registered, proved to checkpoint 12)",
    );
    expect(check?.reason).toContain(
      `each of its 3 certificates was valid at its registration (${REGISTERED}, event 2)`,
    );
    const other = report.checks.find(
      (c) => c.item === `registration of token ${chain.bundle.votes[1]?.credential.id}`,
    );
    expect(other?.reason).toContain("(event 3, token.registered, proved to checkpoint 12)");

    // A leaf expired before that registration is caught though the period does not hold the event.
    const expired = await registeredBefore({
      leaf: { notBefore: new Date("2020-01-01T00:00:00Z"), notAfter: new Date("2026-09-30T00:00:00Z") },
    });
    const late = expired.verify();
    expect(late.report.failures).toEqual([late.check]);
    expect(late.reason).toContain(
      `its certificate ${LEAF} was not valid when the token was registered (${REGISTERED}, event 2)`,
    );
  });

  it("names a forged self-attested registration with the insider's own key, the votes re-signed by it", async () => {
    const chain = await registeredBefore();
    const vote = chain.bundle.votes[0];
    if (vote === undefined) throw new Error("no vote");
    const forged = forgerOf(vote.credential.id);
    vote.credential.publicKey = forged.cose;
    vote.credential.registration = forged.registration;
    vote.assertion = forged.assert(vote.challenge);
    const { report, check } = chain.verify();
    // The vote and the registration are self-consistent: only the log's record of the token names it.
    expect(report.failures).toEqual([check]);
    expect(check?.item).toBe(`registration of token ${vote.credential.id}`);
    expect(check?.reason).toContain(
      "the credential key in the bundle is not the one the log recorded at registration (event 2, token.registered)",
    );
    expect(check?.reason).toContain("the registration in the bundle is not the one the log recorded");
  });

  it("names the credential key swapped in the bundle, its registration left as it was", async () => {
    const chain = await registeredBefore();
    const vote = chain.bundle.votes[0];
    if (vote === undefined) throw new Error("no vote");
    const forged = forgerOf(vote.credential.id);
    vote.credential.publicKey = forged.cose;
    vote.assertion = forged.assert(vote.challenge);
    const { check } = chain.verify();
    expect(check?.ok).toBe(false);
    expect(check?.reason).toContain(
      "the credential key in the bundle is not the one the log recorded at registration (event 2, token.registered)",
    );
  });

  it("names another registration of the same token, and a registration blanked in the bundle", async () => {
    const chain = await registeredBefore();
    const vote = chain.bundle.votes[1];
    if (vote === undefined) throw new Error("no vote");
    const original = vote.credential.registration;
    // The same self-attested token registered again: it attests the same id and key, so only the log tells.
    const again = chain.selfAttested.register(creationOptions()).response;
    vote.credential.registration = {
      attestationObject: again.attestationObject,
      clientDataJSON: again.clientDataJSON,
    };
    const swapped = chain.verify();
    const item = `registration of token ${vote.credential.id}`;
    expect(failed(swapped.report)).toEqual([
      `${item}: member ${vote.voterId}: the registration in the bundle is not the one the log recorded at registration (event 3, token.registered: its attestationObject differs)`,
    ]);

    vote.credential.registration = null;
    const blanked = chain.verify();
    expect(failed(blanked.report)).toEqual([
      `${item}: member ${vote.voterId}: the bundle gives no registration, but the log recorded one at registration (event 3, token.registered)`,
    ]);
    vote.credential.registration = original;
    expect(failed(chain.verify().report)).toEqual([]);
  });

  it("names a registration event whose data was altered, and one whose proof was dropped or points elsewhere", async () => {
    const chain = await registeredBefore();
    const [event] = chain.bundle.registrationEvents ?? [];
    if (event === undefined) throw new Error("no registration event");
    const item = `registration of token ${chain.token.credentialId}`;
    const saved = structuredClone(event);

    // The recorded key digest rewritten (to the forger's, say): the leaf and the chain hash no longer hold.
    event.data = { ...(event.data as object), publicKeyDigest: "0".repeat(64) };
    const altered = chain.verify().report;
    expect(altered.failures.map((f) => f.item)).toEqual([item]);
    expect(altered.failures[0]?.reason).toContain(
      "its registration event 2 (token.registered) is not proven by the log: its data does not give the leaf the inclusion proof proves to checkpoint 12",
    );
    expect(altered.failures[0]?.reason).toContain(
      "its hash is not SHA-256 of its previous hash and its content",
    );

    Object.assign(event, structuredClone(saved), { inclusion: { size: 12, proof: [] } });
    const dropped = chain.verify().report;
    expect(dropped.failures.map((f) => f.item)).toEqual([item]);
    expect(dropped.failures[0]?.reason).toMatch(
      /its registration event 2 \(token\.registered\) is not proven by the log/,
    );
    // Its time is not used when it is not proven.
    expect(dropped.failures[0]?.reason).not.toContain("valid at its registration");

    Object.assign(event, structuredClone(saved), { inclusion: { size: 20, proof: saved.inclusion.proof } });
    expect(chain.verify().report.failures[0]?.reason).toContain(
      "its inclusion proof is to checkpoint 20, which the bundle does not hold verified",
    );

    Object.assign(event, structuredClone(saved));
    expect(failed(chain.verify().report)).toEqual([]);
  });

  it("says in words, and never silently, a token whose registration event the bundle leaves out or whose event records no digests", async () => {
    const chain = await registeredBefore();
    chain.bundle.registrationEvents = chain.bundle.registrationEvents?.filter((e) => e.seq !== 2);
    const left = chain.verify();
    expect(left.check?.ok).toBe(true);
    expect(left.reason).toContain(
      "the bundle holds no registration event (token.registered or token.added) for this token: its key and registration are not bound to the log, only the bundle's word",
    );
    expect(left.reason).toContain("registration time unknown");

    // A bundle exported before the field: the period's own events are looked at (none here).
    delete chain.bundle.registrationEvents;
    expect(chain.verify().reason).toContain(
      "the bundle was exported before it carried registration events, and its period holds none for this token",
    );
    // ...and when the period holds the event, it binds and dates the token as one of the period's events.
    const within = await chainedBundle();
    delete within.bundle.registrationEvents;
    const bound = within.verify();
    expect(failed(bound.report)).toEqual([]);
    expect(bound.reason).toContain("(event 2, token.registered, an event of the period)");
    expect(bound.reason).toContain("valid at its registration");

    // Events logged before Keyward recorded the digests: proven and dated, the key said not to be bound.
    const old = await registeredBefore({ memory: { digestsLogged: false } });
    const unbound = old.verify();
    expect(failed(unbound.report)).toEqual([]);
    expect(unbound.reason).toContain(
      "its registration event (event 2, token.registered) was logged before Keyward recorded key and registration digests: its key and registration are not bound to the log",
    );
    expect(unbound.reason).toContain(`valid at its registration (${REGISTERED}, event 2)`);
  });

  it("names a registration event that is not a voter token's registration", async () => {
    const chain = await registeredBefore();
    const edge = chain.bundle.edges.before;
    if (edge === null) throw new Error("no edge");
    // A proven event of the log (the period's edge, a sign-in) passed off as a registration.
    chain.bundle.registrationEvents?.push(structuredClone(edge));
    expect(failed(chain.verify().report)).toEqual([
      "registration event 4: it is auth.signed_in for undefined, not the token.registered or token.added of a voter token of the bundle",
    ]);
  });
});

describe("registrationBinding", () => {
  it("names a registration event recorded for another member than the credential's owner", async () => {
    const chain = await registeredBefore();
    const vote = chain.bundle.votes[0];
    const [event] = chain.bundle.registrationEvents ?? [];
    if (vote === undefined || event === undefined) throw new Error("no vote");
    const data = { ...(event.data as Record<string, unknown>), memberId: "someone-else" };
    const binding = registrationBinding(
      vote.credential,
      [{ seq: 2, at: event.at, action: event.action, data, unproven: [], proof: "proved to checkpoint 12" }],
      { carriesEvents: true },
    );
    expect(binding.problems).toEqual([
      `its registration event 2 (token.registered) records it for member someone-else, not ${vote.voterId}`,
    ]);
  });
});
