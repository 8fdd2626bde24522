// The policy page: the version in force in words, every version before it, and (for admins) a draft editor that
// previews a change as a diff with the reachability verdict before it is saved (setup) or proposed (live).
import { api } from "@/server/api/caller";
import { Forbidden } from "../_components/forbidden";
import { requirePageRole } from "../_components/require-role";
import { PolicyDraft } from "./policy-draft";
import { PolicyHistory } from "./policy-history";
import { PolicyInForce } from "./policy-in-force";

export default async function PolicyPage() {
  const { session, allowed } = await requirePageRole("admin", "operator", "approver", "auditor");
  if (!allowed) return <Forbidden what="The policy is shown to members with a role." />;
  const caller = await api();
  const [current, history] = await Promise.all([caller.policy.current(), caller.policy.history()]);
  const isAdmin = session.member.roles.includes("admin");
  return (
    <div className="space-y-8">
      <h1 className="text-2xl font-semibold">Policy</h1>
      {current ? (
        <PolicyInForce
          version={current.version}
          digest={current.digest}
          createdAt={current.createdAt}
          inWords={current.inWords}
        />
      ) : (
        <p className="text-slate-700">No policy has been stored yet: setup seeds the first version.</p>
      )}
      {isAdmin && current && (
        <PolicyDraft baseVersion={current.version} initial={JSON.stringify(current.document, null, 2)} />
      )}
      <PolicyHistory versions={history} current={current?.version ?? null} />
    </div>
  );
}
