// allowlist.update: adding and removing addresses of one named allow-list on one chain, by quorum. The proposer
// (an operator or an admin) pastes addresses; the proposing transaction checks every one with its chain module's
// parseAddress (checksum, shape, the configured Bitcoin network: server/custody/addresses.ts), stores them in
// canonical form, and refuses — writing nothing, naming the field — a malformed address, an address given twice,
// an addition already on the list and a removal not on it. Approvers see the change as a diff in words: each
// address added or removed with its label, and the list's size before and after. Executing it needs no HSM: the
// entries are written in the completing transaction with allowlist.updated (server/allowlists/store.ts), after a
// check that Keyward still runs on the network the addresses were checked for.
import { parseAddressOn } from "@/server/custody/addresses";
import type { Chain } from "@/server/custody/types";
import { AppError } from "@/server/errors";
import { StepRefusedError } from "../executor/step-refused";
import {
  ALLOWLIST_UPDATE_KIND,
  type AllowlistUpdateInput,
  type AllowlistUpdatePayload,
  allowlistUpdateInputSchema,
  allowlistUpdatePayloadSchema,
} from "./allowlist-schema";
import type { OperationKind } from "./types";

export { ALLOWLIST_UPDATE_KIND };

const CHAIN_NAMES: Record<Chain, string> = { bitcoin: "Bitcoin", ethereum: "Ethereum", solana: "Solana" };

/** "Ethereum (chain 11155111)", "Bitcoin (testnet)". */
function chainWords(chain: Chain, network: string): string {
  return `${CHAIN_NAMES[chain]} (${chain === "ethereum" ? `chain ${network}` : network})`;
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

function bad(field: string, message: string): AppError {
  return new AppError("BAD_INPUT", `${field}: ${message}`, { field });
}

/** "is not a valid Ethereum address: …", with the chain module's reason as a sentence. */
function reasonWords(reason: string): string {
  const r = reason.trim().replace(/\.$/, "");
  return /^[A-Z]/.test(r) ? r : `the address ${r}`;
}

export const allowlistUpdate: OperationKind<AllowlistUpdatePayload, AllowlistUpdateInput> = {
  kind: ALLOWLIST_UPDATE_KIND,
  proposers: ["operator", "admin"],
  payload: allowlistUpdatePayloadSchema,
  propose: {
    input: allowlistUpdateInputSchema,
    async prepare(raw, read) {
      const input = allowlistUpdateInputSchema.parse(raw);
      const { networks } = read.chains();
      const network =
        input.chain === "bitcoin"
          ? networks.bitcoin
          : input.chain === "ethereum"
            ? String(networks.ethereum.chainId)
            : networks.solana;
      const where = `${CHAIN_NAMES[input.chain]} ${input.chain === "ethereum" ? `chain ${network}` : network}`;
      const canonical = (field: string, pasted: string): string => {
        const check = parseAddressOn(input.chain, pasted, networks);
        if (!check.ok)
          throw bad(
            field,
            `${pasted.slice(0, 100)} is not a valid ${where} address: ${reasonWords(check.reason)}.`,
          );
        return check.address;
      };
      const add = input.add.map((e, i) => ({
        address: canonical(`payload.add.${i}.address`, e.address),
        ...(e.label !== undefined ? { label: e.label } : {}),
      }));
      const removeAddresses = input.remove.map((a, i) => canonical(`payload.remove.${i}`, a));
      const seen = new Map<string, string>();
      [
        ...add.map((e, i) => [e.address, `payload.add.${i}.address`] as const),
        ...removeAddresses.map((a, i) => [a, `payload.remove.${i}`] as const),
      ].forEach(([address, field]) => {
        const first = seen.get(address);
        if (first !== undefined) throw bad(field, `${address} is given twice (also ${first}).`);
        seen.set(address, field);
      });
      const current = await read.allowList(input.list, input.chain);
      const on = new Map(current.map((e) => [e.address, e]));
      add.forEach((e, i) => {
        if (on.has(e.address))
          throw new AppError(
            "CONFLICT",
            `payload.add.${i}.address: ${e.address} is already on the allow-list ${input.list} on ${where}.`,
            { field: `payload.add.${i}.address` },
          );
      });
      const remove = removeAddresses.map((address, i) => {
        const entry = on.get(address);
        if (entry === undefined)
          throw new AppError(
            "CONFLICT",
            `payload.remove.${i}: ${address} is not on the allow-list ${input.list} on ${where}.`,
            { field: `payload.remove.${i}` },
          );
        return { address, ...(entry.label !== null ? { label: entry.label } : {}) };
      });
      return { list: input.list, chain: input.chain, network, add, remove, before: current.length };
    },
  },
  describe(p) {
    const labelled = (e: { address: string; label?: string }) =>
      e.label !== undefined ? `${e.address} (${e.label})` : e.address;
    const after = p.before + p.add.length - p.remove.length;
    return {
      title: `Change the allow-list “${p.list}” on ${chainWords(p.chain, p.network)}`,
      lines: [
        ...p.add.map((e) => ({ label: "Adds", value: labelled(e) })),
        ...p.remove.map((e) => ({ label: "Removes", value: labelled(e) })),
        {
          label: "Effect",
          value: `the list goes from ${plural(p.before, "address", "addresses")} to ${plural(after, "address", "addresses")} on ${CHAIN_NAMES[p.chain]}; rules that name “${p.list}” judge withdrawals by it from then on`,
        },
      ],
    };
  },
  facts(p) {
    return { keyTags: [], chain: p.chain };
  },
  // No HSM step. The step checks that Keyward still runs on the network the addresses were checked for (a
  // testnet address must never land on a mainnet list); `record` writes the entries in the completing
  // transaction. A repeat is safe: an address already added is left as it is, one already removed stays gone.
  async execute(ctx, op) {
    const p = op.payload;
    const now = ctx.allowLists.network(p.chain);
    if (now !== p.network)
      throw new StepRefusedError(
        `the addresses were checked for ${chainWords(p.chain, p.network)}, but Keyward now runs on ${chainWords(p.chain, now)}`,
      );
    return {
      result: { list: p.list, chain: p.chain, added: p.add.length, removed: p.remove.length },
      record: async (tx, row, at) => {
        await ctx.allowLists.apply(
          tx,
          { operationId: row.id, list: p.list, chain: p.chain, add: p.add, remove: p.remove },
          at,
        );
      },
    };
  },
};
