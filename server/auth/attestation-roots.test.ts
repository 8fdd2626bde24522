// The pinned attestation roots: the shipped vendor files are the certificates the README names, bad files are
// refused at boot with the variable named, and a chain is believed only when it reaches a pinned root.
import { X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, parseEnv } from "@/server/env";
import { type AttestationIdentity, TestAttestationCa } from "@/server/testing/soft-authenticator";
import { defaultAttestationRoots, loadAttestationRoots, verifyAttestationChain } from "./attestation-roots";

const NOW = new Date("2026-04-02T09:00:00.000Z");
const AAGUID = "cb69481e-8ff7-4039-93ec-0a2729a154a8";
const folders: string[] = [];
afterAll(() => {
  for (const f of folders) rmSync(f, { recursive: true, force: true });
});

function folder(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "keyward-roots-"));
  folders.push(dir);
  return dir;
}

describe("the shipped vendor roots", () => {
  it("are exactly the Yubico roots the README lists, self-signed CAs valid today", () => {
    const roots = loadAttestationRoots(defaultAttestationRoots());
    expect(roots.map((r) => [r.subject, r.fingerprint256])).toEqual([
      [
        "CN=Yubico Attestation Root 1",
        "62:76:0C:6A:6E:F9:16:79:F4:54:C8:90:2B:80:FD:00:98:25:B3:F2:5D:A9:0F:1F:BA:CE:2E:C6:58:6C:D5:A8",
      ],
      [
        "CN=Yubico FIDO Root CA Serial 450203556",
        "35:F1:A5:4B:35:3B:FB:71:1E:6D:42:AD:BE:B7:6C:0E:9D:EA:D0:95:01:8E:6A:94:78:3B:A2:19:2F:D6:FA:AD",
      ],
      [
        "CN=Yubico U2F Root CA Serial 457200631",
        "0F:A1:38:6F:80:EB:87:13:26:3A:E5:C1:D8:4D:EB:45:5B:DF:08:AE:A5:0A:B0:55:03:CE:FE:E8:2B:09:2D:42",
      ],
    ]);
    for (const r of roots) {
      expect(r.ca).toBe(true);
      expect(r.checkIssued(r) && r.verify(r.publicKey)).toBe(true);
      expect(new Date(r.validFrom) < NOW && NOW < new Date(r.validTo)).toBe(true);
    }
  });
});

describe("KEYWARD_ATTESTATION_ROOTS", () => {
  const base = () => {
    const dir = folder();
    writeFileSync(
      path.join(dir, "secrets.json"),
      JSON.stringify({ authSecret: "a".repeat(43), hsmUserPin: "123456", hsmSoPin: "87654321" }),
    );
    return { NODE_ENV: "test" as const, KEYWARD_DATA_DIR: dir, KEYWARD_HSM_REPLICAS: "0" };
  };
  const refusal = (vars: Record<string, string>) => {
    try {
      parseEnv({ ...base(), ...vars });
    } catch (e) {
      if (e instanceof ConfigError) return e.message;
      throw e;
    }
    throw new Error("expected a ConfigError");
  };

  it("defaults to the installation's folder, and takes comma-separated files and folders", async () => {
    expect(parseEnv(base()).attestationRoots).toHaveLength(3);
    // Not the working directory's: a server started elsewhere still pins the roots it was installed with.
    const elsewhere = folder();
    const cwd = process.cwd();
    process.chdir(elsewhere);
    try {
      expect(defaultAttestationRoots()).toBe(path.join(cwd, "server", "auth", "attestation-roots"));
    } finally {
      process.chdir(cwd);
    }
    const ca = await TestAttestationCa.create();
    const dir = folder();
    writeFileSync(path.join(dir, "test.pem"), ca.pem);
    const yubico = path.join(defaultAttestationRoots(), "yubico-u2f-root-ca-serial-457200631.pem");
    const env = parseEnv({ ...base(), KEYWARD_ATTESTATION_ROOTS: `${dir}, ${yubico}` });
    expect(env.attestationRoots.map((r) => r.subject.split("\n").at(-1))).toEqual([
      "CN=Keyward Test Attestation Root",
      "CN=Yubico U2F Root CA Serial 457200631",
    ]);
  });

  it("refuses a missing file, a file without a certificate, and a certificate that is not a CA, naming the variable", async () => {
    expect(refusal({ KEYWARD_ATTESTATION_ROOTS: "/nonexistent/roots.pem" })).toMatch(
      /^KEYWARD_ATTESTATION_ROOTS: \/nonexistent\/roots.pem does not exist/,
    );
    const dir = folder();
    writeFileSync(path.join(dir, "empty.pem"), "not a certificate\n");
    expect(refusal({ KEYWARD_ATTESTATION_ROOTS: path.join(dir, "empty.pem") })).toMatch(
      /holds no PEM certificate/,
    );
    const ca = await TestAttestationCa.create();
    const leaf = await ca.issue(AAGUID);
    const leafPem = new X509Certificate(leaf.x5c[0] ?? new Uint8Array()).toString();
    writeFileSync(path.join(dir, "leaf.pem"), leafPem);
    expect(refusal({ KEYWARD_ATTESTATION_ROOTS: path.join(dir, "leaf.pem") })).toMatch(
      /is not a CA certificate/,
    );
  });

  it("refuses an allow-list with no root to check it against", () => {
    const dir = folder();
    expect(refusal({ KEYWARD_ATTESTATION_ROOTS: dir, KEYWARD_AAGUID_ALLOWLIST: AAGUID })).toMatch(
      /KEYWARD_AAGUID_ALLOWLIST is set but KEYWARD_ATTESTATION_ROOTS names no certificate/,
    );
  });
});

describe("verifyAttestationChain", () => {
  let pinned: TestAttestationCa;
  let stranger: TestAttestationCa;
  let identity: AttestationIdentity;
  let roots: X509Certificate[];

  beforeAll(async () => {
    pinned = await TestAttestationCa.create("Pinned Vendor Root");
    stranger = await TestAttestationCa.create("Unknown Vendor Root");
    identity = await pinned.issue(AAGUID);
    roots = [new X509Certificate(pinned.pem), ...loadAttestationRoots(defaultAttestationRoots())];
  });

  it("believes a leaf issued by a pinned root", () => {
    const result = verifyAttestationChain(identity.x5c, roots, NOW);
    expect(result).toMatchObject({ ok: true });
    expect(result.ok && result.root.subject).toMatch(/Pinned Vendor Root/);
  });

  it("believes a chain that carries the pinned root itself", () => {
    const rootDer = new Uint8Array(new X509Certificate(pinned.pem).raw);
    expect(verifyAttestationChain([...identity.x5c, rootDer], roots, NOW)).toMatchObject({ ok: true });
  });

  it("refuses a leaf from a root nobody pinned, even with the same subject layout", async () => {
    const other = await stranger.issue(AAGUID);
    expect(verifyAttestationChain(other.x5c, roots, NOW)).toMatchObject({
      ok: false,
      reason: "attestation_root_unknown",
    });
  });

  it("refuses a pinned root presented as the leaf, an empty or overlong x5c, and garbage", () => {
    const rootDer = new Uint8Array(new X509Certificate(pinned.pem).raw);
    expect(verifyAttestationChain([rootDer], roots, NOW)).toMatchObject({
      ok: false,
      reason: "attestation_invalid",
    });
    expect(verifyAttestationChain([], roots, NOW)).toMatchObject({
      ok: false,
      reason: "attestation_invalid",
    });
    const leaf = identity.x5c[0] ?? new Uint8Array();
    expect(verifyAttestationChain(Array(6).fill(leaf), roots, NOW)).toMatchObject({ ok: false });
    expect(verifyAttestationChain([new Uint8Array([1, 2, 3])], roots, NOW)).toMatchObject({
      ok: false,
      reason: "attestation_invalid",
    });
  });

  it("refuses everything when no root is pinned (nothing passes by default)", () => {
    expect(verifyAttestationChain(identity.x5c, [], NOW)).toMatchObject({
      ok: false,
      reason: "attestation_root_unknown",
    });
  });

  it("ignores a pinned root outside its validity at the ceremony's time", () => {
    expect(verifyAttestationChain(identity.x5c, roots, new Date("2101-01-01T00:00:00Z"))).toMatchObject({
      ok: false,
    });
  });

  it("believes Chromium's virtual authenticator only through the test root the browser suite pins", async () => {
    // Chromium's virtual FIDO device (device/fido/virtual_fido_device.cc) self-signs a fresh CA:false
    // certificate per registration, "C=US, O=Chromium, OU=Authenticator Attestation, CN=Batch Certificate",
    // with the U2F specification's example attestation key. Made here the same way.
    const leaf = await chromiumStyleLeaf();
    const e2eRoot = new X509Certificate(
      await import("node:fs").then((fs) => fs.readFileSync("e2e/attestation-root-chromium-virtual.pem")),
    );
    expect(verifyAttestationChain([leaf], [e2eRoot], NOW)).toMatchObject({ ok: true });
    expect(verifyAttestationChain([leaf], roots, NOW)).toMatchObject({
      ok: false,
      reason: "attestation_root_unknown",
    });
  });
});

/** The U2F specification's example attestation key (public: FIDO U2F raw message formats, §8.1), PKCS#8. */
const U2F_EXAMPLE_KEY =
  "308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420f3fccc0d00d8031954f90864d43c247f4bf5f0665c6b50cc17749a27d1cf7664a144034200048d617e65c9508e64bcc5673ac82a6799da3c1446682c258c463fffdf58dfd2fa3e6c378b53d795c4a4dffb4199edd7862f23abaf0203b4b8911ba0569994e101";

async function chromiumStyleLeaf(): Promise<Uint8Array> {
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
  const privateKey = await crypto.subtle.importKey("pkcs8", Buffer.from(U2F_EXAMPLE_KEY, "hex"), alg, true, [
    "sign",
  ]);
  const jwk = await crypto.subtle.exportKey("jwk", privateKey);
  const publicKey = await crypto.subtle.importKey(
    "jwk",
    { ...jwk, d: undefined, key_ops: ["verify"] },
    alg,
    true,
    ["verify"],
  );
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: "01",
      name: "C=US, O=Chromium, OU=Authenticator Attestation, CN=Batch Certificate",
      keys: { privateKey, publicKey },
      signingAlgorithm: alg,
      notBefore: new Date("2017-07-14T02:40:00Z"),
      notAfter: new Date("2046-01-01T00:00:00Z"),
      extensions: [new x509.BasicConstraintsExtension(false, undefined, true)],
    },
    crypto,
  );
  return new Uint8Array(cert.rawData);
}
