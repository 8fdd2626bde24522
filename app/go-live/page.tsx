import { requirePageRole } from "../_components/require-role";
import { GoLiveCeremony } from "./go-live-ceremony";

// Setup mode and the go-live ceremony: every role sees the checklist and who has tapped; only admins tap. Every
// procedure checks the roles again.
export default async function GoLivePage() {
  const { session } = await requirePageRole();
  return (
    <div className="space-y-6">
      <h1 className="text-2xl font-semibold">Going live</h1>
      <GoLiveCeremony memberId={session.member.id} isAdmin={session.member.roles.includes("admin")} />
    </div>
  );
}
