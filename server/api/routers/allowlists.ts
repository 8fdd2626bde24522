// Allow-lists, read-only here: every list with its addresses, the networks they are checked for, and which
// rules of the policy in force name each list. Changing one is the allowlist.update operation (proposed through
// operations.propose, approved by the quorum); nothing here writes.
import "server-only";
import { ROLES } from "@/db/schema/members";
import { allAllowLists } from "@/server/allowlists/store";
import { networkOf } from "@/server/chains/config";
import { chainConfig } from "@/server/chains/current";
import { CHAINS } from "@/server/custody/types";
import { policyInForce } from "@/server/operations/policy-store";
import { createTRPCRouter, withRole } from "../trpc";

export const allowlistsRouter = createTRPCRouter({
  list: withRole(...ROLES).query(async ({ ctx }) => {
    const [lists, policy] = await Promise.all([allAllowLists(ctx.db), policyInForce(ctx.db)]);
    const { networks } = chainConfig();
    const rules = policy ? [...policy.document.rules, { ...policy.document.default, id: "default" }] : [];
    const namedBy = (list: string) =>
      rules
        .filter(
          (r) =>
            (!r.deny && r.allowList === list) ||
            ("match" in r &&
              r.match.destination !== undefined &&
              ("onAllowList" in r.match.destination
                ? r.match.destination.onAllowList === list
                : r.match.destination.notOnAllowList === list)),
        )
        .map((r) => r.id ?? "default");
    const names = new Set([
      ...lists.map((l) => l.list),
      ...rules.flatMap((r) => (!r.deny && r.allowList ? [r.allowList] : [])),
    ]);
    return {
      networks: CHAINS.map((chain) => ({ chain, network: networkOf(networks, chain) })),
      lists: [...names].sort().map((name) => ({
        name,
        rules: namedBy(name),
        chains: lists
          .filter((l) => l.list === name)
          .map((l) => ({
            chain: l.chain,
            entries: l.entries.map((e) => ({
              address: e.address,
              label: e.label,
              addedAt: e.addedAt,
              addedBy: e.addedBy,
            })),
          })),
      })),
    };
  }),
});
