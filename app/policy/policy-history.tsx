// Every version of the policy, newest first: number, when, by whom, digest.
import type { PolicyHistoryEntry } from "@/server/governance/policy-history";
import { utc } from "../operations/badges";

export function PolicyHistory({
  versions,
  current,
}: {
  versions: PolicyHistoryEntry[];
  current: number | null;
}) {
  return (
    <section className="space-y-3" aria-label="Policy history">
      <h2 className="text-lg font-semibold">History</h2>
      <div className="overflow-x-auto rounded-lg border border-slate-200 bg-white">
        <table className="w-full text-left text-sm">
          <thead className="bg-slate-50 text-slate-600">
            <tr>
              <th className="px-4 py-2">Version</th>
              <th className="px-4 py-2">When</th>
              <th className="px-4 py-2">By</th>
              <th className="px-4 py-2">Digest (SHA-256)</th>
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-200">
            {versions.map((v) => (
              <tr key={v.version} data-testid={`policy-version-${v.version}`}>
                <td className="px-4 py-2 font-medium">
                  {v.version}
                  {v.version === current && <span className="ml-2 text-xs text-green-700">in force</span>}
                </td>
                <td className="px-4 py-2 whitespace-nowrap">{utc(v.createdAt)}</td>
                <td className="px-4 py-2">{v.createdBy?.name ?? "Setup (the default policy)"}</td>
                <td className="px-4 py-2 font-mono text-xs break-all">{v.digest}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
