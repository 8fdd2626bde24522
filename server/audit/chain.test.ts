// The hash chain as pure functions: the format an offline checker must reproduce, and what verification catches.
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  type ChainedEntry,
  type ChainEntry,
  canonicalJson,
  entryHash,
  GENESIS_HASH,
  verifyChain,
} from "./chain";

const entry = (seq: number, data: unknown = { memberId: `m-${seq}` }): ChainEntry => ({
  seq,
  at: `2026-01-0${seq}T09:30:00.000Z`,
  actor: "member:7d0b3c5e-1111-4222-8333-944445555666",
  action: "member.reactivated",
  subject: `member:m-${seq}`,
  data,
});

/** A correctly chained run of `n` entries starting at seq 1. */
function chain(n: number): ChainedEntry[] {
  const out: ChainedEntry[] = [];
  let prevHash = GENESIS_HASH;
  for (let seq = 1; seq <= n; seq++) {
    const e = entry(seq);
    const hash = entryHash(prevHash, e);
    out.push({ ...e, prevHash, hash });
    prevHash = hash;
  }
  return out;
}

function at<T>(items: readonly T[], index: number): T {
  const item = items[index];
  if (item === undefined) throw new Error(`no item at ${index}`);
  return item;
}

describe("entryHash", () => {
  it("is SHA-256 of the previous hash followed by the RFC 8785 canonical entry (the documented format)", () => {
    const e: ChainEntry = {
      seq: 1,
      at: "2026-01-01T00:00:00.000Z",
      actor: "system",
      action: "setup.code_issued",
      subject: "setup-code:abc",
      data: { setupCodeId: "abc", expiresAt: "2026-01-01T00:15:00.000Z" },
    };
    // Written out by hand: keys sorted, no whitespace.
    const canonical =
      '{"action":"setup.code_issued","actor":"system","at":"2026-01-01T00:00:00.000Z",' +
      '"data":{"expiresAt":"2026-01-01T00:15:00.000Z","setupCodeId":"abc"},"seq":1,"subject":"setup-code:abc"}';
    const expected = createHash("sha256")
      .update(GENESIS_HASH + canonical, "utf8")
      .digest("hex");
    expect(entryHash(GENESIS_HASH, e)).toBe(expected);
  });

  it("is deterministic and does not depend on the order keys were written in", () => {
    const a = entry(1, { b: [1, { y: 2, x: 1 }], a: "z" });
    const reordered: ChainEntry = {
      data: { a: "z", b: [1, { x: 1, y: 2 }] },
      subject: a.subject,
      action: a.action,
      actor: a.actor,
      at: a.at,
      seq: a.seq,
    };
    expect(entryHash(GENESIS_HASH, a)).toBe(entryHash(GENESIS_HASH, a));
    expect(entryHash(GENESIS_HASH, reordered)).toBe(entryHash(GENESIS_HASH, a));
  });

  it("changes with the previous hash and with any field", () => {
    const base = entryHash(GENESIS_HASH, entry(1));
    expect(entryHash("1".repeat(64), entry(1))).not.toBe(base);
    expect(entryHash(GENESIS_HASH, { ...entry(1), actor: "system" })).not.toBe(base);
    expect(entryHash(GENESIS_HASH, { ...entry(1), data: { memberId: "m-2" } })).not.toBe(base);
    // Array order is meaningful (it is data, not a set of keys).
    expect(entryHash(GENESIS_HASH, entry(1, { roles: ["admin", "auditor"] }))).not.toBe(
      entryHash(GENESIS_HASH, entry(1, { roles: ["auditor", "admin"] })),
    );
  });
});

describe("verifyChain", () => {
  it("finds nothing wrong in an intact chain", () => {
    expect(verifyChain(chain(4))).toEqual([]);
  });

  it("finds a changed data field", () => {
    const entries = chain(4);
    entries[1] = { ...at(entries, 1), data: { memberId: "someone-else" } };
    expect(verifyChain(entries)).toEqual([{ seq: 2, problem: "hash" }]);
  });

  it("moves the break to the next entry when the tamperer also recomputes the changed entry's hash", () => {
    const entries = chain(4);
    const forged = { ...at(entries, 1), data: { memberId: "someone-else" } };
    entries[1] = { ...forged, hash: entryHash(forged.prevHash, forged) };
    expect(verifyChain(entries)).toEqual([{ seq: 3, problem: "prev_hash" }]);
  });

  it("finds a changed prev_hash", () => {
    const entries = chain(4);
    entries[2] = { ...at(entries, 2), prevHash: "f".repeat(64) };
    expect(verifyChain(entries)).toContainEqual({ seq: 3, problem: "prev_hash" });
  });

  it("finds a gap where an entry was removed", () => {
    const entries = chain(4);
    entries.splice(1, 1);
    expect(verifyChain(entries)).toEqual([
      { seq: 3, problem: "gap" },
      { seq: 3, problem: "prev_hash" },
    ]);
  });

  it("checks a run from the middle against the hash before it", () => {
    const entries = chain(5);
    const before = at(entries, 1).hash;
    expect(verifyChain(entries.slice(2), before)).toEqual([]);
    expect(verifyChain(entries.slice(2))).toEqual([{ seq: 3, problem: "prev_hash" }]);
  });
});

describe("canonicalJson", () => {
  it("sorts keys and drops whitespace", () => {
    expect(canonicalJson({ b: 1, a: [true, null, "x"], c: { e: 1.5, d: -2 } })).toBe(
      '{"a":[true,null,"x"],"b":1,"c":{"d":-2,"e":1.5}}',
    );
  });

  it.each([
    ["a Date", { when: new Date(0) }],
    ["a bigint", { amount: 10n }],
    ["NaN", { n: Number.NaN }],
    ["Infinity", [Number.POSITIVE_INFINITY]],
    ["undefined", { missing: undefined }],
    [
      "a class instance",
      {
        value: new (class Money {
          cents = 5;
        })(),
      },
    ],
    ["a Map", new Map([["a", 1]])],
  ])("refuses %s", (_, value) => {
    expect(() => canonicalJson(value)).toThrow(TypeError);
  });
});
