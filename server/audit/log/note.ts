// The audit log's signed checkpoints as text: C2SP tlog-checkpoint (origin, tree size, root hash, extension
// lines) inside a C2SP signed note (text, a blank line, "— <key name> <base64(key ID || signature)>" lines),
// with Ed25519 signatures (type 0x01) and verifier keys "<name>+<hex key ID>+<base64(type || public key)>"
// exactly as golang.org/x/mod/sumdb/note writes them, so Go's `note` package and other tlog tools check ours.
// Pure: no Node built-ins, no "server-only", no I/O. It runs on the server, in the browser (the offline
// /verify page) and in a CLI. It never signs: the key lives in the HSM (server/audit/checkpoint-key.ts).
// Specs: https://c2sp.org/signed-note, https://c2sp.org/tlog-checkpoint.
import { ed25519 } from "@noble/curves/ed25519";
import { sha256 } from "@noble/hashes/sha2";

/** Signature type of Ed25519 note signatures (signed-note "Signature types"). The only one Keyward makes. */
export const ED25519_TYPE = 0x01;
/** Go's Open refuses a note with more than 100 signatures; so do we (the spec: at least 16 must be accepted). */
export const MAX_SIGNATURES = 100;
/** A bound on what the verifier reads (Go's tlog bounds a tree note at 1e6 bytes). */
export const MAX_NOTE_LENGTH = 1_000_000;
/** An RFC 6962 / 9162 root hash: SHA-256. */
export const ROOT_HASH_LENGTH = 32;

export type NoteErrorReason =
  /** Not a signed note: no blank line before the signatures, a bad signature line, a control character… */
  | "malformed-note"
  /** The note text is not a tlog checkpoint (lines, size or root hash). */
  | "malformed-checkpoint"
  /** A key name that is empty or has a space, a '+' or a control character. */
  | "invalid-name"
  /** A verifier key string that cannot be read, or whose key ID does not match its name and key. */
  | "malformed-verifier-key"
  /** A verifier key of a signature type other than Ed25519 (0x01). */
  | "unknown-algorithm"
  /** Two different known keys share one name and key ID: which one signed cannot be told. */
  | "ambiguous-verifier"
  | "too-many-signatures"
  /** None of the note's signatures is by a key the caller trusts. */
  | "no-known-signature"
  /** A signature by a trusted key (name and key ID match) that does not verify: the note is refused. */
  | "bad-signature"
  /** A checkpoint whose origin is not the one expected. */
  | "wrong-origin";

/** Every refusal of this module: a closed `reason` to switch on, and a message that says what is wrong. */
export class NoteError extends Error {
  override name = "NoteError";
  constructor(
    readonly reason: NoteErrorReason,
    message: string,
  ) {
    super(message);
  }
}

export type Checkpoint = {
  /** The log's identity, e.g. "keyward.example/audit"; the signing key's name should be the same. */
  origin: string;
  /** Number of leaves in the tree. */
  size: number;
  /** RFC 6962 Merkle tree hash of the first `size` leaves: 32 bytes. */
  rootHash: Uint8Array;
  /** Optional, opaque, non-empty lines after the root hash (not recommended by the spec; unsigned by cosigners). */
  extensions: string[];
};

export type NoteSignature = { name: string; keyId: Uint8Array; signature: Uint8Array };

export type VerifierKey = { name: string; keyId: Uint8Array; publicKey: Uint8Array };

export type OpenedNote = {
  /** The note text (ending in "\n", without the separating blank line): trustworthy only because of verifiedBy. */
  text: string;
  /** The verifier key strings (as given) whose signatures verified, in the order they appear, each once. */
  verifiedBy: string[];
  /** Signatures by keys the caller did not name, ignored as the spec requires: "<name>+<hex key ID>". */
  ignored: string[];
};

// ---------------------------------------------------------------------------------------------------------
// Encodings: standard base64 (RFC 4648 §4, padded) and lowercase hex, both canonical.

const BASE64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const BASE64_VALUE = new Map([...BASE64_ALPHABET].map((c, i) => [c, i]));

export function base64Encode(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const b0 = bytes[i] ?? 0;
    const b1 = bytes[i + 1] ?? 0;
    const b2 = bytes[i + 2] ?? 0;
    const n = (b0 << 16) | (b1 << 8) | b2;
    out += BASE64_ALPHABET.charAt((n >> 18) & 63) + BASE64_ALPHABET.charAt((n >> 12) & 63);
    out += i + 1 < bytes.length ? BASE64_ALPHABET.charAt((n >> 6) & 63) : "=";
    out += i + 2 < bytes.length ? BASE64_ALPHABET.charAt(n & 63) : "=";
  }
  return out;
}

/**
 * Standard padded base64, or null. Canonical only: the encoding of the bytes it gives must be the input, so
 * no whitespace, no missing padding, no stray bits in the last character. (Go's decoder tolerates stray bits;
 * nothing Keyward or Go writes has them.)
 */
export function base64Decode(text: string): Uint8Array | null {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return null;
  const body = text.replace(/=+$/, "");
  const out = new Uint8Array((body.length * 3) >> 2);
  let bits = 0;
  let value = 0;
  let at = 0;
  for (const c of body) {
    const v = BASE64_VALUE.get(c);
    if (v === undefined) return null;
    value = ((value << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[at++] = (value >> bits) & 0xff;
    }
  }
  return base64Encode(out) === text ? out : null;
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

const utf8 = new TextEncoder();

// ---------------------------------------------------------------------------------------------------------
// Names, text and key IDs.

// Unicode White_Space is exactly what Go's unicode.IsSpace matches (isValidName in sumdb/note).
const SPACE = /\p{White_Space}/u;
// Below U+0020 (signed notes allow only "\n" there) and DEL.
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this finds.
const CONTROL = /[\u0000-\u001f\u007f]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this finds.
const CONTROL_BUT_NEWLINE = /[\u0000-\u0009\u000b-\u001f]/;

/** Why `name` is not a valid key name (non-empty, well-formed, no Unicode space, no '+', no control), or null. */
export function invalidNameReason(name: string): string | null {
  if (name === "") return "it is empty";
  if (!name.isWellFormed()) return "it is not valid Unicode (a lone surrogate)";
  if (SPACE.test(name)) return "it contains a space";
  if (name.includes("+")) return "it contains '+'";
  if (CONTROL.test(name)) return "it contains a control character";
  return null;
}

function checkName(name: string, what: string): void {
  const why = invalidNameReason(name);
  if (why !== null)
    throw new NoteError("invalid-name", `${what} ${JSON.stringify(name)} is not valid: ${why}.`);
}

/** Why `text` cannot be a note's text, or null: it must end in "\n", be valid Unicode, have no control but "\n". */
function invalidTextReason(text: string): string | null {
  if (!text.endsWith("\n")) return "it does not end with a newline";
  if (!text.isWellFormed()) return "it is not valid Unicode (a lone surrogate)";
  if (CONTROL_BUT_NEWLINE.test(text)) return "it contains a control character other than newline";
  return null;
}

/** Key ID: SHA-256(key name || 0x0A || signature type || public key)[:4] (signed-note "Signatures"). */
export function keyId(name: string, type: number, publicKey: Uint8Array): Uint8Array {
  if (!Number.isInteger(type) || type < 0 || type > 255) {
    throw new NoteError("malformed-verifier-key", `A signature type is one byte; got ${type}.`);
  }
  const nameBytes = utf8.encode(name);
  const input = new Uint8Array(nameBytes.length + 2 + publicKey.length);
  input.set(nameBytes, 0);
  input[nameBytes.length] = 0x0a;
  input[nameBytes.length + 1] = type;
  input.set(publicKey, nameBytes.length + 2);
  return sha256(input).slice(0, 4);
}

function checkEd25519Key(publicKey: Uint8Array, what: string): void {
  if (publicKey.length !== 32) {
    throw new NoteError(
      "malformed-verifier-key",
      `${what}: an Ed25519 public key is 32 bytes; got ${publicKey.length}.`,
    );
  }
}

/** The verifier key of an Ed25519 key: "<name>+<8 hex digits of the key ID>+<base64(0x01 || public key)>". */
export function verifierKey(name: string, publicKey: Uint8Array): string {
  checkName(name, "The key name");
  checkEd25519Key(publicKey, `The public key of ${name}`);
  const typed = new Uint8Array(33);
  typed[0] = ED25519_TYPE;
  typed.set(publicKey, 1);
  return `${name}+${hex(keyId(name, ED25519_TYPE, publicKey))}+${base64Encode(typed)}`;
}

/** Reads a verifier key strictly (as Go's NewVerifier, with lowercase hex as the spec writes it). Ed25519 only. */
export function parseVerifierKey(vkey: string): VerifierKey {
  const bad = (why: string) =>
    new NoteError("malformed-verifier-key", `Verifier key ${JSON.stringify(vkey)} is malformed: ${why}.`);
  // The name and key ID hold no '+'; the base64 after them may.
  const first = vkey.indexOf("+");
  const second = first < 0 ? -1 : vkey.indexOf("+", first + 1);
  if (second < 0) throw bad("it is not <name>+<key ID>+<key>");
  const name = vkey.slice(0, first);
  const idHex = vkey.slice(first + 1, second);
  const keyText = vkey.slice(second + 1);
  const nameProblem = invalidNameReason(name);
  if (nameProblem !== null) throw bad(`the name is not valid (${nameProblem})`);
  if (!/^[0-9a-f]{8}$/.test(idHex)) throw bad("the key ID is not 8 lowercase hex digits");
  const typed = base64Decode(keyText);
  if (typed === null || typed.length === 0) throw bad("the key is not canonical base64");
  const type = typed[0] ?? -1;
  const publicKey = typed.slice(1);
  if (idHex !== hex(keyId(name, type, publicKey))) {
    throw bad("its key ID is not SHA-256(name || 0x0A || type || key)[:4]");
  }
  if (type !== ED25519_TYPE) {
    throw new NoteError(
      "unknown-algorithm",
      `Verifier key ${JSON.stringify(vkey)} is of signature type 0x${type.toString(16).padStart(2, "0")}; only Ed25519 (0x01) is supported.`,
    );
  }
  if (publicKey.length !== 32) throw bad(`an Ed25519 key is 32 bytes, this one ${publicKey.length}`);
  return { name, keyId: hexToId(idHex), publicKey };
}

function hexToId(idHex: string): Uint8Array {
  const id = new Uint8Array(4);
  for (let i = 0; i < 4; i++) id[i] = Number.parseInt(idHex.slice(2 * i, 2 * i + 2), 16);
  return id;
}

// ---------------------------------------------------------------------------------------------------------
// Signed notes.

const SIGNATURE_PREFIX = "\u2014 "; // em dash, space

/** The signed note: text, a blank line, one "— <name> <base64(key ID || signature)>" line per signature. */
export function signedNote(text: string, signatures: readonly NoteSignature[]): string {
  const why = invalidTextReason(text);
  if (why !== null) throw new NoteError("malformed-note", `The note text cannot be signed: ${why}.`);
  if (signatures.length === 0)
    throw new NoteError("malformed-note", "A signed note needs at least one signature.");
  if (signatures.length > MAX_SIGNATURES) {
    throw new NoteError(
      "too-many-signatures",
      `A note carries at most ${MAX_SIGNATURES} signatures; got ${signatures.length}.`,
    );
  }
  let out = `${text}\n`;
  for (const { name, keyId: id, signature } of signatures) {
    checkName(name, "The signing key's name");
    if (id.length !== 4)
      throw new NoteError("malformed-note", `A key ID is 4 bytes; got ${id.length} for ${name}.`);
    if (signature.length === 0) throw new NoteError("malformed-note", `The signature by ${name} is empty.`);
    const bytes = new Uint8Array(4 + signature.length);
    bytes.set(id, 0);
    bytes.set(signature, 4);
    out += `${SIGNATURE_PREFIX}${name} ${base64Encode(bytes)}\n`;
  }
  return out;
}

/**
 * A signed note taken apart, nothing verified: the text and each signature line. Refuses what is not a
 * signed note (Go's "malformed note"): control characters, no blank line before a final block of signature
 * lines, a line in that block that is not a signature, more than MAX_SIGNATURES signatures.
 */
export function parseNote(note: string): { text: string; signatures: NoteSignature[] } {
  const malformed = (why: string) => new NoteError("malformed-note", `Not a signed note: ${why}.`);
  if (note.length > MAX_NOTE_LENGTH) throw malformed(`it is longer than ${MAX_NOTE_LENGTH} characters`);
  if (!note.isWellFormed()) throw malformed("it is not valid Unicode (a lone surrogate)");
  if (CONTROL_BUT_NEWLINE.test(note)) throw malformed("it contains a control character other than newline");
  // The text is separated from the signatures by the note's last empty line.
  const split = note.lastIndexOf("\n\n");
  if (split < 0) throw malformed("there is no blank line before the signatures");
  const text = note.slice(0, split + 1);
  const block = note.slice(split + 2);
  if (block === "" || !block.endsWith("\n")) throw malformed("the signature lines do not end with a newline");
  const lines = block.slice(0, -1).split("\n");
  if (lines.length > MAX_SIGNATURES) {
    throw new NoteError(
      "too-many-signatures",
      `The note carries ${lines.length} signatures; at most ${MAX_SIGNATURES} are read.`,
    );
  }
  const signatures = lines.map((line, i) => {
    const where = `signature line ${i + 1}`;
    if (!line.startsWith(SIGNATURE_PREFIX))
      throw malformed(`${where} does not start with an em dash and a space`);
    const rest = line.slice(SIGNATURE_PREFIX.length);
    const space = rest.indexOf(" ");
    if (space < 0) throw malformed(`${where} has no space between the key name and the signature`);
    const name = rest.slice(0, space);
    const nameProblem = invalidNameReason(name);
    if (nameProblem !== null) throw malformed(`the key name on ${where} is not valid (${nameProblem})`);
    const bytes = base64Decode(rest.slice(space + 1));
    if (bytes === null) throw malformed(`the signature on ${where} is not canonical base64`);
    if (bytes.length < 5) throw malformed(`the signature on ${where} is shorter than a key ID and one byte`);
    return { name, keyId: bytes.slice(0, 4), signature: bytes.slice(4) };
  });
  return { text, signatures };
}

function verifyEd25519(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== 64) return false;
  try {
    // zip215 false: RFC 8032's strict rules (canonical encodings), the reading Go's crypto/ed25519 is closest to.
    return ed25519.verify(signature, message, publicKey, { zip215: false });
  } catch {
    // A public key that is not a point on the curve.
    return false;
  }
}

/**
 * Opens a signed note against the verifier keys the caller trusts. Every signature whose name and key ID
 * match a trusted key is verified, and one that fails refuses the whole note (`bad-signature`); signatures
 * by other keys are ignored, even with a trusted key's name or ID but not both (spec); at least one must
 * verify (`no-known-signature`). Only then may the text be read.
 */
export function openNote(note: string, verifiers: readonly string[]): OpenedNote {
  const known = new Map<string, { vkey: string; key: VerifierKey }>();
  const ambiguous = new Set<string>();
  for (const vkey of verifiers) {
    const key = parseVerifierKey(vkey);
    const tag = `${key.name}+${hex(key.keyId)}`;
    const seen = known.get(tag);
    // The same key listed twice is the same key; two different keys under one name and ID are not.
    if (seen !== undefined && !equalBytes(seen.key.publicKey, key.publicKey)) ambiguous.add(tag);
    else known.set(tag, { vkey, key });
  }
  const { text, signatures } = parseNote(note);
  const message = utf8.encode(text);
  const verifiedBy: string[] = [];
  const ignored: string[] = [];
  for (const { name, keyId: id, signature } of signatures) {
    const tag = `${name}+${hex(id)}`;
    if (ambiguous.has(tag)) {
      throw new NoteError(
        "ambiguous-verifier",
        `Two different trusted keys are named ${tag}: fix the list of verifier keys.`,
      );
    }
    const trusted = known.get(tag);
    if (trusted === undefined) {
      if (!ignored.includes(tag)) ignored.push(tag);
      continue;
    }
    if (!verifyEd25519(trusted.key.publicKey, message, signature)) {
      throw new NoteError(
        "bad-signature",
        `The signature by trusted key ${tag} does not verify: the note was changed after it was signed, or the signature is damaged.`,
      );
    }
    if (!verifiedBy.includes(trusted.vkey)) verifiedBy.push(trusted.vkey);
  }
  if (verifiedBy.length === 0) {
    const by = ignored.length === 0 ? "nothing" : ignored.join(", ");
    const trustedTags = [...known.keys()];
    throw new NoteError(
      "no-known-signature",
      `The note is signed by no trusted key (signed by ${by}; trusted: ${trustedTags.length === 0 ? "none" : trustedTags.join(", ")}).`,
    );
  }
  return { text, verifiedBy, ignored };
}

// ---------------------------------------------------------------------------------------------------------
// Checkpoints.

/** The checkpoint's note text: origin, size, base64 root hash, extension lines, each ending in "\n". */
export function formatCheckpoint(c: Checkpoint): string {
  const bad = (why: string) =>
    new NoteError("malformed-checkpoint", `The checkpoint cannot be written: ${why}.`);
  // The spec only requires a non-empty origin; Keyward's is also a valid key name (it SHOULD be), because
  // the log's key carries the origin as its name.
  const originProblem = invalidNameReason(c.origin);
  if (originProblem !== null)
    throw bad(`the origin ${JSON.stringify(c.origin)} is not valid (${originProblem})`);
  if (!Number.isSafeInteger(c.size) || c.size < 0)
    throw bad(`the size ${c.size} is not a whole number from 0`);
  if (c.rootHash.length !== ROOT_HASH_LENGTH)
    throw bad(`the root hash is ${c.rootHash.length} bytes, not 32`);
  for (const line of c.extensions) {
    if (line === "") throw bad("an extension line is empty");
    const why = invalidTextReason(`${line}\n`);
    if (why !== null || line.includes("\n"))
      throw bad(`an extension line is not one line of text (${why ?? "a newline"})`);
  }
  return [c.origin, String(c.size), base64Encode(c.rootHash), ...c.extensions].map((l) => `${l}\n`).join("");
}

/**
 * Reads a checkpoint's note text strictly: at least three non-empty lines, each ending in "\n"; the size in
 * decimal without sign or leading zero (up to 2^53 - 1, what a JavaScript number holds exactly); the root
 * hash 32 bytes of canonical base64; extension lines non-empty.
 */
export function parseCheckpoint(text: string): Checkpoint {
  const bad = (why: string) => new NoteError("malformed-checkpoint", `Not a checkpoint: ${why}.`);
  const why = invalidTextReason(text);
  if (why !== null) throw bad(why);
  const lines = text.slice(0, -1).split("\n");
  const [origin, sizeLine, hashLine, ...extensions] = lines;
  if (origin === undefined || sizeLine === undefined || hashLine === undefined) {
    throw bad(`it has ${lines.length} lines; a checkpoint has an origin, a size and a root hash`);
  }
  if (origin === "") throw bad("the origin (line 1) is empty");
  if (!/^(0|[1-9][0-9]*)$/.test(sizeLine)) {
    throw bad(
      `the tree size (line 2) ${JSON.stringify(sizeLine)} is not a decimal number without sign or leading zeros`,
    );
  }
  const size = Number(sizeLine);
  if (!Number.isSafeInteger(size)) throw bad(`the tree size ${sizeLine} is larger than 2^53 - 1`);
  const rootHash = base64Decode(hashLine);
  if (rootHash === null) throw bad("the root hash (line 3) is not canonical base64");
  if (rootHash.length !== ROOT_HASH_LENGTH) throw bad(`the root hash is ${rootHash.length} bytes, not 32`);
  const empty = extensions.indexOf("");
  if (empty >= 0) throw bad(`extension line ${empty + 4} is empty`);
  return { origin, size, rootHash, extensions };
}

/**
 * A signed checkpoint opened against trusted verifier keys (openNote) and read (parseCheckpoint). With
 * `origin`, a checkpoint of another log is refused (`wrong-origin`).
 */
export function openCheckpoint(
  note: string,
  verifiers: readonly string[],
  options: { origin?: string } = {},
): { checkpoint: Checkpoint; verifiedBy: string[]; ignored: string[] } {
  const opened = openNote(note, verifiers);
  const checkpoint = parseCheckpoint(opened.text);
  if (options.origin !== undefined && checkpoint.origin !== options.origin) {
    throw new NoteError(
      "wrong-origin",
      `The checkpoint is of log ${JSON.stringify(checkpoint.origin)}, not ${JSON.stringify(options.origin)}.`,
    );
  }
  return { checkpoint, verifiedBy: opened.verifiedBy, ignored: opened.ignored };
}
