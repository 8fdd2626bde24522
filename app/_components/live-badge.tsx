import "server-only";
// The header's badge: "Setup mode" (linking to the ceremony) until every admin approved going live, then
// "Live since …". Read through the caller, so it needs a signed-in member like every procedure.
import Link from "next/link";
import { api } from "@/server/api/caller";

const utc = (at: Date) => `${at.toISOString().replace("T", " ").slice(0, 16)} UTC`;

export async function LiveBadge() {
  let mode: Awaited<ReturnType<Awaited<ReturnType<typeof api>>["governance"]["mode"]>>;
  try {
    mode = await (await api()).governance.mode();
  } catch {
    // A member without any role (or a session ended mid-request) sees no badge; the pages say why.
    return null;
  }
  if (mode.mode === "live") {
    return (
      <span
        className="rounded-full bg-green-100 px-2 py-0.5 text-xs font-medium text-green-900"
        data-testid="live-badge"
        title={`Policy version ${mode.policyVersion} approved by every admin`}
      >
        Live since {utc(mode.since)}
      </span>
    );
  }
  return (
    <Link
      href="/go-live"
      className="rounded-full bg-amber-100 px-2 py-0.5 text-xs font-medium text-amber-900"
      data-testid="setup-badge"
    >
      Setup mode
    </Link>
  );
}
