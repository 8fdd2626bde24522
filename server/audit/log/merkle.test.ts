// The RFC 9162 tree against the published Certificate Transparency vectors (testdata/rfc6962-vectors.ts, from
// github.com/transparency-dev/merkle), against a second implementation (merkletreejs 0.6.0), and at sizes above
// 2^32 where a 32-bit shift would go wrong. Properties over random trees are in merkle.property.test.ts.
import { readFileSync } from "node:fs";
import path from "node:path";
import { sha256 } from "@noble/hashes/sha2";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils";
import { MerkleTree } from "merkletreejs";
import { describe, expect, it } from "vitest";
import {
  appendLeaves,
  consistencyProof,
  consistencyProofPlan,
  EMPTY_ROOT,
  foldRange,
  frontierIds,
  type Hash,
  HASH_SIZE,
  inclusionProof,
  inclusionProofPlan,
  leafHash,
  type NodeId,
  nodeHash,
  nodeRange,
  ProofError,
  rootFromFrontier,
  rootOf,
  verifyConsistency,
  verifyInclusion,
} from "./merkle";
import {
  COMPACT_TREES,
  CONSISTENCY_ERRORS,
  CONSISTENCY_NODES,
  CONSISTENCY_PROOFS,
  type GoNodes,
  INCLUSION_ERRORS,
  INCLUSION_NODES,
  INCLUSION_PROOFS,
  LEAF_INPUTS,
  NODE_HASHES,
  ROOT_HASHES,
  SOME_HASH,
} from "./testdata/rfc6962-vectors";

const hex = (h: Uint8Array): string => bytesToHex(h);
const hexes = (hs: readonly Uint8Array[]): string[] => hs.map(hex);
const bytes = (s: string): Uint8Array => hexToBytes(s);
const at = <T>(xs: readonly T[], i: number): T => {
  const x = xs[i];
  if (x === undefined) throw new Error(`no element ${i}`);
  return x;
};

const LEAVES: Hash[] = LEAF_INPUTS.map((d) => leafHash(bytes(d)));
/** A stored node, as the database would hand it back: NODE_HASHES[level][index]. */
const storedNode = (id: NodeId): Hash => bytes(at(at(NODE_HASHES, id.level), id.index));
const ids = (plan: NodeId[][]): [number, number][][] => plan.map((e) => e.map((id) => [id.level, id.index]));
/** proof_test.go's form (ids + one rehashed run, smallest first) as a plan (one element each, largest first). */
function goPlan(nodes: GoNodes): [number, number][][] {
  const [begin, end] = nodes.rehash ?? [nodes.ids.length, nodes.ids.length];
  const single = (i: number): [number, number][] => [[...at(nodes.ids, i)]];
  return [
    ...nodes.ids.slice(0, begin).map((_, i) => single(i)),
    ...(end > begin
      ? [
          nodes.ids
            .slice(begin, end)
            .map(([l, i]): [number, number] => [l, i])
            .reverse(),
        ]
      : []),
    ...nodes.ids.slice(end).map((_, i) => single(end + i)),
  ];
}
/** desc, index, size, leaf, proof, root. */
type InclusionProbe = [string, number, number, Uint8Array, Uint8Array[], Uint8Array];
/** desc, m, n, proof, old root, new root. */
type ConsistencyProbe = [string, number, number, Uint8Array[], Uint8Array, Uint8Array];
/** A copy of a hash with bits of its first byte flipped. */
function flipped(h: Uint8Array, mask: number): Uint8Array {
  const copy = h.slice();
  copy[0] = (copy[0] ?? 0) ^ mask;
  return copy;
}
/** Refused as an impossible claim (RangeError) or as a bad proof (ProofError); nothing else, never accepted. */
function refusal(f: () => void): "range" | "proof" {
  try {
    f();
  } catch (err) {
    if (err instanceof ProofError) return "proof";
    if (err instanceof RangeError) return "range";
    throw err;
  }
  throw new Error("accepted");
}

describe("published RFC 6962 vectors (transparency-dev/merkle testonly)", () => {
  it("hashes the empty tree, the 8 leaves and every perfect subtree as published", () => {
    expect(hex(EMPTY_ROOT)).toBe(ROOT_HASHES[0]);
    expect(hexes(LEAVES)).toEqual(NODE_HASHES[0]);
    for (let level = 1; level < NODE_HASHES.length; level++) {
      const below = at(NODE_HASHES, level - 1);
      const built = at(NODE_HASHES, level).map((_, i) =>
        hex(nodeHash(bytes(at(below, 2 * i)), bytes(at(below, 2 * i + 1)))),
      );
      expect(built).toEqual(NODE_HASHES[level]);
    }
  });

  it("rootOf gives the published root of each size 0..8", () => {
    for (let n = 0; n <= 8; n++) expect(hex(rootOf(LEAVES.slice(0, n))), `size ${n}`).toBe(ROOT_HASHES[n]);
  });

  it("frontierIds is the published compact tree of each size, and its hashes fold to the root", () => {
    for (let n = 0; n <= 8; n++) {
      expect(ids([frontierIds(n)])[0], `size ${n}`).toEqual(COMPACT_TREES[n]);
      expect(hex(rootFromFrontier(frontierIds(n).map(storedNode))), `size ${n}`).toBe(ROOT_HASHES[n]);
    }
  });

  it("appendLeaves, one leaf at a time or all at once, completes exactly the published nodes", () => {
    const expected = NODE_HASHES.flatMap((row, level) =>
      row.map((h, index) => `${level}/${index}=${h}`),
    ).sort();
    let tree = { size: 0, frontier: [] as Hash[] };
    const oneByOne: string[] = [];
    for (const [i, leaf] of LEAVES.entries()) {
      const step = appendLeaves(tree.size, tree.frontier, [leaf]);
      oneByOne.push(...step.nodes.map((n) => `${n.level}/${n.index}=${hex(n.hash)}`));
      tree = step;
      expect(tree.size).toBe(i + 1);
      expect(hexes(tree.frontier)).toEqual(
        at(COMPACT_TREES, i + 1).map(([l, x]) => at(at(NODE_HASHES, l), x)),
      );
      expect(hex(rootFromFrontier(tree.frontier))).toBe(ROOT_HASHES[i + 1]);
    }
    expect(oneByOne.sort()).toEqual(expected);
    const atOnce = appendLeaves(0, [], LEAVES);
    expect(atOnce.nodes.map((n) => `${n.level}/${n.index}=${hex(n.hash)}`).sort()).toEqual(expected);
    expect(hexes(atOnce.frontier)).toEqual([ROOT_HASHES[8]]);
  });
});

describe("published inclusion proofs (transparency-dev/merkle cmd/proofgen, proof/verify_test.go)", () => {
  for (const v of INCLUSION_PROOFS) {
    const root = bytes(at(ROOT_HASHES, v.size));
    const leaf = at(LEAVES, v.index);
    const proof = v.proof.map(bytes);

    it(`leaf ${v.index} of ${v.size}: computed, planned and verified as published`, () => {
      expect(hexes(inclusionProof(LEAVES, v.index, v.size))).toEqual(v.proof);
      expect(inclusionProofPlan(v.index, v.size).map((e) => hex(foldRange(e.map(storedNode))))).toEqual(
        v.proof,
      );
      expect(() => verifyInclusion(leaf, v.index, v.size, proof, root)).not.toThrow();
    });

    it(`leaf ${v.index} of ${v.size}: every corrupted probe of proofgen's invalidInclusionProof is refused`, () => {
      const garbage = new Uint8Array(0);
      const probes: InclusionProbe[] = [
        ["leafIdx sub 1", v.index - 1, v.size, leaf, proof, root],
        ["leafIdx plus 1", v.index + 1, v.size, leaf, proof, root],
        ["leafIdx XOR 2", v.index ^ 2, v.size, leaf, proof, root],
        ["treeSize mul 2", v.index, v.size * 2, leaf, proof, root],
        ["treeSize div 2", v.index, Math.floor(v.size / 2), leaf, proof, root],
        ["wrong leaf", v.index, v.size, new TextEncoder().encode("WrongLeaf"), proof, root],
        ["empty root", v.index, v.size, leaf, proof, bytes(at(ROOT_HASHES, 0))],
        ["random root", v.index, v.size, leaf, proof, bytes(SOME_HASH)],
        ["trailing garbage", v.index, v.size, leaf, [...proof, garbage], root],
        ["trailing root", v.index, v.size, leaf, [...proof, root], root],
        ["preceding garbage", v.index, v.size, leaf, [garbage, ...proof], root],
        ["preceding root", v.index, v.size, leaf, [root, ...proof], root],
        // proofgen flips bit 3 of the first byte of each element in turn.
        ...proof.map((_, i): InclusionProbe => {
          const wrong = proof.map((p, k) => (k === i ? flipped(p, 8) : p));
          return [`modified proof[${i}] bit 3`, v.index, v.size, leaf, wrong, root];
        }),
      ];
      if (proof.length > 0)
        probes.push(["removed component", v.index, v.size, leaf, proof.slice(0, -1), root]);
      if (proof.length > 1) {
        const inserted = [at(proof, 0), bytes(SOME_HASH), ...proof.slice(1)];
        probes.push(["inserted component", v.index, v.size, leaf, inserted, root]);
      }
      for (const [desc, index, size, l, p, r] of probes) {
        // Out-of-range claims (index < 0, index >= size) are RangeErrors; every other probe is a ProofError.
        const impossible = index < 0 || index >= size;
        expect(
          refusal(() => verifyInclusion(l, index, size, p, r)),
          desc,
        ).toBe(impossible ? "range" : "proof");
      }
    });
  }

  it("single entry and empty-tree probes (proofgen singleEntryInclusionProbes, staticInclusionProbes)", () => {
    const hash = leafHash(new TextEncoder().encode("data"));
    const none = new Uint8Array(0);
    expect(() => verifyInclusion(hash, 0, 1, [], hash)).not.toThrow();
    expect(refusal(() => verifyInclusion(none, 0, 1, [], hash))).toBe("proof");
    expect(refusal(() => verifyInclusion(hash, 0, 1, [], none))).toBe("proof");
    expect(refusal(() => verifyInclusion(none, 0, 1, [], none))).toBe("proof");
    for (const [index, size] of [
      [0, 0],
      [0, 1],
      [1, 0],
      [2, 1],
    ] as const) {
      const some = bytes(SOME_HASH);
      const impossible = index >= size;
      expect(refusal(() => verifyInclusion(some, index, size, [], none))).toBe(
        impossible ? "range" : "proof",
      );
      expect(refusal(() => verifyInclusion(none, index, size, [], EMPTY_ROOT))).toBe(
        impossible ? "range" : "proof",
      );
      expect(refusal(() => verifyInclusion(some, index, size, [], EMPTY_ROOT))).toBe(
        impossible ? "range" : "proof",
      );
    }
  });
});

describe("published consistency proofs (transparency-dev/merkle cmd/proofgen, proof/verify_test.go)", () => {
  for (const v of CONSISTENCY_PROOFS) {
    const root1 = bytes(at(ROOT_HASHES, v.m));
    const root2 = bytes(at(ROOT_HASHES, v.n));
    const proof = v.proof.map(bytes);

    it(`${v.m} -> ${v.n}: computed, planned and verified as published`, () => {
      expect(hexes(consistencyProof(LEAVES, v.m, v.n))).toEqual(v.proof);
      expect(consistencyProofPlan(v.m, v.n).map((e) => hex(foldRange(e.map(storedNode))))).toEqual(v.proof);
      expect(() => verifyConsistency(v.m, v.n, proof, root1, root2)).not.toThrow();
    });

    // proofgen corrupts only the non-trivial proofs (m < n).
    if (proof.length === 0) continue;
    it(`${v.m} -> ${v.n}: every corrupted probe of proofgen's invalidConsistencyProof is refused`, () => {
      const garbage = new Uint8Array(0);
      const wrong = new TextEncoder().encode("WrongRoot");
      const probes: ConsistencyProbe[] = [
        ["size1 sub 1", v.m - 1, v.n, proof, root1, root2],
        ["size1 plus 1", v.m + 1, v.n, proof, root1, root2],
        ["size1 XOR 2", v.m ^ 2, v.n, proof, root1, root2],
        ["size2 mul 2", v.m, v.n * 2, proof, root1, root2],
        ["size2 div 2", v.m, Math.floor(v.n / 2), proof, root1, root2],
        ["wrong root1", v.m, v.n, proof, wrong, root2],
        ["wrong root2", v.m, v.n, proof, root1, wrong],
        ["swapped roots", v.m, v.n, proof, root2, root1],
        ["empty proof", v.m, v.n, [], root1, root2],
        ["trailing garbage", v.m, v.n, [...proof, garbage], root1, root2],
        ["trailing root1", v.m, v.n, [...proof, root1], root1, root2],
        ["trailing root2", v.m, v.n, [...proof, root2], root1, root2],
        ["preceding garbage", v.m, v.n, [garbage, ...proof], root1, root2],
        ["preceding root1", v.m, v.n, [root1, ...proof], root1, root2],
        ["preceding root2", v.m, v.n, [root2, ...proof], root1, root2],
        ["preceding proof[0]", v.m, v.n, [at(proof, 0), ...proof], root1, root2],
        ["truncated proof", v.m, v.n, proof.slice(0, -1), root1, root2],
        ...proof.map((_, i): ConsistencyProbe => {
          const wrong = proof.map((p, k) => (k === i ? flipped(p, 16) : p));
          return [`modified proof[${i}] bit 4`, v.m, v.n, wrong, root1, root2];
        }),
      ];
      for (const [desc, m, n, p, r1, r2] of probes) {
        const impossible = m > n;
        expect(
          refusal(() => verifyConsistency(m, n, p, r1, r2)),
          desc,
        ).toBe(impossible ? "range" : "proof");
      }
    });
  }

  it("the static probes (proofgen staticConsistencyProbes), where they are defined the same way here", () => {
    const care1 = new TextEncoder().encode("don't care 1");
    const care2 = new TextEncoder().encode("don't care 2");
    const empty = EMPTY_ROOT;
    const root = bytes(at(ROOT_HASHES, 1));
    expect(refusal(() => verifyConsistency(0, 0, [], care1, care2))).toBe("proof");
    expect(refusal(() => verifyConsistency(1, 1, [], care1, care2))).toBe("proof");
    expect(refusal(() => verifyConsistency(0, 0, [], care1, care1))).toBe("proof"); // not 32-byte hashes
    expect(refusal(() => verifyConsistency(0, 1, [], care1, care2))).toBe("proof");
    expect(refusal(() => verifyConsistency(1, 0, [], care1, care2))).toBe("range");
    expect(refusal(() => verifyConsistency(2, 1, [], care1, care2))).toBe("range");
    expect(refusal(() => verifyConsistency(1, 2, [], care1, care2))).toBe("proof");
    expect(refusal(() => verifyConsistency(0, 0, [], empty, bytes(SOME_HASH)))).toBe("proof");
    expect(refusal(() => verifyConsistency(1, 1, [], empty, bytes(SOME_HASH)))).toBe("proof");
    expect(refusal(() => verifyConsistency(0, 0, [empty], empty, empty))).toBe("proof");
    expect(refusal(() => verifyConsistency(1, 1, [empty], empty, empty))).toBe("proof");
    expect(refusal(() => verifyConsistency(0, 1, [empty], empty, empty))).toBe("proof");
    // Published as valid: equal sizes, equal roots, empty proof.
    expect(() => verifyConsistency(1, 1, [], root, root)).not.toThrow();
    // Defined differently here: Go refuses any proof from size 0 as meaningless; here the empty tree, whose only
    // root is EMPTY_ROOT, is a prefix of every tree (with an empty proof).
    expect(() => verifyConsistency(0, 1, [], empty, root)).not.toThrow();
    expect(() => verifyConsistency(0, 0, [], empty, empty)).not.toThrow();
  });
});

describe("proof plans as published (transparency-dev/merkle proof/proof_test.go)", () => {
  it("inclusion: the node ids of each published case, largest first within an element", () => {
    for (const c of INCLUSION_NODES) {
      expect(ids(inclusionProofPlan(c.index, c.size)), `${c.size}:${c.index}`).toEqual(goPlan(c.want));
    }
    for (const c of INCLUSION_ERRORS) {
      expect(() => inclusionProofPlan(c.index, c.size), `${c.size}:${c.index}`).toThrow(RangeError);
    }
  });

  it("consistency: the node ids of each published case; an old size above the new one is refused", () => {
    for (const c of CONSISTENCY_NODES) {
      expect(ids(consistencyProofPlan(c.m, c.n)), `${c.m}:${c.n}`).toEqual(goPlan(c.want));
    }
    for (const c of CONSISTENCY_ERRORS) expect(() => consistencyProofPlan(c.m, c.n)).toThrow(RangeError);
    // Go refuses size1 = 0; here it is the empty plan (the brief's API: m = 0 or m = n give an empty plan).
    expect(consistencyProofPlan(0, 5)).toEqual([]);
    expect(consistencyProofPlan(0, 0)).toEqual([]);
  });
});

// merkletreejs matches RFC 6962 when handed leaf hashes (hashLeaves: false) and a hashFn that is the node hash
// of the concatenated pair; it promotes an unpaired last node unchanged, which gives the RFC's shape.
function merkletreejs(leaves: readonly Hash[]): MerkleTree {
  const nodeFn = (pair: Buffer): Buffer =>
    Buffer.from(
      sha256
        .create()
        .update(new Uint8Array([1]))
        .update(pair)
        .digest(),
    );
  return new MerkleTree(
    leaves.map((l) => Buffer.from(l)),
    nodeFn,
    { hashLeaves: false },
  );
}
const someLeaves = (n: number, salt: string): Hash[] =>
  Array.from({ length: n }, (_, i) => leafHash(new TextEncoder().encode(`${salt}/${i}`)));

describe("second implementation: merkletreejs 0.6.0", () => {
  it("it agrees with the published roots, so the cross-check checks something", () => {
    for (let n = 1; n <= 8; n++) {
      expect(merkletreejs(LEAVES.slice(0, n)).getRoot().toString("hex")).toBe(ROOT_HASHES[n]);
    }
  });

  it("same roots and inclusion paths for every size 1..300", () => {
    const leaves = someLeaves(300, "cross");
    for (let size = 1; size <= 300; size++) {
      const tree = merkletreejs(leaves.slice(0, size));
      expect(hex(rootOf(leaves.slice(0, size))), `root of ${size}`).toBe(tree.getRoot().toString("hex"));
      // Every index of the small trees; beyond 64, the edges and a spread of indexes in between.
      const indexes =
        size <= 64
          ? Array.from({ length: size }, (_, i) => i)
          : [
              0,
              1,
              size - 2,
              size - 1,
              ...Array.from({ length: 8 }, (_, k) => Math.floor(((k + 1) * size) / 10)),
            ];
      for (const index of indexes) {
        const theirs = tree
          .getProof(Buffer.from(at(leaves, index)), index)
          .map((p) => p.data.toString("hex"));
        expect(hexes(inclusionProof(leaves, index, size)), `leaf ${index} of ${size}`).toEqual(theirs);
      }
    }
  });

  it("same roots and inclusion paths at a few larger sizes", () => {
    // Sizes around and between powers of two, plus fixed pseudo-random ones (fixed so a failure reproduces).
    const sizes = [511, 512, 513, 1000, 1023, 1025, 2047, 3001, 4097, 5555];
    const leaves = someLeaves(5555, "large");
    let seed = 15;
    const next = (bound: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % bound;
    };
    for (const size of sizes) {
      const mine = appendLeaves(0, [], leaves.slice(0, size));
      const nodes = new Map(mine.nodes.map((n) => [`${n.level}/${n.index}`, n.hash]));
      const fetch = (id: NodeId): Hash => {
        const h = nodes.get(`${id.level}/${id.index}`);
        if (h === undefined) throw new Error(`node ${id.level}/${id.index} is not stored for size ${size}`);
        return h;
      };
      const tree = merkletreejs(leaves.slice(0, size));
      expect(hex(rootFromFrontier(mine.frontier)), `root of ${size}`).toBe(tree.getRoot().toString("hex"));
      for (const index of [0, size - 1, next(size), next(size), next(size)]) {
        const theirs = tree
          .getProof(Buffer.from(at(leaves, index)), index)
          .map((p) => p.data.toString("hex"));
        const planned = inclusionProofPlan(index, size).map((e) => hex(foldRange(e.map(fetch))));
        expect(planned, `leaf ${index} of ${size}`).toEqual(theirs);
      }
    }
  });
});

describe("sizes beyond 32 bits", () => {
  // A tree whose leaves are all the same hash: every perfect subtree of level l has the same hash H[l], so the
  // root and every proof of a tree of any size can be built from the plans without the leaves.
  const H: Hash[] = [leafHash(new TextEncoder().encode("same"))];
  for (let l = 1; l <= 53; l++) H.push(nodeHash(at(H, l - 1), at(H, l - 1)));
  const uniform = (id: NodeId): Hash => at(H, id.level);
  const rootOfSize = (n: number): Hash => rootFromFrontier(frontierIds(n).map(uniform));

  it("frontiers, plans and verification hold above 2^32 (no 32-bit shifts)", () => {
    expect(ids([frontierIds(2 ** 40 + 5)])[0]).toEqual([
      [40, 0],
      [2, 2 ** 38],
      [0, 2 ** 40 + 4],
    ]);
    const cases: [number, number][] = [
      [2 ** 33 + 1, 2 ** 34],
      [2 ** 32, 2 ** 32 + 1],
      [2 ** 50 + 12345, 2 ** 52 + 3],
      [Number.MAX_SAFE_INTEGER - 1, Number.MAX_SAFE_INTEGER],
    ];
    for (const [index, size] of cases) {
      const plan = inclusionProofPlan(index, size);
      for (const id of plan.flat()) expect(nodeRange(id).end).toBeLessThanOrEqual(size);
      const proof = plan.map((e) => foldRange(e.map(uniform)));
      expect(() => verifyInclusion(at(H, 0), index, size, proof, rootOfSize(size))).not.toThrow();
      expect(refusal(() => verifyInclusion(at(H, 0), index, size, proof.slice(1), rootOfSize(size)))).toBe(
        "proof",
      );
      // Consistency from `index` leaves to size (2^32 -> 2^32 + 1: an old tree that is a power of two).
      const cplan = consistencyProofPlan(index, size);
      const cproof = cplan.map((e) => foldRange(e.map(uniform)));
      expect(() => verifyConsistency(index, size, cproof, rootOfSize(index), rootOfSize(size))).not.toThrow();
      expect(
        refusal(() => verifyConsistency(index, size, cproof.slice(1), rootOfSize(index), rootOfSize(size))),
      ).toBe("proof");
    }
  });
});

describe("input checks", () => {
  it("sizes and indexes must be non-negative safe integers, index < size, m <= n", () => {
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
      expect(() => frontierIds(bad)).toThrow(RangeError);
      expect(() => inclusionProofPlan(0, bad)).toThrow(RangeError);
      expect(() => inclusionProofPlan(bad, 10)).toThrow(RangeError);
      expect(() => consistencyProofPlan(bad, 10)).toThrow(RangeError);
      expect(() => consistencyProofPlan(1, bad)).toThrow(RangeError);
      expect(() => appendLeaves(bad, [], [])).toThrow(RangeError);
      expect(() => verifyInclusion(at(LEAVES, 0), bad, 8, [], EMPTY_ROOT)).toThrow(RangeError);
      expect(() => verifyConsistency(1, bad, [], EMPTY_ROOT, EMPTY_ROOT)).toThrow(RangeError);
    }
    expect(() => inclusionProofPlan(8, 8)).toThrow(RangeError);
    expect(() => consistencyProofPlan(9, 8)).toThrow(RangeError);
    expect(() => inclusionProof(LEAVES, 0, 9)).toThrow(RangeError); // more leaves than given
    expect(() => consistencyProof(LEAVES, 1, 9)).toThrow(RangeError);
  });

  it("hashes must be 32 bytes; a frontier must match its size; a range is never empty", () => {
    expect(HASH_SIZE).toBe(32);
    expect(() => nodeHash(new Uint8Array(31), at(LEAVES, 0))).toThrow(RangeError);
    expect(() => rootOf([new Uint8Array(33)])).toThrow(RangeError);
    expect(() => appendLeaves(3, [at(LEAVES, 0)], [])).toThrow(RangeError); // size 3 has 2 frontier hashes
    expect(() => appendLeaves(0, [], [new Uint8Array(5)])).toThrow(RangeError);
    expect(() => foldRange([])).toThrow(RangeError);
    expect(hex(rootFromFrontier([]))).toBe(ROOT_HASHES[0]);
  });

  it("a ProofError carries its reason in plain English", () => {
    try {
      verifyInclusion(at(LEAVES, 0), 0, 8, [], bytes(at(ROOT_HASHES, 8)));
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ProofError);
      expect((err as ProofError).reason).toBe("the proof has too few elements for leaf 0 of a tree of 8");
    }
  });

  it("EMPTY_ROOT changed by a caller does not change what the module compares against", () => {
    const saved = EMPTY_ROOT.slice();
    EMPTY_ROOT.set(flipped(EMPTY_ROOT, 1));
    try {
      expect(hex(rootOf([]))).toBe(ROOT_HASHES[0]);
      expect(() => verifyConsistency(0, 1, [], saved, at(LEAVES, 0))).not.toThrow();
    } finally {
      EMPTY_ROOT.set(saved);
    }
  });
});

describe("merkle.ts runs in the browser and a CLI", () => {
  it("imports nothing but @noble/hashes/sha2 (no Node built-in, no server-only)", () => {
    const source = readFileSync(path.join(import.meta.dirname, "merkle.ts"), "utf8");
    const imports = [...source.matchAll(/^\s*import\s[^;]*?from\s+"([^"]+)"|^\s*import\s+"([^"]+)"/gm)].map(
      (m) => m[1] ?? m[2],
    );
    expect(imports).toEqual(["@noble/hashes/sha2"]);
    const code = source.replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, "");
    expect(code).not.toMatch(/require\(|process\.|\bBuffer\b|server-only|["'`]node:/);
  });
});
