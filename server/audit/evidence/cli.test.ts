// scripts/keyward-verify.mjs as a regulator runs it: a bundle file, optionally a checkpoint kept from before
// and the published audit key; every check printed, a verdict, exit code 0 only when everything verifies.
import "reflect-metadata";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import * as x509 from "@peculiar/x509";
import { afterAll, describe, expect, it } from "vitest";
import { SoftAuthenticator, TestAttestationCa } from "@/server/testing/soft-authenticator";
import { evidenceJsonStream } from "@/server/reports/evidence-json";
import type { Bundle } from "./bundle";
import { memoryLog, type Signer } from "./testing/memory-bundle";
import { softSigner } from "./testing/soft-signers";
import { chainedBundle, INTERMEDIATE, LEAF, makeCrl, REGISTERED } from "./testing/attestation-chain";

const dir = mkdtempSync(path.join(tmpdir(), "keyward-verify-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, content: string | Uint8Array): string {
  const file = path.join(dir, name);
  writeFileSync(file, content);
  return file;
}

function run(...args: string[]) {
  const r = spawnSync(process.execPath, ["scripts/keyward-verify.mjs", ...args], {
    encoding: "utf8",
    env: { ...process.env, KEYWARD_VERIFY_STATS: "1" },
  });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

/** The bytes the download writes (server/reports/evidence-json.ts): one event per line. */
async function keywardLayout(bundle: Bundle): Promise<string> {
  return new Response(evidenceJsonStream(bundle)).text();
}

describe("keyward-verify", () => {
  const real = memoryLog({ size: 40, checkpointSizes: [10, 20, 30, 40], fromSeq: 11, toSeq: 40 });
  const kept = write("kept.txt", real.bundle.checkpoints.find((c) => c.size === 30)?.note ?? "");

  it("prints every check and VERIFIED, exit 0, for an honest bundle, a kept checkpoint and the audit key", async () => {
    const file = write("bundle.json", await keywardLayout(real.bundle));
    const r = run(file, "--trusted-checkpoint", kept, "--verifier-key", real.key.vkey);
    expect(r.err).toMatch(/^keyward-verify stats: \d+ ms, peak RSS \d+ MiB, streamed, one event per line\n$/);
    expect(r.status).toBe(0);
    expect(r.out.split("\n")[0]).toBe(`audit key: ${real.key.vkey}`);
    expect(r.out).toContain("ok   checkpoint 40: signature verifies under the audit key");
    expect(r.out).toContain(
      "ok   event 17: its content gives its hash; its leaf is position 17 of the range proved to checkpoint 40",
    );
    expect(r.out).toContain(
      "ok   inclusion of events 11-40: all 30 events, their leaves recomputed from their content, are positions 11-40 of checkpoint 40",
    );
    expect(r.out).toContain("ok   trusted checkpoint 30:");
    expect(r.out).toMatch(
      /checked: bundle 1\/1, checkpoint 4\/4, consistency 3\/3, trusted 1\/1, event 30\/30, chain 29\/29, inclusion 1\/1/,
    );
    expect(r.out).toMatch(/VERIFIED: every item checks, up to checkpoint 40/);

    // The same period as a v1 bundle on one line (JSON.stringify): read whole, each event's own proof checked.
    const v1 = run(write("v1.json", JSON.stringify(real.bundleV1())), "--verifier-key", real.key.vkey);
    expect(v1.status).toBe(0);
    expect(v1.err).toMatch(/, read whole\n$/);
    expect(v1.out).toContain("ok   event 17: in the log at position 17 of checkpoint 40");
    expect(v1.out).toMatch(
      /checked: bundle 1\/1, checkpoint 4\/4, consistency 3\/3, event 30\/30, chain 29\/29/,
    );

    // A file that leaves the layout part-way (an empty line among the events) is read again whole.
    const text = await keywardLayout(real.bundle);
    const broken = run(write("broken.json", text.replace("},\n{", "},\n\n{")), "--quiet");
    expect(broken.status).toBe(0);
    expect(broken.out).toMatch(/leaves Keyward's one-event-per-line layout at line 3: .*read whole instead/);
    expect(broken.out).toContain("VERIFIED: every item checks");
  });

  it("names the failing item and exits 1 for a tampered bundle, a rewritten log and a file that is not a bundle", async () => {
    const tampered = structuredClone(real.bundle);
    const e = tampered.events.find((x) => x.seq === 17);
    if (e) e.data = { n: 1700 };
    const r = run(write("tampered.json", await keywardLayout(tampered)), "--quiet");
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/^FAIL event 17: its hash is not SHA-256 of its previous hash and its content$/m);
    expect(r.out).toMatch(
      /^FAIL inclusion of events 11-40: the events' leaves, recomputed from their content, with the range proof do not give the root of checkpoint 40/m,
    );
    expect(r.out).not.toContain("ok   ");
    expect(r.out).toContain("NOT VERIFIED: 2 items failed.");
    const tamperedV1 = structuredClone(real.bundleV1());
    const e1 = tamperedV1.events.find((x) => x.seq === 17);
    if (e1) e1.data = { n: 1700 };
    const r1 = run(write("tampered-v1.json", JSON.stringify(tamperedV1)), "--quiet");
    expect(r1.status).toBe(1);
    expect(r1.out).toMatch(/^FAIL event 17: its data does not give the leaf the inclusion proof proves/m);
    expect(r1.out).toContain("NOT VERIFIED: 1 item failed.");
    const bad = (await keywardLayout(real.bundle)).replace('"seq":17,', '"seq":"17",');
    expect(run(write("bad.json", bad), "--quiet").out).toMatch(
      /^FAIL bundle: not a keyward-evidence\/v2 \(or v1\) bundle: events\.6\.seq: /m,
    );

    const rewritten = memoryLog({
      size: 45,
      checkpointSizes: [10, 20, 30, 45],
      fromSeq: 11,
      toSeq: 45,
      key: real.key,
      rewriteFrom: 26,
    });
    const file = write("rewritten.json", await keywardLayout(rewritten.bundle));
    expect(run(file).status).toBe(0);
    const caught = run(file, "--trusted-checkpoint", kept);
    expect(caught.status).toBe(1);
    expect(caught.out).toContain("FAIL trusted checkpoint 30: the bundle's checkpoint 30 has another root");

    const junk = run(write("junk.json", "[1, 2"));
    expect(junk.status).toBe(1);
    expect(junk.out).toMatch(/FAIL bundle: not a keyward-evidence\/v2 \(or v1\) bundle/);
    expect(run().status).toBe(1);
    expect(run(path.join(dir, "missing.json")).err).toMatch(/cannot read the bundle/);
  });

  it("checks the voters' token registrations, following an x5c chain to a root given with --attestation-root", async () => {
    const ca = await TestAttestationCa.create();
    const aaguid = "2fc0579f-8113-47ea-b116-bb5a8db9202a";
    const x5c = new SoftAuthenticator({ aaguid, attestationIdentity: await ca.issue(aaguid) });
    const signers = [softSigner(x5c), softSigner(new SoftAuthenticator())];
    const log = memoryLog({
      size: 12,
      checkpointSizes: [12],
      fromSeq: 1,
      toSeq: 11,
      signers: (_, i) => signers[i] as Signer,
    });
    const file = write("registered.json", JSON.stringify(log.bundle));
    const alone = run(file);
    expect(alone.status).toBe(0);
    expect(alone.out).toMatch(
      new RegExp(
        `ok   registration of token ${x5c.credentialId}: .*no shipped root issued .*: chain not proven, model not proven`,
      ),
    );
    expect(alone.out).toMatch(/checked: .*registration 2\/2/);
    const root = write("root.pem", ca.pem);
    const trusting = run(file, "--attestation-root", root);
    expect(trusting.status).toBe(0);
    expect(trusting.out).toMatch(
      new RegExp(
        `ok   registration of token ${x5c.credentialId}: .*chained to C=SE, O=Keyward Tests, CN=Keyward Test Attestation Root`,
      ),
    );

    const swapped = structuredClone(log.bundle);
    const vote = swapped.votes[0];
    if (vote) vote.credential.publicKey = signers[1]?.cose ?? "";
    const caught = run(write("swapped.json", JSON.stringify(swapped)), "--quiet");
    expect(caught.status).toBe(1);
    expect(caught.out).toContain(
      `FAIL registration of token ${x5c.credentialId}: member ${vote?.voterId}: its authData attests another public key than the credential's in the bundle`,
    );
    expect(run(file, "--attestation-root", write("empty.pem", "nothing")).err).toMatch(
      /holds no PEM certificate/,
    );
  });

  it("checks the chain's dates at the logged registration and revocation against --crl files (PEM or DER), offline", async () => {
    const chain = await chainedBundle();
    const file = write("chained.json", JSON.stringify(chain.bundle));
    const root = write("chain-root.pem", chain.root.cert.toString("pem"));
    const item = `registration of token ${chain.token.credentialId}`;

    const unchecked = run(file, "--attestation-root", root);
    expect(unchecked.status).toBe(0);
    expect(unchecked.out).toMatch(
      new RegExp(
        `ok   ${item}: .*each of its 3 certificates was valid at its registration \\(${REGISTERED}, event 2\\)`,
      ),
    );
    expect(unchecked.out).toContain(
      `revocation not checked for ${LEAF} and ${INTERMEDIATE}: no CRL of its issuer given`,
    );

    // A CRL (PEM) of the intermediate listing the leaf revoked before the registration: named, exit 1.
    const before = await makeCrl(chain.intermediate, [{ serial: "1001", at: "2026-09-01T00:00:00Z" }]);
    const pem = write("before.crl", x509.PemConverter.encode(before, "X509 CRL"));
    const revoked = run(file, "--attestation-root", root, "--crl", pem, "--quiet");
    expect(revoked.status).toBe(1);
    expect(revoked.out).toContain(
      `FAIL ${item}: member ${chain.bundle.votes[0]?.voterId}: its certificate ${LEAF} (serial 1001) was revoked at 2026-09-01T00:00:00Z, before the token was registered (${REGISTERED}, event 2)`,
    );
    expect(revoked.out).toContain("NOT VERIFIED: 1 item failed.");

    // Revoked after it (DER file), with the root's CRL (PEM) too: a warning, exit 0.
    const after = write(
      "after.crl",
      await makeCrl(chain.intermediate, [{ serial: "1001", at: "2026-11-15T00:00:00Z" }]),
    );
    const rootCrl = write("root.crl", await makeCrl(chain.root, []));
    const later = run(file, "--attestation-root", root, "--crl", after, "--crl", rootCrl);
    expect(later.status).toBe(0);
    expect(later.out).toContain("after the token was registered");
    expect(later.out).toContain("the registration stays proven as of its time");
    expect(later.out).not.toContain("revocation not checked");

    expect(run(file, "--crl").err).toMatch(/--crl needs a value/);
    expect(run(file, "--crl", path.join(dir, "missing.crl")).err).toMatch(
      /cannot read the CRL .*missing\.crl: ENOENT/,
    );
    const junk = run(file, "--crl", write("junk.crl", "not a CRL"), "--quiet");
    expect(junk.status).toBe(1);
    expect(junk.out).toContain("FAIL CRLs: 1 of the CRLs you gave cannot be read");
  });
});
