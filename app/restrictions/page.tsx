import { requirePageRole } from "../_components/require-role";
import { RestrictionsPanel } from "./restrictions-panel";

// Restrictions: freeze all signing at once (admins and approvers, one tap), see what is in force, and propose
// lifting a freeze (admins and operators; the quorum decides). Every procedure checks the roles again.
export default async function RestrictionsPage() {
  const { session } = await requirePageRole();
  const roles = session.member.roles;
  return (
    <RestrictionsPanel
      canFreeze={roles.includes("admin") || roles.includes("approver")}
      canProposeLifting={roles.includes("admin") || roles.includes("operator")}
    />
  );
}
