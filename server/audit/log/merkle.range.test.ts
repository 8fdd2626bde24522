// Range proofs (merkle.ts rangeProof / RangeVerifier): for every range [a, b) of trees up to 48 leaves and
// random ones up to 600, the compact ranges around it with the range's leaves fold to rootOf's root, the plan
// names only perfect subtrees complete at that size, and a changed, dropped, added, reordered or moved leaf, a
// changed subtree or a wrong count is refused. Same with node:crypto as the injected SHA-256.
import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  appendLeaves,
  compactRangeIds,
  type Hash,
  inclusionProof,
  leafHash,
  nodeRange,
  ProofError,
  RangeVerifier,
  rangeProof,
  rangeProofPlan,
  rootOf,
  verifyInclusion,
  verifyRange,
} from "./merkle";

const leavesOf = (n: number, salt = 0): Hash[] =>
  Array.from({ length: n }, (_, i) => leafHash(new TextEncoder().encode(`leaf ${i} ${salt}`)));
const nodeSha = (d: Uint8Array) => new Uint8Array(createHash("sha256").update(d).digest());

function refused(f: () => void): boolean {
  try {
    f();
    return false;
  } catch (e) {
    if (e instanceof ProofError) return true;
    throw e;
  }
}

describe("range proofs", () => {
  it("verify every range of every tree up to 48 leaves, and name only complete aligned subtrees", () => {
    for (let n = 0; n <= 48; n++) {
      const leaves = leavesOf(n);
      const root = rootOf(leaves);
      const nodes = new Map(appendLeaves(0, [], leaves).nodes.map((x) => [`${x.level}/${x.index}`, x.hash]));
      for (let a = 0; a <= n; a++)
        for (let b = a; b <= n; b++) {
          const proof = rangeProof(leaves, a, b, n);
          verifyRange(a, leaves.slice(a, b), n, proof, root);
          verifyRange(a, leaves.slice(a, b), n, proof, root, { sha256: nodeSha });
          // The plan's subtrees are the stored perfect nodes (what the export reads), aligned and in order.
          const plan = rangeProofPlan(a, b, n);
          const stored = [...plan.left, ...plan.right].map((id) => nodes.get(`${id.level}/${id.index}`));
          expect(stored.map((h) => h && Buffer.from(h).toString("hex"))).toEqual(
            [...proof.left, ...proof.right].map((h) => Buffer.from(h).toString("hex")),
          );
          let at = 0;
          for (const id of plan.left) {
            expect(nodeRange(id).start).toBe(at);
            at = nodeRange(id).end;
          }
          expect(at).toBe(a);
          at = b;
          for (const id of plan.right) {
            expect(nodeRange(id).start).toBe(at);
            at = nodeRange(id).end;
          }
          expect(at).toBe(n);
        }
    }
  });

  it("a single leaf's range proof agrees with its RFC 9162 inclusion proof", () => {
    const leaves = leavesOf(37);
    const root = rootOf(leaves);
    for (let i = 0; i < 37; i++) {
      verifyInclusion(leaves[i] as Hash, i, 37, inclusionProof(leaves, i, 37), root);
      verifyRange(i, [leaves[i] as Hash], 37, rangeProof(leaves, i, i + 1, 37), root);
    }
    expect(compactRangeIds(0, 37).map((id) => id.level)).toEqual([5, 2, 0]);
    expect(() => compactRangeIds(5, 4)).toThrow(RangeError);
  });

  it("refuses a changed, dropped, added, reordered or moved leaf, a changed subtree, a wrong count or size (random trees)", () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 600 })
          .chain((n) =>
            fc.tuple(
              fc.constant(n),
              fc.integer({ min: 0, max: n - 1 }),
              fc.integer({ min: 1, max: n }),
              fc.nat(),
            ),
          ),
        ([n, a0, b0, pick]) => {
          const a = Math.min(a0, b0 - 1);
          const b = Math.max(a0 + 1, b0);
          const leaves = leavesOf(n);
          const root = rootOf(leaves);
          const range = leaves.slice(a, b);
          const proof = rangeProof(leaves, a, b, n);
          verifyRange(a, range, n, proof, root);
          const i = pick % range.length;
          const changed = range.slice();
          changed[i] = leafHash(new TextEncoder().encode("forged"));
          expect(refused(() => verifyRange(a, changed, n, proof, root))).toBe(true);
          const dropped = range.filter((_, j) => j !== i);
          expect(refused(() => verifyRange(a, dropped, n, proof, root))).toBe(true);
          const added = [...range.slice(0, i), leafHash(new Uint8Array([1])), ...range.slice(i)];
          expect(refused(() => verifyRange(a, added, n, proof, root))).toBe(true);
          if (range.length > 1) {
            const swapped = range.slice();
            const j = (i + 1) % range.length;
            [swapped[i], swapped[j]] = [swapped[j] as Hash, swapped[i] as Hash];
            expect(refused(() => verifyRange(a, swapped, n, proof, root))).toBe(true);
          }
          // The same leaves claimed one position on (another proof for the moved range).
          if (b < n) {
            const moved = rangeProof(leaves, a + 1, b + 1, n);
            expect(refused(() => verifyRange(a + 1, range, n, moved, root))).toBe(true);
          }
          const sides = [...proof.left, ...proof.right];
          if (sides.length > 0) {
            const k = pick % sides.length;
            const bad = sides.map((h, j) => (j === k ? leafHash(h) : h));
            const forged = { left: bad.slice(0, proof.left.length), right: bad.slice(proof.left.length) };
            expect(refused(() => verifyRange(a, range, n, forged, root))).toBe(true);
            const short = { left: proof.left, right: proof.right.slice(1) };
            if (proof.right.length > 0)
              expect(refused(() => verifyRange(a, range, n, short, root))).toBe(true);
            const long = { left: [...proof.left, root], right: proof.right };
            expect(refused(() => verifyRange(a, range, n, long, root))).toBe(true);
          }
          // Claimed for the next tree (its size and root, as its checkpoint signs them): refused.
          const grown = [...leaves, leafHash(new TextEncoder().encode("next"))];
          expect(refused(() => verifyRange(a, range, n + 1, proof, rootOf(grown)))).toBe(true);
          expect(refused(() => verifyRange(a, range, n, proof, rootOf(leaves.slice(0, n - 1))))).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("streams: the verifier holds a frontier, not the range", () => {
    const leaves = leavesOf(1_000);
    const v = new RangeVerifier(3, rangeProof(leaves, 3, 997, 1_000).left);
    for (const leaf of leaves.slice(3, 997)) v.leaf(leaf);
    expect(v.end).toBe(997);
    v.finish(rangeProof(leaves, 3, 997, 1_000).right, 1_000, rootOf(leaves));
    expect(refused(() => new RangeVerifier(3, []))).toBe(true);
  });
});
