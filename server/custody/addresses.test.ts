// addressesOf by curve against the chain modules, and parseAddressOn's dispatch (network-aware for Bitcoin).
import { secp256k1 } from "@noble/curves/secp256k1";
import { ed25519 } from "@noble/curves/ed25519";
import { describe, expect, it } from "vitest";
import { addressesOf, addressOn, chainsOfCurve, parseAddressOn } from "./addresses";

const networks = { bitcoin: "regtest", ethereum: { chainId: 31337 }, solana: "localnet" } as const;
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
// The private key 1: its public key is the generator, whose addresses are well known.
const G = hex(secp256k1.getPublicKey(Uint8Array.from([...new Uint8Array(31), 1]), false));
const edPub = hex(ed25519.getPublicKey(new Uint8Array(32).fill(7)));

describe("addressesOf", () => {
  it("gives secp256k1 keys a Bitcoin and an Ethereum address, Ed25519 keys a Solana one, P-256 none", () => {
    expect(chainsOfCurve("secp256k1")).toEqual(["bitcoin", "ethereum"]);
    expect(chainsOfCurve("p256")).toEqual([]);
    const k = addressesOf({ curve: "secp256k1", publicKey: G }, networks);
    expect(k.map((a) => [a.chain, a.network, a.address])).toEqual([
      ["bitcoin", "regtest", "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"],
      ["ethereum", "31337", "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"],
    ]);
    expect(
      addressesOf({ curve: "secp256k1", publicKey: G }, { ...networks, bitcoin: "mainnet" })[0]?.address,
    ).toBe("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4");
    const s = addressesOf({ curve: "ed25519", publicKey: edPub }, networks);
    expect(s).toHaveLength(1);
    expect(s[0]?.chain).toBe("solana");
    expect(addressesOf({ curve: "p256", publicKey: `04${"00".repeat(64)}` }, networks)).toEqual([]);
    expect(addressOn({ curve: "ed25519", publicKey: edPub }, "ethereum", networks)).toBeNull();
  });
  it("refuses a public key that is not of its curve", () => {
    expect(() => addressesOf({ curve: "ed25519", publicKey: G }, networks)).toThrow();
    expect(() => addressOn({ curve: "ed25519", publicKey: G }, "solana", networks)).toThrow();
    expect(() => addressOn({ curve: "secp256k1", publicKey: edPub }, "ethereum", networks)).toThrow();
  });
});

describe("addressOn", () => {
  it("answers addressesOf's address for each chain of the curve", () => {
    for (const key of [
      { curve: "secp256k1", publicKey: G },
      { curve: "ed25519", publicKey: edPub },
    ]) {
      for (const a of addressesOf(key, networks)) expect(addressOn(key, a.chain, networks)).toBe(a.address);
    }
  });
  it("derives only the chain asked for: another chain's network does not come into it", () => {
    const odd = { ...networks, bitcoin: "no-such-network" } as unknown as typeof networks;
    expect(() => addressesOf({ curve: "secp256k1", publicKey: G }, odd)).toThrow();
    expect(addressOn({ curve: "secp256k1", publicKey: G }, "ethereum", odd)).toBe(
      "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf",
    );
  });
});

describe("parseAddressOn", () => {
  it("canonicalises and checks per chain", () => {
    expect(parseAddressOn("ethereum", "0x7e5f4552091a69125d5dfcb7b8c2659029395bdf", networks)).toEqual({
      ok: true,
      address: "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf",
    });
    expect(parseAddressOn("ethereum", "0x7E5f4552091A69125d5DfCb7b8C2659029395Bdf", networks).ok).toBe(false);
    expect(parseAddressOn("bitcoin", "BCRT1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KYGT080", networks)).toEqual({
      ok: true,
      address: "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
    });
    const wrongNet = parseAddressOn("bitcoin", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", networks);
    expect(wrongNet.ok).toBe(false);
    expect(!wrongNet.ok && wrongNet.reason).toMatch(/mainnet/);
    expect(parseAddressOn("solana", "0OIl", networks).ok).toBe(false);
  });
});
