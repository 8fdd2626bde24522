// Properties of the RFC 9162 tree over random trees (fast-check): appending in chunks builds the tree rootOf
// defines; plans folded from stored nodes are the proofs the RFC's recursion gives and name only nodes complete
// at that size; proofs verify; and every way of tampering with one is refused. The published vectors and the
// second implementation are in merkle.test.ts.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  appendLeaves,
  consistencyProof,
  consistencyProofPlan,
  foldRange,
  frontierIds,
  type Hash,
  inclusionProof,
  inclusionProofPlan,
  leafHash,
  type NodeId,
  nodeRange,
  ProofError,
  rootFromFrontier,
  rootOf,
  verifyConsistency,
  verifyInclusion,
} from "./merkle";

const RUNS = { numRuns: 300 };
const MAX = 300;

const hex = (h: Uint8Array): string => Buffer.from(h).toString("hex");
const at = <T>(xs: readonly T[], i: number): T => {
  const x = xs[i];
  if (x === undefined) throw new Error(`no element ${i}`);
  return x;
};
const key = (id: NodeId): string => `${id.level}/${id.index}`;
const leavesFor = (n: number, salt: number): Hash[] =>
  Array.from({ length: n }, (_, i) => leafHash(new TextEncoder().encode(`${salt}:${i}`)));

/** A tree built the way storage builds it: appended in chunks, every completed perfect node kept by id. */
function stored(leaves: readonly Hash[]): Map<string, Hash> {
  const nodes = new Map<string, Hash>();
  for (const n of appendLeaves(0, [], leaves).nodes) nodes.set(key(n), n.hash);
  return nodes;
}
function fetchFrom(nodes: Map<string, Hash>): (id: NodeId) => Hash {
  return (id) => {
    const h = nodes.get(key(id));
    if (h === undefined) throw new Error(`node ${key(id)} is not stored`);
    return h;
  };
}

/** What it threw: "proof" for a ProofError, "accepted" when it did not throw; anything else fails the test. */
function outcome(f: () => void): "proof" | "accepted" {
  try {
    f();
    return "accepted";
  } catch (err) {
    if (err instanceof ProofError) return "proof";
    throw err;
  }
}

/** Each plan element is one contiguous range of perfect subtrees, largest first, inside the tree of `size`. */
function expectWellFormed(plan: NodeId[][], size: number): void {
  for (const element of plan) {
    expect(element.length).toBeGreaterThan(0);
    for (const [i, id] of element.entries()) {
      const { start, end } = nodeRange(id);
      expect(end, `node ${key(id)} is not complete in a tree of ${size}`).toBeLessThanOrEqual(size);
      if (i > 0) {
        const previous = at(element, i - 1);
        expect(id.level).toBeLessThan(previous.level);
        expect(start).toBe(nodeRange(previous).end);
      }
    }
  }
}

// The verifier reads a proof only through the sizes' shape: which side of the path each element is on (and, for
// consistency, whether it is inside the old tree, and whether the old root is the first element). Two sizes of
// the same shape verify the same computation, so RFC 9162 proofs do not bind the sizes (take them from the signed
// checkpoint); two sizes of different shapes must be refused. The shapes here are read from the plans.
function inclusionShape(index: number, size: number): string {
  return inclusionProofPlan(index, size)
    .map((e) => (nodeRange(at(e, 0)).start < index ? "L" : "R"))
    .join("");
}
function consistencyShape(m: number, n: number): string {
  const plan = consistencyProofPlan(m, n);
  const end = (e: NodeId[]): number => nodeRange(at(e, e.length - 1)).end;
  // The old tree's root is the first element unless the plan starts with a piece of the old tree ending at m.
  const seedInProof = plan.length > 0 && end(at(plan, 0)) === m;
  const ops = (seedInProof ? plan.slice(1) : plan).map((e) => (end(e) <= m ? "L" : "R")).join("");
  return `${seedInProof ? "proof" : "root"}:${ops}`;
}

const tree = fc.record({ n: fc.integer({ min: 1, max: MAX }), salt: fc.integer() });
const flip = fc.record({ element: fc.nat(), byte: fc.nat({ max: 31 }), bit: fc.nat({ max: 7 }) });

describe("building the tree", () => {
  it("appendLeaves in random chunks gives every perfect node, the frontier and the root rootOf defines", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: MAX }),
        fc.integer(),
        fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 60 }),
        (n, salt, chunkSizes) => {
          const leaves = leavesFor(n, salt);
          const nodes = new Map<string, Hash>();
          let state = { size: 0, frontier: [] as Hash[] };
          for (let i = 0; state.size < n; i++) {
            const chunk = leaves.slice(state.size, state.size + at(chunkSizes, i % chunkSizes.length));
            const next = appendLeaves(state.size, state.frontier, chunk);
            for (const node of next.nodes) {
              expect(nodes.has(key(node)), `node ${key(node)} completed twice`).toBe(false);
              nodes.set(key(node), node.hash);
            }
            expect(next.size).toBe(state.size + chunk.length);
            state = next;
            // After each chunk: the frontier is the stored nodes frontierIds names, and folds to MTH.
            expect(state.frontier.map(hex)).toEqual(
              frontierIds(state.size).map((id) => hex(fetchFrom(nodes)(id))),
            );
            expect(hex(rootFromFrontier(state.frontier))).toBe(hex(rootOf(leaves.slice(0, state.size))));
          }
          // Exactly the complete perfect subtrees of the tree of n, each the MTH of its leaves.
          const expected: string[] = [];
          for (let level = 0; 2 ** level <= n; level++) {
            for (let index = 0; (index + 1) * 2 ** level <= n; index++) {
              const { start, end } = nodeRange({ level, index });
              expected.push(`${level}/${index}=${hex(rootOf(leaves.slice(start, end)))}`);
            }
          }
          expect([...nodes].map(([k, h]) => `${k}=${hex(h)}`).sort()).toEqual(expected.sort());
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe("plans", () => {
  it("an inclusion plan, fetched from the stored tree and folded, is the RFC's inclusion proof", () => {
    fc.assert(
      fc.property(tree, fc.nat(), fc.nat(), ({ n, salt }, a, b) => {
        const leaves = leavesFor(n, salt);
        const nodes = stored(leaves); // the current tree, n leaves; the proof is for a past size
        const size = 1 + (a % n);
        const index = b % size;
        const plan = inclusionProofPlan(index, size);
        expectWellFormed(plan, size);
        const folded = plan.map((e) => hex(foldRange(e.map(fetchFrom(nodes)))));
        expect(folded).toEqual(inclusionProof(leaves, index, size).map(hex));
        // The range elements are each a subtree next to the path: none covers the leaf itself.
        for (const e of plan) {
          const start = nodeRange(at(e, 0)).start;
          const end = nodeRange(at(e, e.length - 1)).end;
          expect(index < start || index >= end).toBe(true);
        }
      }),
      RUNS,
    );
  });

  it("a consistency plan, fetched from the stored tree and folded, is the RFC's consistency proof", () => {
    fc.assert(
      fc.property(tree, fc.nat(), fc.nat(), ({ n, salt }, a, b) => {
        const leaves = leavesFor(n, salt);
        const nodes = stored(leaves);
        const newSize = a % (n + 1);
        const oldSize = b % (newSize + 1);
        const plan = consistencyProofPlan(oldSize, newSize);
        expectWellFormed(plan, newSize);
        const folded = plan.map((e) => hex(foldRange(e.map(fetchFrom(nodes)))));
        expect(folded).toEqual(consistencyProof(leaves, oldSize, newSize).map(hex));
        if (oldSize === 0 || oldSize === newSize) expect(plan).toEqual([]);
      }),
      RUNS,
    );
  });
});

describe("inclusion proofs", () => {
  it("verify, and are refused when a bit, the index, the length, the leaf or the root is wrong", () => {
    fc.assert(
      fc.property(tree, fc.nat(), fc.nat(), flip, fc.nat(), fc.nat(), (t, a, b, f, other, extra) => {
        const leaves = leavesFor(t.n, t.salt);
        const size = 1 + (a % t.n);
        const index = b % size;
        const leaf = at(leaves, index);
        const root = rootOf(leaves.slice(0, size));
        const proof = inclusionProof(leaves, index, size);
        const verify = (l: Hash, i: number, s: number, p: Hash[], r: Hash) =>
          outcome(() => verifyInclusion(l, i, s, p, r));
        expect(verify(leaf, index, size, proof, root)).toBe("accepted");

        // A flipped bit in any proof element.
        if (proof.length > 0) {
          const e = f.element % proof.length;
          const bad = proof.map((p, k) => {
            if (k !== e) return p;
            const copy = p.slice();
            copy[f.byte] = (copy[f.byte] ?? 0) ^ (1 << f.bit);
            return copy;
          });
          expect(verify(leaf, index, size, bad, root)).toBe("proof");
        }
        // Another index of the same tree (the leaf's own hash, the index claimed elsewhere).
        if (size > 1) {
          const wrongIndex = (index + 1 + (other % (size - 1))) % size;
          expect(verify(leaf, wrongIndex, size, proof, root)).toBe("proof");
          // Another leaf at this index.
          expect(verify(at(leaves, wrongIndex), index, size, proof, root)).toBe("proof");
        }
        // One element short, one too many (at either end), an element duplicated.
        if (proof.length > 0) expect(verify(leaf, index, size, proof.slice(0, -1), root)).toBe("proof");
        const junk = leafHash(new Uint8Array([extra % 256]));
        expect(verify(leaf, index, size, [...proof, junk], root)).toBe("proof");
        expect(verify(leaf, index, size, [junk, ...proof], root)).toBe("proof");
        expect(verify(leaf, index, size, [...proof, root], root)).toBe("proof");
        // The root of another size of the same tree.
        const otherSize = 1 + (other % t.n);
        if (otherSize !== size && otherSize > index) {
          expect(verify(leaf, index, size, proof, rootOf(leaves.slice(0, otherSize)))).toBe("proof");
        }
        // A wrong size: refused unless it has the same shape (then the verifier computes the very same thing).
        const wrongSize = index + 1 + (extra % (2 * MAX));
        if (wrongSize !== size) {
          const same = inclusionShape(index, wrongSize) === inclusionShape(index, size);
          expect(verify(leaf, index, wrongSize, proof, root)).toBe(same ? "accepted" : "proof");
        }
      }),
      RUNS,
    );
  });
});

describe("consistency proofs", () => {
  it("verify, and are refused when a bit, a size, the length or a root is wrong, or the roots are swapped", () => {
    fc.assert(
      fc.property(tree, fc.nat(), fc.nat(), flip, fc.nat(), fc.nat(), (t, a, b, f, c, d) => {
        const leaves = leavesFor(t.n, t.salt);
        const n = a % (t.n + 1);
        const m = b % (n + 1);
        const oldRoot = rootOf(leaves.slice(0, m));
        const newRoot = rootOf(leaves.slice(0, n));
        const proof = consistencyProof(leaves, m, n);
        const verify = (m2: number, n2: number, p: Hash[], r1: Hash, r2: Hash) =>
          outcome(() => verifyConsistency(m2, n2, p, r1, r2));
        expect(verify(m, n, proof, oldRoot, newRoot)).toBe("accepted");
        const junk = leafHash(new Uint8Array([c % 256]));
        // Whatever the sizes, an extra element is refused.
        expect(verify(m, n, [...proof, junk], oldRoot, newRoot)).toBe("proof");
        expect(verify(m, n, [junk, ...proof], oldRoot, newRoot)).toBe("proof");
        if (m === 0 || m === n) {
          // The empty tree's root is fixed; a tree of one size has one root.
          if (m === 0 && n > 0) expect(verify(0, n, [], newRoot, newRoot)).toBe("proof");
          if (m === n && n > 0) expect(verify(m, n, [], oldRoot, junk)).toBe("proof");
          return;
        }
        // A flipped bit in any proof element.
        const e = f.element % proof.length;
        const bad = proof.map((p, k) => {
          if (k !== e) return p;
          const copy = p.slice();
          copy[f.byte] = (copy[f.byte] ?? 0) ^ (1 << f.bit);
          return copy;
        });
        expect(verify(m, n, bad, oldRoot, newRoot)).toBe("proof");
        // One element short; the old root prepended; swapped roots; another size's root on either side.
        expect(verify(m, n, proof.slice(0, -1), oldRoot, newRoot)).toBe("proof");
        expect(verify(m, n, [oldRoot, ...proof], oldRoot, newRoot)).toBe("proof");
        expect(verify(m, n, proof, newRoot, oldRoot)).toBe("proof");
        const k = 1 + (c % t.n);
        const otherRoot = rootOf(leaves.slice(0, k));
        if (k !== m) expect(verify(m, n, proof, otherRoot, newRoot)).toBe("proof");
        if (k !== n) expect(verify(m, n, proof, oldRoot, otherRoot)).toBe("proof");
        // No proof at all, and the sizes of the trivial cases.
        expect(verify(m, n, [], oldRoot, newRoot)).toBe("proof");
        expect(verify(0, n, proof, oldRoot, newRoot)).toBe("proof");
        expect(verify(n, n, proof, oldRoot, newRoot)).toBe("proof");
        // Wrong sizes: refused unless they have the same shape (then the verifier computes the very same thing).
        const n2 = 2 + (d % (2 * MAX));
        const m2 = 1 + (c % (n2 - 1));
        if (m2 !== m || n2 !== n) {
          const same = consistencyShape(m2, n2) === consistencyShape(m, n);
          expect(verify(m2, n2, proof, oldRoot, newRoot), `${m2} -> ${n2} for ${m} -> ${n}`).toBe(
            same ? "accepted" : "proof",
          );
        }
      }),
      RUNS,
    );
  });
});

describe("wrong sizes, every case of the small trees", () => {
  // The random properties above meet same-shape sizes rarely; here every pair of sizes up to a bound is tried,
  // and both outcomes must occur, so the shape oracle is not vacuous.
  const leaves = leavesFor(40, 7);
  const root = (size: number): Hash => rootOf(leaves.slice(0, size));

  it("inclusion: a proof verifies at another size exactly when that size has the same shape", () => {
    const seen = { accepted: 0, proof: 0 };
    for (let size = 1; size <= 24; size++) {
      for (let index = 0; index < size; index++) {
        const proof = inclusionProof(leaves, index, size);
        for (let wrong = index + 1; wrong <= 40; wrong++) {
          if (wrong === size) continue;
          const got = outcome(() => verifyInclusion(at(leaves, index), index, wrong, proof, root(size)));
          const same = inclusionShape(index, wrong) === inclusionShape(index, size);
          expect(got, `leaf ${index}: proof for ${size} checked as ${wrong}`).toBe(
            same ? "accepted" : "proof",
          );
          seen[got]++;
        }
      }
    }
    expect(seen.accepted).toBeGreaterThan(0);
    expect(seen.proof).toBeGreaterThan(0);
  });

  it("consistency: a proof verifies for other sizes exactly when they have the same shape", () => {
    const seen = { accepted: 0, proof: 0 };
    for (let n = 2; n <= 16; n++) {
      for (let m = 1; m < n; m++) {
        const proof = consistencyProof(leaves, m, n);
        for (let n2 = 2; n2 <= 24; n2++) {
          for (let m2 = 1; m2 < n2; m2++) {
            if (m2 === m && n2 === n) continue;
            const got = outcome(() => verifyConsistency(m2, n2, proof, root(m), root(n)));
            const same = consistencyShape(m2, n2) === consistencyShape(m, n);
            expect(got, `proof ${m} -> ${n} checked as ${m2} -> ${n2}`).toBe(same ? "accepted" : "proof");
            seen[got]++;
          }
        }
      }
    }
    expect(seen.accepted).toBeGreaterThan(0);
    expect(seen.proof).toBeGreaterThan(0);
  });
});
