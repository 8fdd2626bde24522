// Published RFC 6962 / RFC 9162 test vectors (SHA-256), as used by Certificate Transparency: copied from
// github.com/transparency-dev/merkle (Apache-2.0) at commit 417fb0c314750d94e53942e9f92e79b6d35915db —
// testonly/constants.go (LeafInputs, NodeHashes, RootHashes), cmd/proofgen/main.go (inclusionProofs,
// consistencyProofs: the vectors behind testdata/{inclusion,consistency}, checked by proof/verify_test.go) and
// proof/proof_test.go (TestInclusion, TestConsistency: which node ids each proof is made of). The same leaves,
// roots and paths are in google/certificate-transparency's C++ merkle_tree_test. Values are as published;
// only the layout is TypeScript. Nothing here is computed.

/** testonly.LeafInputs(): the 8 leaf inputs, hex. */
export const LEAF_INPUTS = [
  "",
  "00",
  "10",
  "2021",
  "3031",
  "40414243",
  "5051525354555657",
  "606162636465666768696a6b6c6d6e6f",
] as const;

/** testonly.NodeHashes(): every complete perfect subtree of the 8-leaf tree, [level][index], hex. */
export const NODE_HASHES: readonly (readonly string[])[] = [
  [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
  ],
  [
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
  ],
  [
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
  ],
  ["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
];

/** testonly.RootHashes(): the root of the tree of the first n leaves, n = 0..8, hex (n = 0: EmptyRootHash). */
export const ROOT_HASHES: readonly string[] = [
  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
  "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
  "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
  "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
  "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
  "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
  "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/** testonly.CompactTrees(): the frontier of each size 0..8, as [level, index] into NODE_HASHES. */
export const COMPACT_TREES: readonly (readonly (readonly [number, number])[])[] = [
  [],
  [[0, 0]],
  [[1, 0]],
  [
    [1, 0],
    [0, 2],
  ],
  [[2, 0]],
  [
    [2, 0],
    [0, 4],
  ],
  [
    [2, 0],
    [1, 2],
  ],
  [
    [2, 0],
    [1, 2],
    [0, 6],
  ],
  [[3, 0]],
];

/**
 * cmd/proofgen inclusionProofs. NB: `leaf` is 1-based there (the generator hashes leaves[leafIdx - 1] and writes
 * leafIdx - 1 into the probes); `index` below is that 0-based leaf index, `leafNumber` the published 1-based one.
 */
export const INCLUSION_PROOFS: readonly {
  leafNumber: number;
  index: number;
  size: number;
  proof: readonly string[];
}[] = [
  { leafNumber: 1, index: 0, size: 1, proof: [] },
  {
    leafNumber: 1,
    index: 0,
    size: 8,
    proof: [
      "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
  },
  {
    leafNumber: 6,
    index: 5,
    size: 8,
    proof: [
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
  },
  {
    leafNumber: 3,
    index: 2,
    size: 3,
    proof: ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
  },
  {
    leafNumber: 2,
    index: 1,
    size: 5,
    proof: [
      "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
  },
];

/** cmd/proofgen consistencyProofs: sizes m, n and the proof. */
export const CONSISTENCY_PROOFS: readonly { m: number; n: number; proof: readonly string[] }[] = [
  { m: 1, n: 1, proof: [] },
  {
    m: 1,
    n: 8,
    proof: [
      "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
  },
  {
    m: 6,
    n: 8,
    proof: [
      "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
  },
  {
    m: 2,
    n: 5,
    proof: [
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
  },
  {
    m: 6,
    n: 7,
    proof: [
      "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
  },
];

/** cmd/proofgen sha256SomeHash: an arbitrary hash the probes use as a wrong root or leaf. */
export const SOME_HASH = "abacaba000000000000000000000000000000000000000000060061e00123456";

/**
 * A proof as proof/proof_test.go states it: node ids in proof order, `[level, index]`, where the ids
 * `rehash[0] <= i < rehash[1]` are hashed together into one proof element (Go lists them smallest first, the
 * order its compact range folds them in; our plans list the same ids largest first).
 */
export type GoNodes = { ids: readonly (readonly [number, number])[]; rehash?: readonly [number, number] };

/** proof/proof_test.go TestInclusion (the cases that are not errors): size, index, nodes. */
export const INCLUSION_NODES: readonly { size: number; index: number; want: GoNodes }[] = [
  // Small trees.
  { size: 1, index: 0, want: { ids: [] } },
  { size: 2, index: 0, want: { ids: [[0, 1]] } },
  { size: 2, index: 1, want: { ids: [[0, 0]] } },
  {
    size: 3,
    index: 1,
    want: {
      ids: [
        [0, 0],
        [0, 2],
      ],
      rehash: [1, 2],
    },
  },
  // Tree of size 7.
  {
    size: 7,
    index: 0,
    want: {
      ids: [
        [0, 1],
        [1, 1],
        [0, 6],
        [1, 2],
      ],
      rehash: [2, 4],
    },
  },
  {
    size: 7,
    index: 1,
    want: {
      ids: [
        [0, 0],
        [1, 1],
        [0, 6],
        [1, 2],
      ],
      rehash: [2, 4],
    },
  },
  {
    size: 7,
    index: 2,
    want: {
      ids: [
        [0, 3],
        [1, 0],
        [0, 6],
        [1, 2],
      ],
      rehash: [2, 4],
    },
  },
  {
    size: 7,
    index: 3,
    want: {
      ids: [
        [0, 2],
        [1, 0],
        [0, 6],
        [1, 2],
      ],
      rehash: [2, 4],
    },
  },
  {
    size: 7,
    index: 4,
    want: {
      ids: [
        [0, 5],
        [0, 6],
        [2, 0],
      ],
      rehash: [1, 2],
    },
  },
  {
    size: 7,
    index: 5,
    want: {
      ids: [
        [0, 4],
        [0, 6],
        [2, 0],
      ],
      rehash: [1, 2],
    },
  },
  {
    size: 7,
    index: 6,
    want: {
      ids: [
        [1, 2],
        [2, 0],
      ],
    },
  },
  // Smaller trees within a bigger stored tree.
  {
    size: 4,
    index: 2,
    want: {
      ids: [
        [0, 3],
        [1, 0],
      ],
    },
  },
  {
    size: 5,
    index: 3,
    want: {
      ids: [
        [0, 2],
        [1, 0],
        [0, 4],
      ],
      rehash: [2, 3],
    },
  },
  {
    size: 6,
    index: 3,
    want: {
      ids: [
        [0, 2],
        [1, 0],
        [1, 2],
      ],
      rehash: [2, 3],
    },
  },
  {
    size: 6,
    index: 4,
    want: {
      ids: [
        [0, 5],
        [2, 0],
      ],
    },
  },
  // Some rehashes in the middle of the returned list.
  {
    size: 15,
    index: 10,
    want: {
      ids: [
        [0, 11],
        [1, 4],
        [0, 14],
        [1, 6],
        [3, 0],
      ],
      rehash: [2, 4],
    },
  },
  {
    size: 31,
    index: 24,
    want: {
      ids: [
        [0, 25],
        [1, 13],
        [0, 30],
        [1, 14],
        [3, 2],
        [4, 0],
      ],
      rehash: [2, 4],
    },
  },
  {
    size: 95,
    index: 81,
    want: {
      ids: [
        [0, 80],
        [1, 41],
        [2, 21],
        [0, 94],
        [1, 46],
        [2, 22],
        [4, 4],
        [6, 0],
      ],
      rehash: [3, 6],
    },
  },
];

/** proof/proof_test.go TestInclusion, the error cases: size, index. */
export const INCLUSION_ERRORS: readonly { size: number; index: number }[] = [
  { size: 0, index: 0 },
  { size: 0, index: 1 },
  { size: 1, index: 2 },
  { size: 0, index: 3 },
  { size: 7, index: 8 },
];

/** proof/proof_test.go TestConsistency (the cases that are not errors): size1, size2, nodes. */
export const CONSISTENCY_NODES: readonly { m: number; n: number; want: GoNodes }[] = [
  { m: 1, n: 2, want: { ids: [[0, 1]] } },
  {
    m: 1,
    n: 4,
    want: {
      ids: [
        [0, 1],
        [1, 1],
      ],
    },
  },
  {
    m: 1,
    n: 6,
    want: {
      ids: [
        [0, 1],
        [1, 1],
        [1, 2],
      ],
      rehash: [2, 3],
    },
  },
  { m: 2, n: 3, want: { ids: [[0, 2]], rehash: [0, 1] } },
  {
    m: 2,
    n: 8,
    want: {
      ids: [
        [1, 1],
        [2, 1],
      ],
    },
  },
  {
    m: 3,
    n: 7,
    want: {
      ids: [
        [0, 2],
        [0, 3],
        [1, 0],
        [0, 6],
        [1, 2],
      ],
      rehash: [3, 5],
    },
  },
  {
    m: 4,
    n: 7,
    want: {
      ids: [
        [0, 6],
        [1, 2],
      ],
      rehash: [0, 2],
    },
  },
  {
    m: 5,
    n: 7,
    want: {
      ids: [
        [0, 4],
        [0, 5],
        [0, 6],
        [2, 0],
      ],
      rehash: [2, 3],
    },
  },
  {
    m: 6,
    n: 7,
    want: {
      ids: [
        [1, 2],
        [0, 6],
        [2, 0],
      ],
      rehash: [1, 2],
    },
  },
  {
    m: 7,
    n: 8,
    want: {
      ids: [
        [0, 6],
        [0, 7],
        [1, 2],
        [2, 0],
      ],
    },
  },
  // Same tree size.
  { m: 1, n: 1, want: { ids: [] } },
  { m: 2, n: 2, want: { ids: [] } },
  { m: 3, n: 3, want: { ids: [] } },
  { m: 4, n: 4, want: { ids: [] } },
  { m: 5, n: 5, want: { ids: [] } },
  { m: 7, n: 7, want: { ids: [] } },
  { m: 8, n: 8, want: { ids: [] } },
  // Smaller trees within a bigger stored tree.
  { m: 2, n: 4, want: { ids: [[1, 1]] } },
  {
    m: 3,
    n: 5,
    want: {
      ids: [
        [0, 2],
        [0, 3],
        [1, 0],
        [0, 4],
      ],
      rehash: [3, 4],
    },
  },
  {
    m: 3,
    n: 6,
    want: {
      ids: [
        [0, 2],
        [0, 3],
        [1, 0],
        [1, 2],
      ],
      rehash: [3, 4],
    },
  },
  { m: 4, n: 6, want: { ids: [[1, 2]], rehash: [0, 1] } },
  {
    m: 1,
    n: 7,
    want: {
      ids: [
        [0, 1],
        [1, 1],
        [0, 6],
        [1, 2],
      ],
      rehash: [2, 4],
    },
  },
  // Some rehashes in the middle of the returned list.
  {
    m: 10,
    n: 15,
    want: {
      ids: [
        [1, 4],
        [1, 5],
        [0, 14],
        [1, 6],
        [3, 0],
      ],
      rehash: [2, 4],
    },
  },
  {
    m: 24,
    n: 31,
    want: {
      ids: [
        [3, 2],
        [0, 30],
        [1, 14],
        [2, 6],
        [4, 0],
      ],
      rehash: [1, 4],
    },
  },
  {
    m: 81,
    n: 95,
    want: {
      ids: [
        [0, 80],
        [0, 81],
        [1, 41],
        [2, 21],
        [0, 94],
        [1, 46],
        [2, 22],
        [4, 4],
        [6, 0],
      ],
      rehash: [4, 7],
    },
  },
];

/**
 * proof/proof_test.go TestConsistency, the error cases: size1 > size2 (refused here too, with a RangeError), and
 * size1 = 0 (Go refuses a proof from the empty tree as meaningless; here it is the empty plan, see merkle.ts).
 */
export const CONSISTENCY_ERRORS: readonly { m: number; n: number }[] = [
  { m: 5, n: 0 },
  { m: 9, n: 8 },
];
