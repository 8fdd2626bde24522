// The one withdrawal a rotated key may still make, as a pure rule: key.rotate deactivates the old key (it stops
// receiving) and leaves it only to sweep its funds to its successor. So a withdrawal is allowed from an active key
// to anywhere the policy allows, and from a deactivated key only to its successor's own address on the same chain.
// Proposing (prepare.ts, with the propose reader's successorOf) and executing (withdrawal-key.ts, before signing
// and again under the key's share lock in the recording transaction) apply this same rule, so a rotated key can
// never be made to pay anyone else, whoever proposes it. Pure and browser-safe: no database.
import { addressOn } from "@/server/custody/addresses";
import type { Chain, ChainNetworks } from "@/server/custody/types";

/**
 * Why a deactivated key may not pay `destination` on `chain` (null: it may, the destination is its successor's
 * address). `successor` is the key whose predecessor it is, or null when it has none.
 */
export function deactivatedKeyRefusal(input: {
  key: { label: string };
  successor: { label: string; curve: string; publicKey: string } | null;
  chain: Chain;
  destination: string;
  networks: ChainNetworks;
}): string | null {
  const { key, successor } = input;
  if (successor === null)
    return `The key “${key.label}” is deactivated and has no successor: it cannot withdraw.`;
  const to = addressOn(successor, input.chain, input.networks);
  if (to !== null && to === input.destination) return null;
  return (
    `The key “${key.label}” was rotated (deactivated): it may only sweep its funds to its successor ` +
    `“${successor.label}”${to === null ? ", which has no address on this chain" : ` at ${to}`}, not to ${input.destination}.`
  );
}
