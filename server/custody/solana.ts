// Solana for Keyward: the base58 address of an Ed25519 key, reading an address from user input, building the
// unsigned SOL or SPL transfer the executor signs, decoding such a transaction back from its bytes (what
// approvers see and what checkAgainstIntent compares), the bytes the HSM signs, and putting the signature in.
// Pure: no database, no HSM, no network. It never signs anything, and it only decodes the shapes it builds
// (one SOL transfer; or an idempotent token-account creation and one transferChecked; either optionally after
// a compute unit limit and price, the priority fee): anything else is refused.
import { ed25519 } from "@noble/curves/ed25519";
import {
  ASSOCIATED_TOKEN_PROGRAM_ADDRESS,
  AssociatedTokenInstruction,
  findAssociatedTokenPda,
  getCreateAssociatedTokenIdempotentInstruction,
  getTransferCheckedInstruction,
  identifyAssociatedTokenInstruction,
  identifyTokenInstruction,
  parseCreateAssociatedTokenIdempotentInstruction,
  parseTransferCheckedInstruction,
  TOKEN_PROGRAM_ADDRESS,
  TokenInstruction,
} from "@solana-program/token";
import {
  getTransferSolInstruction,
  identifySystemInstruction,
  parseTransferSolInstruction,
  SYSTEM_PROGRAM_ADDRESS,
  SystemInstruction,
} from "@solana-program/system";
import {
  type Address,
  address,
  appendTransactionMessageInstructions,
  type Blockhash,
  type Instruction,
  compileTransaction,
  createNoopSigner,
  createTransactionMessage,
  decompileTransactionMessage,
  getAddressDecoder,
  getBase58Decoder,
  getBase58Encoder,
  getBase64Decoder,
  getBase64EncodedWireTransaction,
  getBase64Encoder,
  getCompiledTransactionMessageDecoder,
  getCompiledTransactionMessageEncoder,
  getTransactionDecoder,
  getStructCodec,
  getTransactionEncoder,
  getU8Codec,
  getU32Codec,
  getU64Codec,
  isOffCurveAddress,
  pipe,
  type SignatureBytes,
  setTransactionMessageFeePayer,
  setTransactionMessageLifetimeUsingBlockhash,
  type Transaction,
} from "@solana/kit";
import { formatUnits } from "@/server/policy/amounts";
import { AppError } from "@/server/errors";
import type {
  AddressCheck,
  Asset,
  DecodedTransaction,
  SignedTransaction,
  SigningRequest,
  SolanaCluster,
} from "./types";

/** What decoding needs besides the bytes: the cluster they are for (bytes do not say) and the asset list. */
export type SolanaConfig = { cluster: SolanaCluster; assets: readonly Asset[] };

/**
 * Fees as Solana charges them today: 5,000 lamports per signature (ours: one), and the rent-exempt deposit of a
 * new 165-byte token account, which the fee payer leaves in the destination's token account when it creates it.
 */
export const SOLANA_FEES = { lamportsPerSignature: 5000n, tokenAccountRent: 2039280n } as const;

/** The compute budget program: a priority fee is a price per compute unit times the unit limit. */
export const COMPUTE_BUDGET_PROGRAM = address("ComputeBudget111111111111111111111111111111");
/** Solana's most compute units per transaction. */
export const MAX_COMPUTE_UNITS = 1_400_000;
const unitLimitCodec = getStructCodec([
  ["discriminator", getU8Codec()],
  ["units", getU32Codec()],
]);
const unitPriceCodec = getStructCodec([
  ["discriminator", getU8Codec()],
  ["microLamports", getU64Codec()],
]);
const SET_UNIT_LIMIT = 2;
const SET_UNIT_PRICE = 3;

/** A priority fee: a compute unit limit and a price per unit in micro-lamports. */
export type SolanaPriority = { computeUnits: number; microLamportsPerUnit: bigint };

/** What the priority costs at most, as Solana charges it: ⌈units × price / 10⁶⌉ lamports. */
export function priorityFee(priority: SolanaPriority): bigint {
  return (BigInt(priority.computeUnits) * priority.microLamportsPerUnit + 999_999n) / 1_000_000n;
}

const U64_MAX = (1n << 64n) - 1n;
const BASE58 = /^[1-9A-HJ-NP-Za-km-z]+$/;

function badInput(field: string, message: string): AppError {
  return new AppError("BAD_INPUT", message, { field });
}

/** The address of a 32-byte Ed25519 public key given as hex (keys.public_key): base58 of the very bytes. */
export function solanaAddress(publicKeyHex: string): string {
  if (!/^[0-9a-fA-F]{64}$/.test(publicKeyHex)) {
    throw badInput("publicKey", "An Ed25519 public key is 32 bytes (64 hex digits).");
  }
  return getAddressDecoder().decode(Buffer.from(publicKeyHex, "hex"));
}

/**
 * A Solana address from user input: base58 of 32 bytes, or why not. By default it must also be a point on the
 * Ed25519 curve, i.e. a wallet someone holds a key for. An off-curve address is a program-derived address (a
 * token account, a program's vault): nobody can sign for it, and the usual mistake is pasting a token account
 * where the owner's wallet belongs — an SPL transfer would then go to a token account of that token account,
 * which no one can ever move. `allowOffCurve` accepts them for a caller that means it.
 */
export function parseAddress(input: string, options: { allowOffCurve?: boolean } = {}): AddressCheck {
  const text = input.trim();
  if (text === "") return { ok: false, reason: "is empty; a Solana address is 32 to 44 base58 characters" };
  if (!BASE58.test(text)) {
    const bad = [...text].find((c) => !BASE58.test(c)) ?? "";
    return {
      ok: false,
      reason: `contains "${bad}", which is not a base58 character (base58 leaves out 0, O, I and l)`,
    };
  }
  const bytes = getBase58Encoder().encode(text);
  if (bytes.length !== 32) {
    return { ok: false, reason: `decodes to ${bytes.length} bytes; a Solana address is 32 bytes` };
  }
  const canonical = getAddressDecoder().decode(bytes);
  if (!options.allowOffCurve && isOffCurveAddress(canonical)) {
    return {
      ok: false,
      reason:
        "is not on the Ed25519 curve: it is a program-derived address (such as a token account), which no key " +
        "can sign for; give the owner's wallet address instead",
    };
  }
  return { ok: true, address: canonical };
}

function addressOf(field: string, input: string): Address {
  const check = parseAddress(input);
  if (!check.ok) throw badInput(field, `The ${field} ${check.reason}.`);
  return address(check.address);
}

/** What the executor builds from an approved intent and the chain's recent blockhash. */
export type SolanaTransferIntent = {
  /** The key's address: fee payer, and owner of the source (SOL account or token account). */
  from: string;
  /** The recipient's wallet (for SPL: the owner of the token account that receives). */
  destination: string;
  asset: Asset;
  amount: bigint;
  blockhash: string;
  lastValidBlockHeight: bigint;
  /** A priority fee (compute unit limit and price), counted in the decoded maxFee; none when absent. */
  priority?: SolanaPriority;
};

/** An unsigned transaction: base64 wire format with its signature left empty, and when its blockhash expires. */
export type SolanaUnsignedTransfer = { unsigned: string; lastValidBlockHeight: bigint };

/**
 * The unsigned transfer for an intent: a system transfer for SOL; for an SPL token the destination's
 * associated token account created idempotently (created when missing, nothing when present — always included,
 * so the bytes themselves name the destination wallet) and a transferChecked from `from`'s associated token
 * account. Fee payer `from`; lifetime the recent blockhash, valid until `lastValidBlockHeight`.
 */
export async function buildTransfer(intent: SolanaTransferIntent): Promise<SolanaUnsignedTransfer> {
  const { asset, amount } = intent;
  if (asset.chain !== "solana")
    throw badInput("asset", `${asset.symbol} is a ${asset.chain} asset, not Solana's.`);
  if (amount <= 0n) throw badInput("amount", "The amount must be more than zero.");
  if (amount > U64_MAX) throw badInput("amount", "The amount does not fit Solana's 64-bit amounts.");
  const from = addressOf("from", intent.from);
  const destination = addressOf("destination", intent.destination);
  if (!BASE58.test(intent.blockhash) || getBase58Encoder().encode(intent.blockhash).length !== 32) {
    throw badInput("blockhash", "The recent blockhash is not 32 bytes of base58.");
  }
  const payer = createNoopSigner(from);
  const instructions: Instruction[] = [];
  if (intent.priority) {
    const { computeUnits, microLamportsPerUnit } = intent.priority;
    if (!Number.isInteger(computeUnits) || computeUnits < 1 || computeUnits > MAX_COMPUTE_UNITS) {
      throw badInput("priority", `The compute unit limit is a whole number from 1 to ${MAX_COMPUTE_UNITS}.`);
    }
    if (microLamportsPerUnit < 0n || microLamportsPerUnit > U64_MAX) {
      throw badInput("priority", "The price per compute unit is a 64-bit number of micro-lamports.");
    }
    instructions.push(
      {
        programAddress: COMPUTE_BUDGET_PROGRAM,
        data: unitLimitCodec.encode({ discriminator: SET_UNIT_LIMIT, units: computeUnits }),
      },
      {
        programAddress: COMPUTE_BUDGET_PROGRAM,
        data: unitPriceCodec.encode({ discriminator: SET_UNIT_PRICE, microLamports: microLamportsPerUnit }),
      },
    );
  }
  if (asset.kind === "native") {
    instructions.push(getTransferSolInstruction({ source: payer, destination, amount }));
  } else if (asset.kind === "spl" && asset.contract) {
    const mint = address(asset.contract);
    const [source] = await findAssociatedTokenPda({ owner: from, mint, tokenProgram: TOKEN_PROGRAM_ADDRESS });
    const [ata] = await findAssociatedTokenPda({
      owner: destination,
      mint,
      tokenProgram: TOKEN_PROGRAM_ADDRESS,
    });
    instructions.push(
      getCreateAssociatedTokenIdempotentInstruction({ payer, ata, owner: destination, mint }),
      getTransferCheckedInstruction({
        source,
        mint,
        destination: ata,
        authority: payer,
        amount,
        decimals: asset.decimals,
      }),
    );
  } else {
    throw badInput("asset", `${asset.symbol} is neither SOL nor an SPL token with a mint.`);
  }
  const message = pipe(
    createTransactionMessage({ version: 0 }),
    (m) => setTransactionMessageFeePayer(from, m),
    (m) =>
      setTransactionMessageLifetimeUsingBlockhash(
        { blockhash: intent.blockhash as Blockhash, lastValidBlockHeight: intent.lastValidBlockHeight },
        m,
      ),
    (m) => appendTransactionMessageInstructions(instructions, m),
  );
  const transaction = compileTransaction(message);
  return {
    unsigned: getBase64EncodedWireTransaction(transaction),
    lastValidBlockHeight: intent.lastValidBlockHeight,
  };
}

function readTransaction(unsigned: string): Transaction {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(getBase64Encoder().encode(unsigned));
  } catch (cause) {
    throw new AppError("BAD_INPUT", "The Solana transaction is not base64.", { field: "unsigned", cause });
  }
  try {
    return getTransactionDecoder().decode(bytes);
  } catch (cause) {
    throw new AppError("BAD_INPUT", "The bytes are not a Solana transaction.", { field: "unsigned", cause });
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The compiled message `bytes` is, exactly (legacy or v0, nothing after it), or null. */
function messageOf(bytes: Uint8Array) {
  try {
    const compiled = getCompiledTransactionMessageDecoder().decode(bytes);
    if (compiled.version !== "legacy" && compiled.version !== 0) return null;
    return sameBytes(new Uint8Array(getCompiledTransactionMessageEncoder().encode(compiled)), bytes)
      ? compiled
      : null;
  } catch {
    return null;
  }
}

/**
 * A Solana transaction imported from a wallet backend (base64): its unsigned wire transaction, or its message
 * alone (legacy or v0), as the base64 unsigned wire transaction Keyward stores and signs — the message bytes
 * unchanged, every signature slot empty. Refuses other bytes, and a transaction that already carries a
 * signature. What the transaction does is for decodeUnsigned and the intent check.
 */
export function importUnsigned(text: string): string {
  const refuse = (why: string) => badInput("unsigned", `This Solana transaction ${why}.`);
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(getBase64Encoder().encode(text.trim()));
  } catch (cause) {
    throw new AppError("BAD_INPUT", "The Solana transaction is not base64.", { field: "unsigned", cause });
  }
  const message = messageOf(bytes);
  if (message !== null) {
    const signers = message.staticAccounts.slice(0, message.header.numSignerAccounts);
    if (signers.length === 0) throw refuse("names no signer, so nobody pays its fee");
    if (signers.length > 127) throw refuse(`needs ${signers.length} signatures`);
    // The wire format: the signature count (a one-byte short vector here), an empty slot per signer, the message.
    const wire = new Uint8Array(1 + 64 * signers.length + bytes.length);
    wire[0] = signers.length;
    wire.set(bytes, 1 + 64 * signers.length);
    return getBase64EncodedWireTransaction(getTransactionDecoder().decode(wire));
  }
  let transaction: Transaction;
  try {
    transaction = getTransactionDecoder().decode(bytes);
  } catch {
    throw refuse("is neither an unsigned wire transaction nor a message");
  }
  if (messageOf(new Uint8Array(transaction.messageBytes)) === null) {
    throw refuse("carries a message that is not a legacy or v0 message, or has bytes after it");
  }
  if (!sameBytes(new Uint8Array(getTransactionEncoder().encode(transaction)), bytes)) {
    throw refuse("is not in canonical wire encoding");
  }
  const signed = Object.values(transaction.signatures).some((sig) => sig?.some((b) => b !== 0) === true);
  if (signed) throw refuse("is already signed; import it unsigned");
  const unsigned: Transaction = {
    messageBytes: transaction.messageBytes,
    signatures: Object.fromEntries(Object.keys(transaction.signatures).map((a) => [a, null])),
  };
  return getBase64EncodedWireTransaction(unsigned);
}

/** The recent blockhash a Solana transaction (base64 wire) is valid with, or null for a durable nonce. */
export function blockhashOf(unsigned: string): string | null {
  const compiled = getCompiledTransactionMessageDecoder().decode(readTransaction(unsigned).messageBytes);
  const message = decompileTransactionMessage(compiled);
  return "blockhash" in message.lifetimeConstraint ? message.lifetimeConstraint.blockhash : null;
}

function assetLabel(amount: bigint, asset: Asset): string {
  return `${formatUnits(amount, asset.decimals)} ${asset.symbol}`;
}

const SOL_DECIMALS = 9;
const sol = (lamports: bigint) => `${formatUnits(lamports, SOL_DECIMALS)} SOL`;

/**
 * What the transaction does, decoded from its bytes (base64 wire format, signed or not): the fee payer, the one
 * transfer (SOL, or the configured SPL token recognised by its mint, to the wallet that owns the receiving token
 * account), the blockhash as nonce, the most it can cost. Refuses anything Keyward does not build: several
 * signers, address lookup tables, other programs or instructions, a token not in the asset list.
 */
export function decodeUnsigned(unsigned: string, config: SolanaConfig): DecodedTransaction {
  const transaction = readTransaction(unsigned);
  const refuse = (why: string) => badInput("unsigned", `This Solana transaction ${why}.`);
  const compiled = getCompiledTransactionMessageDecoder().decode(transaction.messageBytes);
  if (compiled.version !== "legacy" && compiled.version !== 0) throw refuse(`is version ${compiled.version}`);
  if ("addressTableLookups" in compiled && (compiled.addressTableLookups?.length ?? 0) > 0) {
    throw refuse("uses address lookup tables, which Keyward does not build");
  }
  if (compiled.header.numSignerAccounts !== 1) {
    throw refuse(`needs ${compiled.header.numSignerAccounts} signatures; Keyward's transfers need one`);
  }
  const message = decompileTransactionMessage(compiled);
  if (!("blockhash" in message.lifetimeConstraint))
    throw refuse("uses a durable nonce, not a recent blockhash");
  const from = message.feePayer.address;
  const blockhash = message.lifetimeConstraint.blockhash;
  // Leading compute budget instructions: a unit limit and a unit price, each at most once, nothing else.
  let units: number | undefined;
  let price: bigint | undefined;
  let budget = 0;
  for (const ix of message.instructions) {
    if (ix.programAddress !== COMPUTE_BUDGET_PROGRAM) break;
    const data = ix.data;
    if ((ix.accounts?.length ?? 0) > 0 || !data)
      throw refuse("has a compute budget instruction Keyward does not build");
    if (data[0] === SET_UNIT_LIMIT && data.length === 5 && units === undefined) {
      units = unitLimitCodec.decode(data).units;
    } else if (data[0] === SET_UNIT_PRICE && data.length === 9 && price === undefined) {
      price = unitPriceCodec.decode(data).microLamports;
    } else {
      throw refuse("has a compute budget instruction Keyward does not build (or one twice)");
    }
    budget++;
  }
  if (price !== undefined && units === undefined) {
    throw refuse("sets a compute unit price without a unit limit, so its priority fee has no stated bound");
  }
  const priority =
    units !== undefined && price !== undefined
      ? priorityFee({ computeUnits: units, microLamportsPerUnit: price })
      : 0n;
  const instructions = message.instructions.slice(budget);
  const base = { chain: "solana" as const, network: config.cluster, from, nonce: blockhash };
  const sig = SOLANA_FEES.lamportsPerSignature + priority;
  const priorityLines =
    units === undefined
      ? []
      : [
          {
            label: "Priority fee",
            value: `${sol(priority)} at most (${units} compute units at ${price ?? 0n} micro-lamports each)`,
          },
        ];

  const [first, second] = instructions;
  if (instructions.length === 1 && first?.programAddress === SYSTEM_PROGRAM_ADDRESS) {
    if (
      !first.data ||
      !first.accounts ||
      identifySystemInstruction(first.data) !== SystemInstruction.TransferSol
    ) {
      throw refuse("calls the system program for something other than a transfer");
    }
    const transfer = parseTransferSolInstruction({ ...first, data: first.data, accounts: first.accounts });
    if (transfer.accounts.source.address !== from)
      throw refuse("moves SOL from an account other than the fee payer");
    const solAsset = config.assets.find((a) => a.chain === "solana" && a.kind === "native");
    if (!solAsset) throw refuse("moves SOL, which is not in the asset list");
    const amount = transfer.data.amount;
    const destination = transfer.accounts.destination.address;
    return {
      ...base,
      transfers: [{ asset: solAsset.symbol, amount, destination }],
      maxFee: sig,
      lines: [
        { label: "Network", value: `Solana ${config.cluster}` },
        { label: "From", value: from },
        { label: "Destination", value: destination },
        { label: "Amount", value: assetLabel(amount, solAsset) },
        { label: "Fee at most", value: sol(sig) },
        ...priorityLines,
        { label: "Recent blockhash", value: blockhash },
      ],
    };
  }

  if (
    instructions.length === 2 &&
    first?.programAddress === ASSOCIATED_TOKEN_PROGRAM_ADDRESS &&
    second?.programAddress === TOKEN_PROGRAM_ADDRESS
  ) {
    if (
      !first.accounts ||
      !first.data ||
      identifyAssociatedTokenInstruction(first.data) !==
        AssociatedTokenInstruction.CreateAssociatedTokenIdempotent
    ) {
      throw refuse("calls the associated token program for something other than an idempotent creation");
    }
    if (
      !second.accounts ||
      !second.data ||
      identifyTokenInstruction(second.data) !== TokenInstruction.TransferChecked
    ) {
      throw refuse("calls the token program for something other than transferChecked");
    }
    const create = parseCreateAssociatedTokenIdempotentInstruction({
      ...first,
      data: first.data,
      accounts: first.accounts,
    });
    const transfer = parseTransferCheckedInstruction({
      ...second,
      data: second.data,
      accounts: second.accounts,
    });
    const mint = transfer.accounts.mint.address;
    const asset = config.assets.find((a) => a.chain === "solana" && a.kind === "spl" && a.contract === mint);
    if (!asset) throw refuse(`moves the token with mint ${mint}, which is not in the asset list`);
    if (transfer.data.decimals !== asset.decimals) {
      throw refuse(
        `says ${transfer.data.decimals} decimals for ${asset.symbol}, which has ${asset.decimals}`,
      );
    }
    if (transfer.accounts.authority.address !== from)
      throw refuse("moves tokens on another authority than the fee payer");
    if (create.accounts.payer.address !== from)
      throw refuse("has someone other than the fee payer create the token account");
    if (create.accounts.mint.address !== mint) throw refuse("creates a token account for another mint");
    if (create.accounts.tokenProgram.address !== TOKEN_PROGRAM_ADDRESS)
      throw refuse("creates a token account of another token program");
    // The associated token program itself refuses an `ata` that is not derived from owner and mint, and the whole
    // transaction fails with it: so tokens reaching `ata` reach the wallet `owner`.
    if (create.accounts.ata.address !== transfer.accounts.destination.address) {
      throw refuse("pays a token account other than the one it creates for the destination");
    }
    const amount = transfer.data.amount;
    const destination = create.accounts.owner.address;
    const maxFee = sig + SOLANA_FEES.tokenAccountRent;
    return {
      ...base,
      transfers: [{ asset: asset.symbol, amount, destination }],
      maxFee,
      lines: [
        { label: "Network", value: `Solana ${config.cluster}` },
        { label: "From", value: from },
        { label: "Destination", value: destination },
        { label: "Amount", value: assetLabel(amount, asset) },
        { label: "Token", value: `${asset.symbol} (mint ${mint})` },
        { label: "Destination token account", value: create.accounts.ata.address },
        {
          label: "Fee at most",
          value: `${sol(maxFee)} (${sol(sig)} fee, ${sol(SOLANA_FEES.tokenAccountRent)} deposit if the destination has no token account yet)`,
        },
        ...priorityLines,
        { label: "Recent blockhash", value: blockhash },
      ],
    };
  }
  throw refuse("is not a single SOL transfer or an SPL token transfer as Keyward builds them");
}

/** What the HSM signs: the message bytes, once, with the fee payer's Ed25519 key. */
export function signingRequests(unsigned: string): SigningRequest[] {
  return [{ curve: "ed25519", data: new Uint8Array(readTransaction(unsigned).messageBytes) }];
}

/**
 * The signed transaction: checks the Ed25519 signature over the message against the key's public key (hex),
 * which must be the fee payer's, puts it in, and returns the base64 wire transaction, its first signature
 * (base58) as txid, and the decoded transaction. A signature that does not verify is refused.
 */
export function assemble(
  unsigned: string,
  signatures: readonly Uint8Array[],
  publicKeyHex: string,
  config: SolanaConfig,
): SignedTransaction {
  const decoded = decodeUnsigned(unsigned, config);
  const transaction = readTransaction(unsigned);
  const signer = solanaAddress(publicKeyHex);
  if (decoded.from !== signer) {
    throw badInput("publicKey", `The key's address ${signer} is not the fee payer ${decoded.from}.`);
  }
  const [signature] = signatures;
  if (signatures.length !== 1 || !signature || signature.length !== 64) {
    throw badInput("signatures", "A Solana transfer takes exactly one 64-byte Ed25519 signature.");
  }
  const valid = ed25519.verify(
    signature,
    new Uint8Array(transaction.messageBytes),
    Buffer.from(publicKeyHex, "hex"),
    {
      zip215: false,
    },
  );
  if (!valid)
    throw badInput("signatures", "The Ed25519 signature does not verify against the key for this message.");
  const signed: Transaction = {
    messageBytes: transaction.messageBytes,
    signatures: { ...transaction.signatures, [signer]: signature as SignatureBytes },
  };
  return {
    raw: getBase64EncodedWireTransaction(signed),
    txid: getBase58Decoder().decode(signature),
    decoded,
  };
}

/** The wire bytes of a base64 transaction (for engines that take bytes, and tests). */
export function wireBytes(raw: string): Uint8Array {
  return new Uint8Array(getBase64Encoder().encode(raw));
}

/** Base64 of wire bytes (the inverse of wireBytes). */
export function wireBase64(bytes: Uint8Array): string {
  return getBase64Decoder().decode(getTransactionEncoder().encode(getTransactionDecoder().decode(bytes)));
}
