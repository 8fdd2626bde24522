import "server-only";
// The home page's reminder while Keyward is in setup mode: what still stands between it and going live, and the
// way to the ceremony (the checklist and the Go live panel are on /go-live).
import Link from "next/link";
import { api } from "@/server/api/caller";

export async function SetupModeCard() {
  const s = await (await api()).governance.status();
  const tapped = s.admins.filter((a) => a.tapped).length;
  return (
    <Link
      href="/go-live"
      className="card block space-y-1 border-amber-300 hover:border-amber-400"
      data-testid="setup-mode-card"
    >
      <h2 className="font-medium">Setup mode</h2>
      <p className="text-sm text-slate-700">
        {s.problems.length === 0
          ? `Ready to go live: ${tapped} of ${s.admins.length} admins have approved policy version ${s.policy?.version ?? "—"}.`
          : `Not ready to go live: ${s.problems.length} item${s.problems.length === 1 ? "" : "s"} on the checklist.`}{" "}
        Open the go-live ceremony.
      </p>
    </Link>
  );
}
