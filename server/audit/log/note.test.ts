// note.ts against the published vectors (golang.org/x/mod sumdb/note note_test.go and note.go's example,
// C2SP signed-note and tlog-checkpoint), round trips, and every tampering an attacker would try.
import { ed25519 } from "@noble/curves/ed25519";
import { describe, expect, it } from "vitest";
import {
  base64Decode,
  base64Encode,
  type Checkpoint,
  formatCheckpoint,
  keyId,
  NoteError,
  type NoteErrorReason,
  openCheckpoint,
  openNote,
  parseCheckpoint,
  parseNote,
  parseVerifierKey,
  signedNote,
  verifierKey,
} from "./note";

// --- golang.org/x/mod/sumdb/note (note.go's example and note_test.go) ---
const PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const PETER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const ENOCH = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const TEXT =
  "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_SIG =
  "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG =
  "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

// --- C2SP signed-note "Verifier keys / Example" ---
const FOO = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
const FOO_NOTE =
  "This is an example message.\n\n\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

// --- C2SP tlog-checkpoint (its signing key is not published) ---
const SOFA_TEXT = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
const SOFA_NOTE = `${SOFA_TEXT}\n\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n`;

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

function refusal(run: () => unknown): { reason: NoteErrorReason; message: string } {
  try {
    run();
  } catch (e) {
    if (e instanceof NoteError) return { reason: e.reason, message: e.message };
    throw e;
  }
  throw new Error("expected a NoteError, nothing was thrown");
}

/** The Ed25519 seed of Go's "PRIVATE+KEY+<name>+<hash>+base64(0x01 || seed)". */
function seedOf(skey: string): Uint8Array {
  // The base64 may itself hold '+': everything after the fourth one.
  const bytes = base64Decode(skey.split("+").slice(4).join("+"));
  if (bytes === null || bytes[0] !== 1) throw new Error("not an Ed25519 signer key");
  return bytes.slice(1);
}

/** A note signed in software, as the HSM signs: Ed25519 over the note text. */
function sign(text: string, name: string, seed: Uint8Array): string {
  const publicKey = ed25519.getPublicKey(seed);
  return signedNote(text, [
    { name, keyId: keyId(name, 1, publicKey), signature: ed25519.sign(new TextEncoder().encode(text), seed) },
  ]);
}

describe("Go's sumdb/note vectors", () => {
  it("derives PeterNeumann's key ID and verifier key from the signer key's seed", () => {
    const publicKey = ed25519.getPublicKey(seedOf(PETER_SKEY));
    expect(hex(keyId("PeterNeumann", 1, publicKey))).toBe("c74f20a3");
    expect(verifierKey("PeterNeumann", publicKey)).toBe(PETER);
    const parsed = parseVerifierKey(PETER);
    expect(parsed.name).toBe("PeterNeumann");
    expect(hex(parsed.keyId)).toBe("c74f20a3");
    expect(hex(parsed.publicKey)).toBe(hex(publicKey));
    expect(hex(parseVerifierKey(ENOCH).keyId)).toBe("af0cfe78");
  });

  it("signs the text into exactly Go's signed note (TestSign)", () => {
    expect(sign(TEXT, "PeterNeumann", seedOf(PETER_SKEY))).toBe(`${TEXT}\n${PETER_SIG}`);
  });

  it("refuses every substring and every one-byte change of the verifier key (TestNewVerifier)", () => {
    const b = [...Buffer.from(PETER, "latin1")];
    for (let i = 0; i <= b.length; i++) {
      for (let j = i + 1; j <= b.length; j++) {
        if (i === 0 && j === b.length) continue;
        const part = Buffer.from(b.slice(i, j)).toString("latin1");
        expect(() => parseVerifierKey(part), part).toThrow(NoteError);
      }
    }
    for (let i = 0; i < b.length; i++) {
      const changed = [...b];
      changed[i] = (changed[i] ?? 0) + 1;
      const text = Buffer.from(changed).toString("latin1");
      expect(() => parseVerifierKey(text), text).toThrow(NoteError);
    }
    // Wrong key length and unknown algorithm, each with its key ID adjusted to match.
    expect(
      refusal(() =>
        parseVerifierKey("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="),
      ),
    ).toMatchObject({ reason: "malformed-verifier-key" });
    expect(
      refusal(() => parseVerifierKey("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")),
    ).toMatchObject({ reason: "unknown-algorithm" });
  });

  it("opens notes as TestOpen does: one verified and one ignored, both verified, none known", () => {
    const both = `${TEXT}\n${PETER_SIG}${ENOCH_SIG}`;
    expect(openNote(both, [PETER])).toEqual({
      text: TEXT,
      verifiedBy: [PETER],
      ignored: ["EnochRoot+af0cfe78"],
    });
    expect(openNote(both, [PETER, ENOCH])).toEqual({ text: TEXT, verifiedBy: [PETER, ENOCH], ignored: [] });
    const none = refusal(() => openNote(both, []));
    expect(none.reason).toBe("no-known-signature");
    expect(none.message).toContain("PeterNeumann+c74f20a3, EnochRoot+af0cfe78");
    const parsed = parseNote(both);
    expect(parsed.text).toBe(TEXT);
    expect(parsed.signatures.map((s) => [s.name, hex(s.keyId), s.signature.length])).toEqual([
      ["PeterNeumann", "c74f20a3", 64],
      ["EnochRoot", "af0cfe78", 64],
    ]);
  });

  it("refuses more than 100 signatures, verified or not", () => {
    const many = `${TEXT}\n${PETER_SIG.repeat(101)}`;
    expect(refusal(() => openNote(many, [PETER])).reason).toBe("too-many-signatures");
    expect(refusal(() => openNote(many, [])).reason).toBe("too-many-signatures");
    expect(openNote(`${TEXT}\n${PETER_SIG.repeat(100)}`, [PETER]).verifiedBy).toEqual([PETER]);
  });

  it("refuses a trusted key's signature that does not verify, and ignores an untrusted one", () => {
    const damaged = `${PETER_SIG.slice(0, 60)}ABCD${PETER_SIG.slice(60)}`;
    const bad = refusal(() => openNote(`${TEXT}\n${damaged}`, [PETER]));
    expect(bad).toMatchObject({ reason: "bad-signature" });
    expect(bad.message).toContain("PeterNeumann+c74f20a3");
    // Duplicated signatures, and a damaged one by a key not trusted: accepted (Go's test too).
    const enochDamaged = `${ENOCH_SIG.slice(0, 60)}ABCD${ENOCH_SIG.slice(60)}`;
    const note = `${TEXT}\n${PETER_SIG}${PETER_SIG}${ENOCH_SIG}${ENOCH_SIG}${enochDamaged}`;
    expect(openNote(note, [PETER])).toEqual({
      text: TEXT,
      verifiedBy: [PETER],
      ignored: ["EnochRoot+af0cfe78"],
    });
    // Stricter than Go, as the spec asks: every signature by a trusted key is verified, not only the first.
    expect(refusal(() => openNote(`${TEXT}\n${PETER_SIG}${damaged}`, [PETER])).reason).toBe("bad-signature");
  });

  it("refuses malformed notes (TestOpen's bad messages)", () => {
    const bad = [
      TEXT,
      `${TEXT}\n`,
      `${TEXT}\n${PETER_SIG.slice(0, -1)}`,
      `\x01${TEXT}\n${PETER_SIG}`,
      `${TEXT}\n\u2014 Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=`,
      `${TEXT}\n${PETER_SIG}Unexpected line.\n`,
      // Go's "\xff" (invalid UTF-8) arrives in JavaScript as a lone surrogate.
      `\ud800${TEXT}\n${PETER_SIG}`,
      `${TEXT}\n${PETER_SIG.replace("\u2014", "-")}`,
      `${TEXT}\r\n${PETER_SIG}`,
    ];
    for (const note of bad)
      expect(refusal(() => openNote(note, [PETER])).reason, JSON.stringify(note)).toBe("malformed-note");
  });

  it("accepts one verifier key listed twice (Go calls that ambiguous; it is one key)", () => {
    // Two different keys under one name and key ID would be ambiguous and refused, but building a pair takes
    // a 32-bit collision search (about 2^32 SHA-256s): not run here.
    expect(openNote(`${TEXT}\n${PETER_SIG}`, [ENOCH, PETER, PETER]).verifiedBy).toEqual([PETER]);
  });
});

describe("C2SP examples", () => {
  it("verifies signed-note's example with its verifier key", () => {
    expect(openNote(FOO_NOTE, [FOO])).toEqual({
      text: "This is an example message.\n",
      verifiedBy: [FOO],
      ignored: [],
    });
    expect(hex(parseVerifierKey(FOO).keyId)).toBe("530d903a");
    expect(verifierKey("example.com/foo", parseVerifierKey(FOO).publicKey)).toBe(FOO);
  });

  it("reads tlog-checkpoint's example and writes it back byte for byte", () => {
    const checkpoint = parseCheckpoint(SOFA_TEXT);
    expect(checkpoint.origin).toBe("example.com/behind-the-sofa");
    expect(checkpoint.size).toBe(20852163);
    expect(hex(checkpoint.rootHash)).toBe(
      hex(Buffer.from("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=", "base64")),
    );
    expect(checkpoint.extensions).toEqual([]);
    expect(formatCheckpoint(checkpoint)).toBe(SOFA_TEXT);
    const { text, signatures } = parseNote(SOFA_NOTE);
    expect(text).toBe(SOFA_TEXT);
    expect(hex(signatures[0]?.keyId ?? new Uint8Array())).toBe("033de0ae");
    // Its key is not published: trusted by nobody here, the note is refused, naming who signed it.
    const refused = refusal(() => openCheckpoint(SOFA_NOTE, [FOO]));
    expect(refused.reason).toBe("no-known-signature");
    expect(refused.message).toContain("example.com/behind-the-sofa+033de0ae");
  });
});

describe("checkpoints", () => {
  const seed = new Uint8Array(32).fill(7);
  const name = "keyward.local/audit";
  const vkey = verifierKey(name, ed25519.getPublicKey(seed));
  const root = Uint8Array.from({ length: 32 }, (_, i) => i * 7);
  const checkpoint: Checkpoint = { origin: name, size: 42, rootHash: root, extensions: ["opaque extension"] };

  it("round-trips through formatting, signing and opening", () => {
    const text = formatCheckpoint(checkpoint);
    expect(text).toBe(`${name}\n42\n${base64Encode(root)}\nopaque extension\n`);
    const opened = openCheckpoint(sign(text, name, seed), [vkey], { origin: name });
    expect(opened.checkpoint).toEqual(checkpoint);
    expect(opened.verifiedBy).toEqual([vkey]);
    const empty = { origin: name, size: 0, rootHash: new Uint8Array(32), extensions: [] };
    expect(parseCheckpoint(formatCheckpoint(empty))).toEqual(empty);
    const largest = { ...empty, size: Number.MAX_SAFE_INTEGER };
    expect(parseCheckpoint(formatCheckpoint(largest))).toEqual(largest);
  });

  it("refuses non-canonical sizes, wrong root hashes and missing or empty lines", () => {
    const b64 = base64Encode(root);
    const bad = [
      `${name}\n042\n${b64}\n`,
      `${name}\n+42\n${b64}\n`,
      `${name}\n-1\n${b64}\n`,
      `${name}\n 42\n${b64}\n`,
      `${name}\n42 \n${b64}\n`,
      `${name}\n0x2a\n${b64}\n`,
      `${name}\n4e1\n${b64}\n`,
      `${name}\n\n${b64}\n`,
      `${name}\n9007199254740992\n${b64}\n`,
      `${name}\n42\n${base64Encode(root.slice(0, 31))}\n`,
      `${name}\n42\n${base64Encode(new Uint8Array(33))}\n`,
      `${name}\n42\n${b64.slice(0, -1)}\n`,
      `${name}\n42\n${b64.slice(0, -2)}B=\n`, // stray bits in the last character
      `${name}\n42\n${b64}`,
      `${name}\n42\n`,
      `\n42\n${b64}\n`,
      `${name}\n42\n${b64}\n\n`,
      `${name}\n42\n${b64}\next\n\nmore\n`,
      `${name}\r\n42\n${b64}\n`,
    ];
    for (const text of bad)
      expect(refusal(() => parseCheckpoint(text)).reason, JSON.stringify(text)).toBe("malformed-checkpoint");
    expect(refusal(() => parseCheckpoint(`${name}\n042\n${b64}\n`)).message).toContain("leading zeros");
  });

  it("refuses to write a checkpoint the spec or the key name rules forbid", () => {
    const cases: Checkpoint[] = [
      { ...checkpoint, origin: "" },
      { ...checkpoint, origin: "keyward local" },
      { ...checkpoint, origin: "keyward+local" },
      { ...checkpoint, size: -1 },
      { ...checkpoint, size: 1.5 },
      { ...checkpoint, size: 2 ** 53 },
      { ...checkpoint, rootHash: new Uint8Array(31) },
      { ...checkpoint, extensions: [""] },
      { ...checkpoint, extensions: ["two\nlines"] },
      { ...checkpoint, extensions: ["tab\there"] },
    ];
    for (const c of cases)
      expect(refusal(() => formatCheckpoint(c)).reason, JSON.stringify(c.origin)).toBe(
        "malformed-checkpoint",
      );
  });

  describe("an attacker's changes are refused with a named reason", () => {
    const note = sign(formatCheckpoint(checkpoint), name, seed);
    const other = new Uint8Array(32).fill(9);

    it("a changed root hash or origin line", () => {
      const changedRoot = note.replace(base64Encode(root), base64Encode(root.map((b) => b ^ 1)));
      expect(refusal(() => openCheckpoint(changedRoot, [vkey])).reason).toBe("bad-signature");
      const changedExtension = note.replace("opaque extension", "opaque extensioN");
      expect(refusal(() => openCheckpoint(changedExtension, [vkey])).reason).toBe("bad-signature");
    });

    it("a changed size", () => {
      const grown = note.replace("\n42\n", "\n43\n");
      expect(grown).not.toBe(note);
      const refused = refusal(() => openCheckpoint(grown, [vkey]));
      expect(refused.reason).toBe("bad-signature");
      expect(refused.message).toContain(`${name}+${vkey.split("+")[1]}`);
    });

    it("a checkpoint signed by another key under another name", () => {
      const forged = sign(formatCheckpoint(checkpoint), "attacker.example/log", other);
      expect(refusal(() => openCheckpoint(forged, [vkey])).reason).toBe("no-known-signature");
    });

    it("a checkpoint signed by a different key under our name (its key ID differs: ignored, so refused)", () => {
      const forged = sign(formatCheckpoint(checkpoint), name, other);
      const refused = refusal(() => openCheckpoint(forged, [vkey]));
      expect(refused.reason).toBe("no-known-signature");
      expect(refused.message).toContain(
        `signed by ${name}+${hex(keyId(name, 1, ed25519.getPublicKey(other)))}`,
      );
    });

    it("a different key's signature under our name and our key ID", () => {
      const text = formatCheckpoint(checkpoint);
      const forged = signedNote(text, [
        {
          name,
          keyId: parseVerifierKey(vkey).keyId,
          signature: ed25519.sign(new TextEncoder().encode(text), other),
        },
      ]);
      expect(refusal(() => openCheckpoint(forged, [vkey])).reason).toBe("bad-signature");
    });

    it("a truncated signature", () => {
      const { text, signatures } = parseNote(note);
      const first = signatures[0];
      if (first === undefined) throw new Error("no signature");
      const truncated = signedNote(text, [{ ...first, signature: first.signature.slice(0, 63) }]);
      expect(refusal(() => openCheckpoint(truncated, [vkey])).reason).toBe("bad-signature");
      const cut = `${note.slice(0, -6)}\n`;
      expect(refusal(() => openCheckpoint(cut, [vkey])).reason).toBe("malformed-note");
      const idOnly = signedNote(text, [{ ...first, signature: first.signature.slice(0, 1) }]).replace(
        / \S+\n$/,
        ` ${base64Encode(first.keyId)}\n`,
      );
      expect(refusal(() => openCheckpoint(idOnly, [vkey])).reason).toBe("malformed-note");
    });

    it("a signature line moved into the text, or the text moved after the signatures", () => {
      const sigLine = note.slice(note.lastIndexOf("\n\n") + 2);
      const inText = `${formatCheckpoint(checkpoint)}${sigLine}\n${sigLine}`;
      expect(refusal(() => openCheckpoint(inText, [vkey])).reason).toBe("bad-signature");
      expect(refusal(() => openCheckpoint(`${note}${formatCheckpoint(checkpoint)}`, [vkey])).reason).toBe(
        "malformed-note",
      );
    });

    it("a checkpoint of another log, when the origin is asked", () => {
      expect(refusal(() => openCheckpoint(note, [vkey], { origin: "keyward.local/other" })).reason).toBe(
        "wrong-origin",
      );
    });

    it("a valid note whose text is not a checkpoint", () => {
      const notACheckpoint = sign("hello\n", name, seed);
      expect(openNote(notACheckpoint, [vkey]).text).toBe("hello\n");
      expect(refusal(() => openCheckpoint(notACheckpoint, [vkey])).reason).toBe("malformed-checkpoint");
    });
  });
});

describe("names, notes and verifier keys", () => {
  const publicKey = ed25519.getPublicKey(new Uint8Array(32).fill(3));

  it("refuses key names that are empty or hold a space, '+', or a control character", () => {
    for (const bad of [
      "",
      "a b",
      "a+b",
      "a\u00a0b",
      "a\u2003b",
      "a\u3000b",
      "a\u0085b",
      "a\tb",
      "a\u0001b",
      "\ud800",
    ]) {
      expect(refusal(() => verifierKey(bad, publicKey)).reason, JSON.stringify(bad)).toBe("invalid-name");
      expect(
        refusal(() =>
          signedNote("x\n", [{ name: bad, keyId: new Uint8Array(4), signature: new Uint8Array(64) }]),
        ).reason,
      ).toBe("invalid-name");
    }
    // Not spaces to Unicode (nor to Go): accepted.
    expect(parseVerifierKey(verifierKey("a\u200bb/\u00e9", publicKey)).name).toBe("a\u200bb/\u00e9");
  });

  it("refuses to sign text not ending in a newline, no signature, or more than 100", () => {
    const sig = { name: "k", keyId: new Uint8Array(4), signature: new Uint8Array(64) };
    expect(refusal(() => signedNote("no newline", [sig])).reason).toBe("malformed-note");
    expect(refusal(() => signedNote("a\x01b\n", [sig])).reason).toBe("malformed-note");
    expect(refusal(() => signedNote("ok\n", [])).reason).toBe("malformed-note");
    expect(refusal(() => signedNote("ok\n", Array(101).fill(sig))).reason).toBe("too-many-signatures");
    expect(refusal(() => signedNote("ok\n", [{ ...sig, keyId: new Uint8Array(3) }])).reason).toBe(
      "malformed-note",
    );
  });

  it("refuses public keys that are not 32 bytes and verifier keys in uppercase hex", () => {
    expect(refusal(() => verifierKey("k", publicKey.slice(1))).reason).toBe("malformed-verifier-key");
    expect(refusal(() => parseVerifierKey(PETER.replace("c74f20a3", "C74F20A3"))).reason).toBe(
      "malformed-verifier-key",
    );
    expect(refusal(() => openNote(FOO_NOTE, ["not a key"])).reason).toBe("malformed-verifier-key");
  });

  it("keeps base64 canonical", () => {
    for (let n = 0; n < 70; n++) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff);
      const text = base64Encode(bytes);
      expect(text).toBe(Buffer.from(bytes).toString("base64"));
      expect(hex(base64Decode(text) ?? new Uint8Array([1]))).toBe(hex(bytes));
    }
    for (const bad of ["A", "AA", "AA=", "AB==", "A===", "AAAA ", "AA\nAA", "****", "AA==AA=="])
      expect(base64Decode(bad), bad).toBeNull();
  });
});
