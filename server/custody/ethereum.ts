// Ethereum for custody: the EIP-55 address of a secp256k1 key, destination addresses read from people, and
// EIP-1559 transfers of ETH and ERC-20 tokens — built, decoded back from their very bytes, turned into the one
// digest the HSM signs, and assembled with the HSM's signature into the raw transaction a node accepts.
// Pure: no database, no HSM, no network. Encoding is viem's, curve arithmetic @noble/curves': this file only
// decides what is allowed. It never signs, and assemble() refuses any signature that does not verify against
// the key's own public key (a high-S signature is normalised first; the recovery bit is computed, never guessed).
import { invert, mod } from "@noble/curves/abstract/modular";
import { secp256k1 } from "@noble/curves/secp256k1";
import {
  type Hex,
  bytesToHex,
  checksumAddress,
  decodeFunctionData,
  encodeFunctionData,
  erc20Abi,
  hexToBytes,
  keccak256,
  parseTransaction,
  serializeTransaction,
  type TransactionSerializableEIP1559,
} from "viem";
import { formatUnits } from "@/server/policy/amounts";
import { AppError } from "@/server/errors";
import type { AddressCheck, Asset, DecodedTransaction, SignedTransaction, SigningRequest } from "./types";

/** Gas a plain ETH transfer to an address without code takes, exactly. */
export const NATIVE_TRANSFER_GAS = 21_000n;
/**
 * Gas limit for an ERC-20 `transfer`: OpenZeppelin's ERC20 takes ~35k (~52k to a first-time holder), Circle's
 * USDC proxy ~45k–62k. Unused gas is not charged; the fee cap is checked against limit × max fee.
 */
export const ERC20_TRANSFER_GAS = 100_000n;

const UINT256_MAX = 2n ** 256n - 1n;
const ZERO_ADDRESS = "0x0000000000000000000000000000000000000000";

// ---------------------------------------------------------------------------------------------------------
// Addresses

function publicKeyBytes(publicKey: string): Uint8Array {
  const hex = publicKey.startsWith("0x") ? publicKey.slice(2) : publicKey;
  if (!/^04[0-9a-fA-F]{128}$/.test(hex)) {
    throw new AppError(
      "BAD_INPUT",
      "An Ethereum address comes from a 65-byte uncompressed secp256k1 public key (04 followed by 64 bytes, as hex).",
      { field: "publicKey" },
    );
  }
  return hexToBytes(`0x${hex}`);
}

/** The EIP-55 address of a 65-byte uncompressed secp256k1 public key (hex, as keys.public_key holds it). */
export function ethereumAddress(publicKey: string): string {
  const point = publicKeyBytes(publicKey);
  // The address is the last 20 bytes of keccak256 of X ‖ Y (the key without its 04 prefix).
  const hash = keccak256(point.subarray(1));
  return checksumAddress(`0x${hash.slice(-40)}`);
}

/**
 * An Ethereum address typed or pasted by a person, in EIP-55 form, or why not. Mixed case must match the
 * EIP-55 checksum (a mistyped character almost always breaks it); all-lower or all-upper case carries no
 * checksum and is accepted as EIP-55 allows. The zero address is refused: funds sent there are burnt.
 */
export function parseAddress(input: string): AddressCheck {
  const text = input.trim();
  if (!text.startsWith("0x") && !text.startsWith("0X")) {
    return /^[0-9a-fA-F]{40}$/.test(text)
      ? { ok: false, reason: "An Ethereum address starts with 0x; add it in front of the 40 characters." }
      : { ok: false, reason: "An Ethereum address is 0x followed by 40 hexadecimal characters." };
  }
  const body = text.slice(2);
  if (body.length !== 40) {
    return {
      ok: false,
      reason: `An Ethereum address has 40 hexadecimal characters after 0x; this one has ${body.length}. Copy it again in full.`,
    };
  }
  if (!/^[0-9a-fA-F]{40}$/.test(body)) {
    return {
      ok: false,
      reason: "An Ethereum address has only the characters 0-9 and a-f after 0x; this one has others.",
    };
  }
  const canonical = checksumAddress(`0x${body.toLowerCase()}`);
  const mixedCase = body !== body.toLowerCase() && body !== body.toUpperCase();
  if (mixedCase && `0x${body}` !== canonical) {
    return {
      ok: false,
      reason:
        "The address's capital letters do not match its EIP-55 checksum: a character is mistyped, or it was changed. Copy it again from its source; do not correct it by hand.",
    };
  }
  if (canonical === ZERO_ADDRESS) {
    return {
      ok: false,
      reason: "This is the zero address: nobody holds its key, so anything sent there is lost.",
    };
  }
  return { ok: true, address: canonical };
}

function requireAddress(input: string, field: string): `0x${string}` {
  const check = parseAddress(input);
  if (!check.ok) throw new AppError("BAD_INPUT", `${field}: ${check.reason}`, { field });
  return check.address as `0x${string}`;
}

// ---------------------------------------------------------------------------------------------------------
// Building

/** What the executor builds from an approved intent and the chain's data (nonce and fees). */
export type EthereumTransfer = {
  chainId: number;
  /** The configured asset: native ETH or an ERC-20 with its contract. */
  asset: Asset;
  /** Base units: wei, or the token's smallest unit. */
  amount: bigint;
  destination: string;
  nonce: number;
  /** Default: NATIVE_TRANSFER_GAS or ERC20_TRANSFER_GAS. */
  gasLimit?: bigint;
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
};

/** The gas limit buildTransfer uses for an asset when none is given. */
export function gasLimitFor(asset: Asset): bigint {
  return asset.kind === "erc20" ? ERC20_TRANSFER_GAS : NATIVE_TRANSFER_GAS;
}

/**
 * EIP-1559 fees from the node's base fee and tip: max fee = 2 × base fee + tip, which stays valid through
 * six full blocks of base-fee rises (12.5 % each). Only limit × (base fee + tip) is charged.
 */
export function suggestFees(fees: { baseFeePerGas: bigint; maxPriorityFeePerGas: bigint }): {
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
} {
  return {
    maxFeePerGas: 2n * fees.baseFeePerGas + fees.maxPriorityFeePerGas,
    maxPriorityFeePerGas: fees.maxPriorityFeePerGas,
  };
}

function positiveQuantity(value: bigint, field: string, allowZero: boolean): void {
  if (value < (allowZero ? 0n : 1n) || value > UINT256_MAX) {
    throw new AppError(
      "BAD_INPUT",
      `${field} must be ${allowZero ? "zero or more" : "more than zero"} and fit in 256 bits; got ${value}.`,
      { field },
    );
  }
}

/** The unsigned EIP-1559 transaction (0x02 ‖ RLP, as 0x-hex) moving `amount` of the asset to `destination`. */
export function buildTransfer(transfer: EthereumTransfer): Hex {
  const { asset } = transfer;
  if (asset.chain !== "ethereum") {
    throw new AppError("BAD_INPUT", `${asset.symbol} is an asset on ${asset.chain}, not on Ethereum.`, {
      field: "asset",
    });
  }
  if (!Number.isSafeInteger(transfer.chainId) || transfer.chainId <= 0) {
    throw new AppError("BAD_INPUT", `The chain id must be a positive integer; got ${transfer.chainId}.`, {
      field: "chainId",
    });
  }
  if (!Number.isSafeInteger(transfer.nonce) || transfer.nonce < 0) {
    throw new AppError("BAD_INPUT", `The nonce must be a whole number, 0 or more; got ${transfer.nonce}.`, {
      field: "nonce",
    });
  }
  positiveQuantity(transfer.amount, "amount", false);
  positiveQuantity(transfer.maxFeePerGas, "maxFeePerGas", false);
  positiveQuantity(transfer.maxPriorityFeePerGas, "maxPriorityFeePerGas", true);
  if (transfer.maxPriorityFeePerGas > transfer.maxFeePerGas) {
    throw new AppError(
      "BAD_INPUT",
      `The priority fee (${transfer.maxPriorityFeePerGas} wei per gas) cannot exceed the max fee (${transfer.maxFeePerGas}).`,
      { field: "maxPriorityFeePerGas" },
    );
  }
  const gas = transfer.gasLimit ?? gasLimitFor(asset);
  if (gas < NATIVE_TRANSFER_GAS || gas > 30_000_000n) {
    throw new AppError("BAD_INPUT", `The gas limit must be between 21000 and 30000000; got ${gas}.`, {
      field: "gasLimit",
    });
  }
  const destination = requireAddress(transfer.destination, "destination");
  const common = {
    type: "eip1559",
    chainId: transfer.chainId,
    nonce: transfer.nonce,
    gas,
    maxFeePerGas: transfer.maxFeePerGas,
    maxPriorityFeePerGas: transfer.maxPriorityFeePerGas,
  } as const;
  if (asset.kind === "native") {
    return serializeTransaction({ ...common, to: destination, value: transfer.amount });
  }
  if (asset.kind !== "erc20" || asset.contract === undefined) {
    throw new AppError("BAD_INPUT", `${asset.symbol} is not ETH or an ERC-20 with a contract address.`, {
      field: "asset",
    });
  }
  const contract = requireAddress(asset.contract, "asset contract");
  if (contract === destination) {
    throw new AppError(
      "BAD_INPUT",
      `The destination is ${asset.symbol}'s own token contract: tokens sent there are lost.`,
      {
        field: "destination",
      },
    );
  }
  const data = encodeFunctionData({
    abi: erc20Abi,
    functionName: "transfer",
    args: [destination, transfer.amount],
  });
  return serializeTransaction({ ...common, to: contract, value: 0n, data });
}

/** How much both fees of a replacement must rise at least, in percent: geth's and EDR's price bump rule. */
export const REPLACEMENT_BUMP_PERCENT = 10n;

/**
 * A stuck transaction's replacement (a speed-up): the very same transfer — nonce, destination, value, calldata,
 * gas limit, chain id — with higher fees. Both fees must rise by at least REPLACEMENT_BUMP_PERCENT, or nodes
 * refuse it as "replacement transaction underpriced". Only one of the two can ever be mined.
 */
export function replaceFees(
  unsigned: string,
  fees: { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint },
): Hex {
  const tx = parseEip1559(unsigned, false);
  const oldMax = tx.maxFeePerGas ?? 0n;
  const oldTip = tx.maxPriorityFeePerGas ?? 0n;
  const least = (fee: bigint) => fee + (fee * REPLACEMENT_BUMP_PERCENT + 99n) / 100n;
  if (fees.maxFeePerGas < least(oldMax)) {
    throw new AppError(
      "BAD_INPUT",
      `A replacement's max fee must be at least ${least(oldMax)} wei per gas (${REPLACEMENT_BUMP_PERCENT}% above ${oldMax}); got ${fees.maxFeePerGas}.`,
      { field: "maxFeePerGas" },
    );
  }
  if (fees.maxPriorityFeePerGas < least(oldTip)) {
    throw new AppError(
      "BAD_INPUT",
      `A replacement's priority fee must be at least ${least(oldTip)} wei per gas (${REPLACEMENT_BUMP_PERCENT}% above ${oldTip}); got ${fees.maxPriorityFeePerGas}.`,
      { field: "maxPriorityFeePerGas" },
    );
  }
  if (fees.maxPriorityFeePerGas > fees.maxFeePerGas) {
    throw new AppError("BAD_INPUT", "The priority fee cannot exceed the max fee.", {
      field: "maxPriorityFeePerGas",
    });
  }
  const { r: _r, s: _s, yParity: _y, v: _v, ...fields } = tx;
  return serializeTransaction({ ...fields, ...fees });
}

// ---------------------------------------------------------------------------------------------------------
// Decoding

/** What decoding needs besides the bytes: the configured assets (to name tokens by contract) and the sender. */
export type EthereumDecodeContext = {
  assets: readonly Asset[];
  /** The key's address: an unsigned transaction does not name its sender (the signature will). */
  from: string;
};

type ParsedEip1559 = TransactionSerializableEIP1559 & { r?: Hex; s?: Hex; yParity?: number; v?: bigint };

function refuse(message: string): never {
  throw new AppError("BAD_INPUT", message, { field: "transaction" });
}

function parseEip1559(raw: string, signed: boolean): ParsedEip1559 {
  if (!/^0x02([0-9a-fA-F]{2})+$/.test(raw)) {
    refuse(
      "An Ethereum transaction here is an EIP-1559 transaction: 0x02 followed by its RLP encoding, as hex.",
    );
  }
  let parsed: ReturnType<typeof parseTransaction>;
  try {
    parsed = parseTransaction(raw as Hex);
  } catch (e) {
    refuse(
      `The transaction bytes do not decode as EIP-1559: ${e instanceof Error ? e.message.split("\n")[0] : e}`,
    );
  }
  if (parsed.type !== "eip1559") refuse(`This is a ${parsed.type} transaction; Keyward signs only EIP-1559.`);
  const tx = parsed as ParsedEip1559;
  const hasSignature = tx.r !== undefined || tx.s !== undefined;
  if (hasSignature !== signed) {
    refuse(
      signed
        ? "The transaction carries no signature."
        : "The transaction is already signed; give it unsigned.",
    );
  }
  if ((tx.accessList?.length ?? 0) > 0)
    refuse("The transaction has an access list; Keyward's transfers have none.");
  if (tx.to === undefined || tx.to === null)
    refuse("The transaction creates a contract; Keyward only transfers.");
  if (tx.chainId === undefined) refuse("The transaction names no chain id.");
  // One encoding per transaction: what is approved, signed and broadcast are the very same bytes.
  const { r, s, yParity, v: _v, ...fields } = tx;
  const again =
    r !== undefined && s !== undefined && yParity !== undefined
      ? serializeTransaction(fields, { r, s, yParity })
      : serializeTransaction(fields);
  if (again.toLowerCase() !== raw.toLowerCase()) refuse("The transaction is not in canonical encoding.");
  return tx;
}

function decodeParsed(tx: ParsedEip1559, context: EthereumDecodeContext): DecodedTransaction {
  const from = requireAddress(context.from, "from");
  const to = checksumAddress(tx.to as Hex);
  const value = tx.value ?? 0n;
  const data = tx.data ?? "0x";
  const gas = tx.gas ?? 0n;
  const maxFeePerGas = tx.maxFeePerGas ?? 0n;
  const maxFee = gas * maxFeePerGas;
  const eth = context.assets.find((a) => a.chain === "ethereum" && a.kind === "native");
  const ethSymbol = eth?.symbol ?? "ETH";
  const ethDecimals = eth?.decimals ?? 18;

  let transfer: { asset: Asset | undefined; symbol: string; amount: bigint; destination: string };
  if (data === "0x") {
    if (value === 0n) refuse("The transaction moves nothing: no value and no call.");
    transfer = { asset: eth, symbol: ethSymbol, amount: value, destination: to };
  } else {
    const token = context.assets.find(
      (a) => a.chain === "ethereum" && a.kind === "erc20" && a.contract?.toLowerCase() === to.toLowerCase(),
    );
    if (token === undefined) refuse(`The transaction calls ${to}, which is not a configured token contract.`);
    if (value !== 0n) refuse(`The transaction sends ETH along with a call to ${token.symbol}'s contract.`);
    let call: ReturnType<typeof decodeFunctionData<typeof erc20Abi>>;
    try {
      call = decodeFunctionData({ abi: erc20Abi, data });
    } catch {
      refuse(`The call to ${token.symbol}'s contract is not an ERC-20 function.`);
    }
    if (call.functionName !== "transfer") {
      refuse(`The call to ${token.symbol}'s contract is ${call.functionName}, not transfer.`);
    }
    const [recipient, amount] = call.args;
    // decodeFunctionData ignores trailing bytes; re-encoding proves there are none.
    if (
      encodeFunctionData({ abi: erc20Abi, functionName: "transfer", args: [recipient, amount] }) !==
      data.toLowerCase()
    ) {
      refuse(`The call to ${token.symbol}'s contract carries bytes beyond transfer(address, uint256).`);
    }
    transfer = { asset: token, symbol: token.symbol, amount, destination: checksumAddress(recipient) };
  }
  const decimals = transfer.asset?.decimals;
  const amountWords =
    decimals === undefined
      ? `${transfer.amount} base units of ${transfer.symbol}`
      : `${formatUnits(transfer.amount, decimals)} ${transfer.symbol}`;
  const lines: { label: string; value: string }[] = [
    { label: "From", value: from },
    { label: "Destination", value: transfer.destination },
    { label: "Amount", value: amountWords },
  ];
  if (transfer.asset?.kind === "erc20") lines.push({ label: "Token contract", value: to });
  lines.push(
    {
      label: "Fee at most",
      value: `${formatUnits(maxFee, ethDecimals)} ${ethSymbol} (gas limit ${gas} × max fee ${maxFeePerGas} wei, tip ${tx.maxPriorityFeePerGas ?? 0n} wei)`,
    },
    { label: "Nonce", value: String(tx.nonce ?? 0) },
    { label: "Chain id", value: String(tx.chainId) },
  );
  return {
    chain: "ethereum",
    network: String(tx.chainId),
    from,
    transfers: [{ asset: transfer.symbol, amount: transfer.amount, destination: transfer.destination }],
    maxFee,
    nonce: String(tx.nonce ?? 0),
    lines,
  };
}

/**
 * What an unsigned EIP-1559 transaction does, from its bytes: one transfer (ETH by value, or an ERC-20
 * `transfer` to a configured token contract), the most it can cost, nonce and chain id. Refuses anything
 * else: other types, access lists, contract creation, calls to unknown contracts, ETH sent with a token call,
 * extra calldata, non-canonical encodings.
 */
export function decodeUnsigned(unsigned: string, context: EthereumDecodeContext): DecodedTransaction {
  return decodeParsed(parseEip1559(unsigned, false), context);
}

/**
 * An unsigned EIP-1559 transaction imported from a wallet backend, as Keyward stores and signs it: lower-case
 * 0x-hex of the very same bytes. Refuses what decodeUnsigned refuses (other types, signed, non-canonical…) and a
 * priority fee above the max fee (no node accepts it). What it does is for decodeUnsigned and the intent check.
 */
export function importUnsigned(text: string): Hex {
  const raw = text.trim();
  if (!/^0[xX]/.test(raw))
    refuse("An Ethereum transaction is imported as 0x-hex: 0x02 followed by its RLP encoding.");
  const hex = `0x${raw.slice(2).toLowerCase()}` as Hex;
  const tx = parseEip1559(hex, false);
  if ((tx.maxPriorityFeePerGas ?? 0n) > (tx.maxFeePerGas ?? 0n)) {
    refuse(
      `The transaction's priority fee (${tx.maxPriorityFeePerGas} wei per gas) is above its max fee (${tx.maxFeePerGas}): no node accepts it.`,
    );
  }
  return hex;
}

/** The fee fields and nonce of an unsigned EIP-1559 transaction (an imported one's estimate and nonce). */
export function unsignedFields(unsigned: string): {
  nonce: number;
  chainId: number;
  gas: bigint;
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
} {
  const tx = parseEip1559(unsigned, false);
  return {
    nonce: tx.nonce ?? 0,
    chainId: tx.chainId ?? 0,
    gas: tx.gas ?? 0n,
    maxFeePerGas: tx.maxFeePerGas ?? 0n,
    maxPriorityFeePerGas: tx.maxPriorityFeePerGas ?? 0n,
  };
}

/** The same for a signed transaction; the sender is recovered from its signature. */
export function decodeSigned(raw: string, assets: readonly Asset[]): DecodedTransaction {
  const tx = parseEip1559(raw, true);
  const { r, s, yParity, v: _v, ...fields } = tx;
  const digest = hexToBytes(keccak256(serializeTransaction(fields)));
  const signature = new secp256k1.Signature(BigInt(r ?? "0x0"), BigInt(s ?? "0x0"));
  if (signature.hasHighS()) refuse("The transaction's signature is high-S; Ethereum refuses those.");
  let publicKey: string;
  try {
    publicKey = bytesToHex(
      signature
        .addRecoveryBit(yParity ?? 0)
        .recoverPublicKey(digest)
        .toBytes(false),
    );
  } catch {
    refuse("The transaction's signature recovers no public key.");
  }
  return decodeParsed(tx, { assets, from: ethereumAddress(publicKey) });
}

/** What the HSM signs: keccak256 of the unsigned serialisation (0x02 ‖ RLP), one 32-byte digest. */
export function signingRequests(unsigned: string): SigningRequest[] {
  parseEip1559(unsigned, false);
  return [{ curve: "secp256k1", data: hexToBytes(keccak256(unsigned as Hex)) }];
}

// ---------------------------------------------------------------------------------------------------------
// Assembling

export type EthereumAssembleContext = {
  /** The signing key's public key: 65-byte uncompressed secp256k1, hex. */
  publicKey: string;
  assets: readonly Asset[];
};

/**
 * The signed transaction from the unsigned one and the HSM's signature (64 bytes r ‖ s, as CKM_ECDSA gives
 * it): s made low (Ethereum refuses the high-S twin), the signature verified against the key's own public key,
 * yParity read off the same verification (the parity of R), then serialised and hashed. Refuses a signature by
 * another key or over other bytes.
 */
export function assemble(
  unsigned: string,
  signatures: readonly Uint8Array[],
  context: EthereumAssembleContext,
): SignedTransaction {
  const tx = parseEip1559(unsigned, false);
  const publicKey = publicKeyBytes(context.publicKey);
  const [hsmSignature, ...extra] = signatures;
  if (hsmSignature === undefined || extra.length > 0) {
    throw new AppError("INTERNAL", `An Ethereum transaction takes one signature; got ${signatures.length}.`);
  }
  if (hsmSignature.length !== 64) {
    throw new AppError("INTERNAL", `A secp256k1 signature is 64 bytes (r ‖ s); got ${hsmSignature.length}.`);
  }
  const digest = hexToBytes(keccak256(unsigned as Hex));
  let signature: InstanceType<typeof secp256k1.Signature>;
  try {
    signature = secp256k1.Signature.fromCompact(hsmSignature).normalizeS();
  } catch {
    throw new AppError("INTERNAL", "The signature's r or s is out of range: it is not an ECDSA signature.");
  }
  const yParity = verifiedParity(digest, signature.r, signature.s, publicKey);
  if (yParity === null) {
    throw new AppError(
      "INTERNAL",
      "The signature does not verify against the key's public key over this transaction: refusing to assemble it.",
    );
  }
  const { r: _r, s: _s, yParity: _y, v: _v, ...fields } = tx;
  const raw = serializeTransaction(fields, {
    r: `0x${signature.r.toString(16).padStart(64, "0")}`,
    s: `0x${signature.s.toString(16).padStart(64, "0")}`,
    yParity,
  });
  const decoded = decodeParsed(tx, { assets: context.assets, from: ethereumAddress(context.publicKey) });
  return { raw, txid: keccak256(raw), decoded };
}

const N = secp256k1.CURVE.n;

/**
 * ECDSA verification (SEC 1, 4.1.4) that also yields Ethereum's recovery bit: R = (z/s)·G + (r/s)·Q must have
 * x = r, and yParity is R's y parity — the bit for which recovery from (r, s) gives Q back. One double scalar
 * multiplication, where recovering with both bits would take up to two and a verify a third (~10 ms per
 * transaction measured here, against ~1 ms). null when it does not verify, or when R's x is at least n (the
 * signature would need a recovery id of 2 or 3, which an EIP-1559 transaction cannot carry; odds ~2^-128).
 * ethereum.test.ts checks it agrees with noble's verify and recoverPublicKey on valid and tampered signatures.
 */
export function verifiedParity(
  digest: Uint8Array,
  r: bigint,
  s: bigint,
  publicKey: Uint8Array,
): 0 | 1 | null {
  if (digest.length !== 32 || r <= 0n || r >= N || s <= 0n || s >= N) return null;
  const q = keyPoint(publicKey);
  if (q === null) return null;
  // A 32-byte digest against a 256-bit order: bits2int is the digest itself, reduced mod n.
  const z = mod(BigInt(bytesToHex(digest)), N);
  const w = invert(s, N);
  const point = secp256k1.Point.BASE.multiplyUnsafe(mod(z * w, N)).add(q.multiplyUnsafe(mod(r * w, N)));
  if (point.is0()) return null;
  const { x, y } = point.toAffine();
  if (x !== r) return null;
  return y % 2n === 0n ? 0 : 1;
}

/**
 * Public keys as curve points with a 4-bit window table (~100 KB each), for the keys that sign most: it halves
 * the Q multiplication. Least recently used first out, 256 at most (~25 MB).
 */
const KEY_POINTS = new Map<string, InstanceType<typeof secp256k1.Point>>();
const KEY_POINTS_MAX = 256;

function keyPoint(publicKey: Uint8Array): InstanceType<typeof secp256k1.Point> | null {
  const hex = bytesToHex(publicKey);
  const known = KEY_POINTS.get(hex);
  if (known !== undefined) {
    KEY_POINTS.delete(hex);
    KEY_POINTS.set(hex, known);
    return known;
  }
  let point: InstanceType<typeof secp256k1.Point>;
  try {
    point = secp256k1.Point.fromHex(publicKey); // refuses a point off the curve
  } catch {
    return null;
  }
  point.precompute(4);
  KEY_POINTS.set(hex, point);
  for (const oldest of KEY_POINTS.keys()) {
    if (KEY_POINTS.size <= KEY_POINTS_MAX) break;
    KEY_POINTS.delete(oldest);
  }
  return point;
}
