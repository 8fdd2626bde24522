// The RFC 9162 Merkle tree (Certificate Transparency 2.0, §2.1), pure: hashes, roots, proof plans, proofs and
// their verification. It must run unchanged on the server, in the browser (the offline /verify page) and in a
// CLI, so it never imports a Node built-in, "server-only" or the database: only @noble/hashes' SHA-256.
//
// Sizes and indexes are JS numbers, checked to be non-negative safe integers (up to 2^53 - 1). Bit operators
// (`>>`, `&`) work on 32 bits in JS, so none is used on a size or an index: halving is Math.floor(x / 2), the
// low bit is x % 2.
//
// A "perfect subtree" (NodeId) is level l, index i, covering leaves [i * 2^l, (i + 1) * 2^l). The storage keeps
// the hash of every perfect subtree that is complete (appendLeaves returns each as it completes), so the root of
// any past size and every proof element can be folded from a few stored nodes: the plans say which.
import { sha256 } from "@noble/hashes/sha2";

export type Hash = Uint8Array; // always 32 bytes
export const HASH_SIZE = 32;

/** A perfect subtree: level l, index i, covering leaves [i*2^l, (i+1)*2^l). Level 0 = the leaf hashes. */
export type NodeId = { level: number; index: number };

/**
 * A proof was refused. `reason` says why in plain English (for the verify page and logs); it names sizes,
 * indexes and positions only, never hash contents.
 */
export class ProofError extends Error {
  readonly reason: string;
  constructor(reason: string) {
    super(`Merkle proof refused: ${reason}`);
    this.name = "ProofError";
    this.reason = reason;
  }
}

// RFC 9162 §2.1.1: the hash of an empty list is the hash of an empty string. Kept private; callers get a copy
// (a Uint8Array cannot be frozen), so nobody can change what this module compares against.
const EMPTY = sha256(new Uint8Array(0));
/** MTH({}) = SHA-256() (RFC 9162 §2.1.1). A copy: never compare against anything but this module's answers. */
export const EMPTY_ROOT: Hash = EMPTY.slice();

const LEAF_PREFIX = new Uint8Array([0x00]);
const NODE_PREFIX = new Uint8Array([0x01]);

/** MTH({d(0)}) = SHA-256(0x00 || d(0)) (RFC 9162 §2.1.1). */
export function leafHash(data: Uint8Array): Hash {
  return sha256.create().update(LEAF_PREFIX).update(data).digest();
}

/** SHA-256(0x01 || left || right): an interior node (RFC 9162 §2.1.1). */
export function nodeHash(left: Hash, right: Hash): Hash {
  requireHash(left, "left child");
  requireHash(right, "right child");
  return sha256.create().update(NODE_PREFIX).update(left).update(right).digest();
}

/** Byte-for-byte equality of two hashes (not constant time: tree hashes are public). */
export function hashesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------------------
// Arithmetic on safe integers (no 32-bit bit operators).

function requireCount(value: number, name: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative safe integer, got ${String(value)}`);
  }
}

function requireIndex(index: number, size: number): void {
  requireCount(size, "tree size");
  requireCount(index, "leaf index");
  if (index >= size) throw new RangeError(`leaf index ${index} is not in a tree of ${size} leaves`);
}

function requireHash(hash: Uint8Array, what: string): void {
  if (!(hash instanceof Uint8Array) || hash.length !== HASH_SIZE) {
    throw new RangeError(`${what} must be a ${HASH_SIZE}-byte hash`);
  }
}

const isOdd = (x: number): boolean => x % 2 === 1;
const half = (x: number): number => Math.floor(x / 2);

/** k, the largest power of two smaller than n (n >= 2): where RFC 9162 §2.1.1 splits a list of n. */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** The leaves [start, end) a perfect subtree covers. */
export function nodeRange(id: NodeId): { start: number; end: number } {
  const width = 2 ** id.level;
  return { start: id.index * width, end: (id.index + 1) * width };
}

/**
 * The perfect subtrees making up the leaves [start, end), left to right, each as large as its alignment allows.
 * For the ranges RFC 9162's recursion produces (start a multiple of a power of two >= end - start), that is one
 * subtree per set bit of end - start, largest first, and folding them right to left gives MTH(D[start:end]).
 */
function rangeIds(start: number, end: number): NodeId[] {
  const ids: NodeId[] = [];
  let at = start;
  while (at < end) {
    let level = 0;
    while (at % 2 ** (level + 1) === 0 && at + 2 ** (level + 1) <= end) level++;
    ids.push({ level, index: at / 2 ** level });
    at += 2 ** level;
  }
  return ids;
}

// ---------------------------------------------------------------------------------------------------------
// Roots.

/** MTH over the leaf hashes [start, end), the recursive definition of RFC 9162 §2.1.1. */
function mth(leaves: readonly Hash[], start: number, end: number): Hash {
  const n = end - start;
  if (n === 0) return EMPTY.slice();
  if (n === 1) {
    const leaf = leaves[start];
    if (leaf === undefined) throw new RangeError(`leaf ${start} is missing`);
    requireHash(leaf, `leaf hash ${start}`);
    return leaf.slice();
  }
  // MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n])), k the largest power of two < n.
  const k = splitPoint(n);
  return nodeHash(mth(leaves, start, start + k), mth(leaves, start + k, end));
}

/** MTH over leaf hashes, straight from the RFC's recursive definition (reference; O(n)). */
export function rootOf(leaves: readonly Hash[]): Hash {
  return mth(leaves, 0, leaves.length);
}

/** The perfect subtrees on the right edge of a tree of `size` leaves, largest (leftmost) first: one per set bit of size. */
export function frontierIds(size: number): NodeId[] {
  requireCount(size, "tree size");
  return rangeIds(0, size);
}

/** The hash of a range from its perfect subtrees' hashes, largest first (what one plan element folds to). */
export function foldRange(hashes: readonly Hash[]): Hash {
  const last = hashes.at(-1);
  if (last === undefined) throw new RangeError("a range is made of at least one perfect subtree");
  requireHash(last, "subtree hash");
  // The RFC splits at the largest power of two below the range's length, which is the first (largest) subtree;
  // the rest splits the same way, so the fold runs from the right: h0 || (h1 || (h2 || ...)).
  let acc: Hash = last.slice();
  for (let i = hashes.length - 2; i >= 0; i--) {
    const left = hashes[i];
    if (left === undefined) throw new RangeError(`subtree hash ${i} is missing`);
    acc = nodeHash(left, acc);
  }
  return acc;
}

/** Hashes the frontier (largest first) into the tree's root (EMPTY_ROOT for size 0). */
export function rootFromFrontier(frontier: readonly Hash[]): Hash {
  return frontier.length === 0 ? EMPTY.slice() : foldRange(frontier);
}

/**
 * Appends leaf hashes to a tree of `size` leaves whose frontier hashes (frontierIds(size) order) are given:
 * every perfect node completed by the append (including each new leaf at level 0), and the new frontier.
 */
export function appendLeaves(
  size: number,
  frontier: readonly Hash[],
  leaves: readonly Hash[],
): { size: number; frontier: Hash[]; nodes: { level: number; index: number; hash: Hash }[] } {
  requireCount(size, "tree size");
  if (!Number.isSafeInteger(size + leaves.length))
    throw new RangeError("the tree would outgrow 2^53 - 1 leaves");
  const ids = frontierIds(size);
  if (frontier.length !== ids.length) {
    throw new RangeError(
      `a tree of ${size} leaves has ${ids.length} frontier hashes, ${frontier.length} were given`,
    );
  }
  // The frontier as a stack, largest subtree at the bottom; its levels strictly decrease towards the top.
  const stack = ids.map((id, i) => {
    const hash = frontier[i];
    if (hash === undefined) throw new RangeError(`frontier hash ${i} is missing`);
    requireHash(hash, `frontier hash ${i}`);
    return { ...id, hash };
  });
  const nodes: { level: number; index: number; hash: Hash }[] = [];
  let next = size;
  for (const [i, leaf] of leaves.entries()) {
    requireHash(leaf, `new leaf hash ${i}`);
    let node: { level: number; index: number; hash: Hash } = { level: 0, index: next, hash: leaf.slice() };
    nodes.push(node);
    // A new subtree on top of one of its own level is that one's right sibling: together they complete
    // their parent, which may in turn complete its own.
    for (let top = stack.at(-1); top !== undefined && top.level === node.level; top = stack.at(-1)) {
      stack.pop();
      node = { level: node.level + 1, index: half(node.index), hash: nodeHash(top.hash, node.hash) };
      nodes.push(node);
    }
    stack.push(node);
    next++;
  }
  return { size: next, frontier: stack.map((entry) => entry.hash), nodes };
}

// ---------------------------------------------------------------------------------------------------------
// Proof plans: which perfect subtrees each proof element folds from.

/**
 * What an inclusion proof for leaf `index` in a tree of `size` leaves is made of, in proof order (RFC 9162 §2.1.3.1,
 * from the leaf upwards): each element is the hash of a range of leaves, given as the perfect subtrees that make
 * up that range, largest first (a proof element on the tree's ragged right edge is made of several).
 */
export function inclusionProofPlan(index: number, size: number): NodeId[][] {
  requireIndex(index, size);
  // PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n]) when m < k, else PATH(m - k, D[k:n]) : MTH(D[0:k]);
  // PATH(0, {d(0)}) = {}. Walked from the root down, so the elements come out top first: reversed at the end.
  const topDown: NodeId[][] = [];
  let start = 0;
  let end = size;
  while (end - start > 1) {
    const mid = start + splitPoint(end - start);
    if (index < mid) {
      topDown.push(rangeIds(mid, end));
      end = mid;
    } else {
      topDown.push(rangeIds(start, mid));
      start = mid;
    }
  }
  return topDown.reverse();
}

/** Same for a consistency proof between sizes m < n (RFC 9162 §2.1.4.1; m = 0 or m = n give an empty plan). */
export function consistencyProofPlan(m: number, n: number): NodeId[][] {
  requireCount(m, "old tree size");
  requireCount(n, "new tree size");
  if (m > n) throw new RangeError(`old tree size ${m} is larger than new tree size ${n}`);
  if (m === 0 || m === n) return [];
  // PROOF(m, D[n]) = SUBPROOF(m, D[n], true), with SUBPROOF(m, D[m], true) = {}, SUBPROOF(m, D[m], false) =
  // {MTH(D[m])}, and for m < n, k the largest power of two < n:
  //   m <= k: SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
  //   m > k:  SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
  const topDown: NodeId[][] = [];
  let start = 0;
  let end = n;
  let old = m; // m, relative to start
  let wholeOldTree = true; // b: D[start:start+old] is the whole old tree, whose root the verifier has
  while (old < end - start) {
    const mid = start + splitPoint(end - start);
    if (start + old <= mid) {
      topDown.push(rangeIds(mid, end));
      end = mid;
    } else {
      topDown.push(rangeIds(start, mid));
      old -= mid - start;
      start = mid;
      wholeOldTree = false;
    }
  }
  if (!wholeOldTree) topDown.push(rangeIds(start, end));
  return topDown.reverse();
}

// ---------------------------------------------------------------------------------------------------------
// Proofs from all leaf hashes in memory (tests, the verifier). Computed straight from the RFC's recursive
// definitions, independently of the plans above, so each checks the other.

function requireLeaves(leaves: readonly Hash[], size: number): void {
  if (size > leaves.length)
    throw new RangeError(`a tree of ${size} leaves needs ${size} leaf hashes, got ${leaves.length}`);
}

/** Convenience for tests and the verifier: proofs computed from all leaf hashes in memory. */
export function inclusionProof(leaves: readonly Hash[], index: number, size: number): Hash[] {
  requireIndex(index, size);
  requireLeaves(leaves, size);
  // RFC 9162 §2.1.3.1 PATH(m, D[start:end]).
  const path = (m: number, start: number, end: number): Hash[] => {
    if (end - start === 1) return [];
    const k = splitPoint(end - start);
    return m < k
      ? [...path(m, start, start + k), mth(leaves, start + k, end)]
      : [...path(m - k, start + k, end), mth(leaves, start, start + k)];
  };
  return path(index, 0, size);
}

export function consistencyProof(leaves: readonly Hash[], m: number, n: number): Hash[] {
  requireCount(m, "old tree size");
  requireCount(n, "new tree size");
  if (m > n) throw new RangeError(`old tree size ${m} is larger than new tree size ${n}`);
  requireLeaves(leaves, n);
  if (m === 0) return [];
  // RFC 9162 §2.1.4.1 SUBPROOF(m, D[start:end], b).
  const subproof = (m: number, start: number, end: number, b: boolean): Hash[] => {
    if (m === end - start) return b ? [] : [mth(leaves, start, end)];
    const k = splitPoint(end - start);
    return m <= k
      ? [...subproof(m, start, start + k, b), mth(leaves, start + k, end)]
      : [...subproof(m - k, start + k, end, false), mth(leaves, start, start + k)];
  };
  return subproof(m, 0, n, true);
}

// ---------------------------------------------------------------------------------------------------------
// Verification.

function requireProofHashes(proof: readonly Hash[]): void {
  for (const [i, element] of proof.entries()) {
    if (!(element instanceof Uint8Array) || element.length !== HASH_SIZE) {
      throw new ProofError(`proof element ${i} is not a ${HASH_SIZE}-byte hash`);
    }
  }
}

function requireGivenHash(hash: Uint8Array, what: string): void {
  if (!(hash instanceof Uint8Array) || hash.length !== HASH_SIZE) {
    throw new ProofError(`the ${what} is not a ${HASH_SIZE}-byte hash`);
  }
}

/** RFC 9162 §2.1.3.2. Returns nothing when valid; throws ProofError (exported class, with a `reason` string in plain English) otherwise. */
export function verifyInclusion(
  leaf: Hash,
  index: number,
  size: number,
  proof: readonly Hash[],
  root: Hash,
): void {
  // Step 1: leaf_index < tree_size (a RangeError: the claim itself is impossible).
  requireIndex(index, size);
  requireGivenHash(leaf, "leaf hash");
  requireGivenHash(root, "root");
  requireProofHashes(proof);
  // Step 2: fn = leaf_index, sn = tree_size - 1. Step 3: r = hash.
  let fn = index;
  let sn = size - 1;
  let r: Hash = leaf.slice();
  // Step 4: for each p in inclusion_path...
  for (const p of proof) {
    // 4a: the path is longer than the tree is high.
    if (sn === 0) {
      throw new ProofError(
        `the proof has more than the ${proof.length - 1} elements leaf ${index} of ${size} needs`,
      );
    }
    if (isOdd(fn) || fn === sn) {
      // 4b: p is a left sibling. When fn is the right edge's last node with no right sibling, climb to the
      // level where it is a right child (or the top).
      r = nodeHash(p, r);
      if (!isOdd(fn)) {
        while (!(isOdd(fn) || fn === 0)) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    // 4c
    fn = half(fn);
    sn = half(sn);
  }
  // Step 5: sn = 0 and r = root_hash.
  if (sn !== 0) throw new ProofError(`the proof has too few elements for leaf ${index} of a tree of ${size}`);
  if (!hashesEqual(r, root)) {
    throw new ProofError(`the proof does not lead from leaf ${index} to the root of a tree of ${size}`);
  }
}

/** RFC 9162 §2.1.4.2 (m <= n). Throws ProofError otherwise. */
export function verifyConsistency(
  m: number,
  n: number,
  proof: readonly Hash[],
  oldRoot: Hash,
  newRoot: Hash,
): void {
  requireCount(m, "old tree size");
  requireCount(n, "new tree size");
  if (m > n) throw new RangeError(`old tree size ${m} is larger than new tree size ${n}`);
  requireGivenHash(oldRoot, "old root");
  requireGivenHash(newRoot, "new root");
  requireProofHashes(proof);
  // Outside the RFC's algorithm (defined for 0 < m < n): the empty tree is a prefix of every tree, and a tree
  // is consistent with itself; both need an empty proof.
  if (m === 0 || m === n) {
    if (proof.length !== 0) throw new ProofError(`a consistency proof from size ${m} to ${n} is empty`);
    if (m === 0 && !hashesEqual(oldRoot, EMPTY))
      throw new ProofError("the old root is not the empty tree's root");
    if (m === n && !hashesEqual(oldRoot, newRoot)) {
      throw new ProofError(`two roots of the same size ${m} differ`);
    }
    return;
  }
  // Step 1: an empty path fails.
  if (proof.length === 0) throw new ProofError(`the proof from size ${m} to ${n} is empty`);
  // Step 2: if first is an exact power of 2, prepend first_hash (the old tree is a perfect subtree of the new
  // one, so the proof leaves its root out).
  const path = isPowerOfTwo(m) ? [oldRoot, ...proof] : [...proof];
  // Step 3: fn = first - 1, sn = second - 1. Step 4: while LSB(fn), shift both right.
  let fn = m - 1;
  let sn = n - 1;
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  // Step 5: fr = sr = the first value of the path.
  const [seed, ...rest] = path;
  if (seed === undefined) throw new ProofError(`the proof from size ${m} to ${n} is empty`);
  let fr: Hash = seed.slice();
  let sr: Hash = seed.slice();
  // Step 6: for each subsequent value c...
  for (const c of rest) {
    if (sn === 0) throw new ProofError(`the proof from size ${m} to ${n} has too many elements`);
    if (isOdd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (!isOdd(fn)) {
        while (!(isOdd(fn) || fn === 0)) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  // Step 7: fr = first_hash, sr = second_hash, sn = 0.
  if (sn !== 0) throw new ProofError(`the proof from size ${m} to ${n} has too few elements`);
  if (!hashesEqual(fr, oldRoot)) throw new ProofError(`the proof does not lead to the old root (size ${m})`);
  if (!hashesEqual(sr, newRoot)) throw new ProofError(`the proof does not lead to the new root (size ${n})`);
}

function isPowerOfTwo(x: number): boolean {
  let v = x;
  while (v > 1 && !isOdd(v)) v = half(v);
  return v === 1;
}

// ---------------------------------------------------------------------------------------------------------
// Range proofs: that the leaves [start, end) are leaves start.. of the tree of `size`, all at once. The proof
// is the compact range of [0, start) (the frontier of the tree of `start` leaves) and that of [end, size): the
// aligned perfect subtrees around the range, O(log size) hashes. The verifier appends each leaf of the range to
// the left frontier as it reads it (about one node hash per leaf), then the right subtrees, and folds the
// frontier of `size` it ends with into the root (rootFromFrontier), which must be the checkpoint's.

/** The aligned perfect subtrees making up the leaves [start, end), left to right (each as large as fits). */
export function compactRangeIds(start: number, end: number): NodeId[] {
  requireCount(start, "range start");
  requireCount(end, "range end");
  if (start > end) throw new RangeError(`range start ${start} is after its end ${end}`);
  return rangeIds(start, end);
}

/** What a range proof of the leaves [start, end) in the tree of `size` is made of: its left and right subtrees. */
export function rangeProofPlan(
  start: number,
  end: number,
  size: number,
): { left: NodeId[]; right: NodeId[] } {
  requireCount(size, "tree size");
  if (end > size) throw new RangeError(`range end ${end} is beyond a tree of ${size} leaves`);
  return { left: compactRangeIds(0, start), right: compactRangeIds(end, size) };
}

/** Convenience for tests: a range proof from all leaf hashes in memory (each subtree by the RFC's recursion). */
export function rangeProof(
  leaves: readonly Hash[],
  start: number,
  end: number,
  size: number,
): { left: Hash[]; right: Hash[] } {
  requireLeaves(leaves, size);
  const plan = rangeProofPlan(start, end, size);
  const hashOf = (id: NodeId) => {
    const r = nodeRange(id);
    return mth(leaves, r.start, r.end);
  };
  return { left: plan.left.map(hashOf), right: plan.right.map(hashOf) };
}

/** SHA-256 of some bytes: noble's by default; a caller may give a faster one (the CLI: node:crypto). */
export type Sha256 = (data: Uint8Array) => Uint8Array;

const nobleSha256: Sha256 = (data) => sha256(data);

/**
 * Verifies a range proof leaf by leaf, holding O(log size) hashes: `leaf` for each leaf of the range in order,
 * then `finish` with the right subtrees, the tree's size and its root. A wrong count of subtrees is a
 * ProofError; so is a root that differs (a leaf changed, dropped, added or moved, or a wrong subtree).
 */
export class RangeVerifier {
  readonly start: number;
  private readonly hash: Sha256;
  private readonly stack: { level: number; hash: Hash }[];
  private next: number;
  private readonly buffer = new Uint8Array(1 + 2 * HASH_SIZE);

  constructor(start: number, left: readonly Hash[], o: { sha256?: Sha256 } = {}) {
    const ids = compactRangeIds(0, start);
    if (left.length !== ids.length)
      throw new ProofError(
        `the range proof gives ${left.length} subtrees left of leaf ${start}; ${ids.length} are needed`,
      );
    requireProofHashes(left);
    this.start = start;
    this.hash = o.sha256 ?? nobleSha256;
    this.stack = ids.map((id, i) => ({ level: id.level, hash: (left[i] as Hash).slice() }));
    this.next = start;
    this.buffer[0] = 0x01;
  }

  /** The index the next leaf will have. */
  get end(): number {
    return this.next;
  }

  private node(left: Hash, right: Hash): Hash {
    this.buffer.set(left, 1);
    this.buffer.set(right, 1 + HASH_SIZE);
    return this.hash(this.buffer);
  }

  private push(level: number, hash: Hash): void {
    let node = { level, hash };
    for (
      let top = this.stack.at(-1);
      top !== undefined && top.level === node.level;
      top = this.stack.at(-1)
    ) {
      this.stack.pop();
      node = { level: node.level + 1, hash: this.node(top.hash, node.hash) };
    }
    this.stack.push(node);
  }

  /** The next leaf hash of the range. */
  leaf(hash: Hash): void {
    requireHash(hash, "leaf hash");
    if (!Number.isSafeInteger(this.next + 1)) throw new RangeError("the range outgrows 2^53 - 1 leaves");
    this.push(0, hash);
    this.next++;
  }

  /** The subtrees right of the range up to `size`, then the root they must fold to. Throws ProofError if not. */
  finish(right: readonly Hash[], size: number, root: Hash): void {
    requireCount(size, "tree size");
    requireGivenHash(root, "root");
    if (size < this.next)
      throw new ProofError(`the range ends at leaf ${this.next}, beyond a tree of ${size} leaves`);
    const ids = compactRangeIds(this.next, size);
    if (right.length !== ids.length)
      throw new ProofError(
        `the range proof gives ${right.length} subtrees right of leaf ${this.next}; ${ids.length} are needed for a tree of ${size}`,
      );
    requireProofHashes(right);
    for (const [i, id] of ids.entries()) this.push(id.level, right[i] as Hash);
    // The stack is now the frontier of `size` (levels strictly decreasing): fold it right to left.
    let acc: Hash | undefined;
    for (let i = this.stack.length - 1; i >= 0; i--) {
      const h = (this.stack[i] as { hash: Hash }).hash;
      acc = acc === undefined ? h : this.node(h, acc);
    }
    if (!hashesEqual(acc ?? EMPTY, root))
      throw new ProofError(
        `the leaves ${this.start}..${this.next - 1} with the range proof do not give the root of a tree of ${size}`,
      );
  }
}

/** A whole range at once (tests): throws ProofError unless leaves[start, start + leaves.length) are in the tree. */
export function verifyRange(
  start: number,
  leaves: readonly Hash[],
  size: number,
  proof: { left: readonly Hash[]; right: readonly Hash[] },
  root: Hash,
  o: { sha256?: Sha256 } = {},
): void {
  const v = new RangeVerifier(start, proof.left, o);
  for (const leaf of leaves) v.leaf(leaf);
  v.finish(proof.right, size, root);
}
