// Allow-lists: every named list of destination addresses, per chain, with the rules of the policy in force that
// name it. Every member reads them; operators and admins propose a change (allowlist.update), which the quorum
// approves like any operation before a single address is added or removed.
import { api } from "@/server/api/caller";
import { Forbidden } from "../_components/forbidden";
import { requirePageRole } from "../_components/require-role";
import { utc } from "../operations/badges";
import { ProposeAllowlistChange } from "./propose-change";

const CHAIN_NAMES: Record<string, string> = { bitcoin: "Bitcoin", ethereum: "Ethereum", solana: "Solana" };

export default async function AllowlistsPage() {
  const { session, allowed } = await requirePageRole("admin", "operator", "approver", "auditor");
  if (!allowed) return <Forbidden what="Allow-lists are shown to members with a role." />;
  const caller = await api();
  const { lists, networks } = await caller.allowlists.list();
  const canPropose = session.member.roles.some((r) => r === "operator" || r === "admin");
  const networkWords = networks
    .map((n) => `${CHAIN_NAMES[n.chain]} ${n.chain === "ethereum" ? `chain ${n.network}` : n.network}`)
    .join(", ");
  return (
    <div className="space-y-6">
      <h1 className="text-2xl font-semibold">Allow-lists</h1>
      <p className="max-w-3xl text-slate-700">
        Named lists of destination addresses, per chain. A policy rule with <code>allowList</code> denies a
        withdrawal whose destination is not on the list it names; a rule matching{" "}
        <code>destination: onAllowList</code> applies only to destinations on it. Addresses are checked for
        the networks Keyward runs on ({networkWords}) and kept in canonical form. A change is an operation: it
        takes effect only once approved and executed.
      </p>
      {lists.length === 0 && <p className="text-slate-700">No allow-list has an address yet.</p>}
      {lists.map((l) => (
        <section key={l.name} className="card space-y-3" aria-label={`Allow-list ${l.name}`}>
          <h2 className="text-lg font-semibold">{l.name}</h2>
          <p className="text-sm text-slate-600">
            {l.rules.length === 0
              ? "No rule of the policy in force names this list."
              : `Named by the rule${l.rules.length === 1 ? "" : "s"} ${l.rules.join(", ")} of the policy in force.`}
          </p>
          {l.chains.length === 0 && <p className="text-sm text-slate-700">No addresses yet.</p>}
          {l.chains.map((c) => (
            <div key={c.chain}>
              <h3 className="font-medium">
                {CHAIN_NAMES[c.chain] ?? c.chain} ({c.entries.length} address
                {c.entries.length === 1 ? "" : "es"})
              </h3>
              <table className="mt-1 w-full text-sm">
                <thead>
                  <tr className="text-left text-slate-500">
                    <th className="py-1 pr-4 font-normal">Address</th>
                    <th className="py-1 pr-4 font-normal">Label</th>
                    <th className="py-1 font-normal">Added</th>
                  </tr>
                </thead>
                <tbody>
                  {c.entries.map((e) => (
                    <tr key={e.address} className="border-t border-slate-100">
                      <td className="break-all py-1 pr-4 font-mono select-all">{e.address}</td>
                      <td className="py-1 pr-4">{e.label ?? "–"}</td>
                      <td className="py-1">
                        <a className="underline" href={`/operations/${e.addedBy}`}>
                          {utc(e.addedAt)}
                        </a>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ))}
        </section>
      ))}
      {canPropose ? (
        <ProposeAllowlistChange lists={lists.map((l) => l.name)} />
      ) : (
        <p className="text-sm text-slate-600">
          Operators and admins propose changes; approvers approve them.
        </p>
      )}
    </div>
  );
}
