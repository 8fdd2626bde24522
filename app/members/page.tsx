import { Forbidden } from "../_components/forbidden";
import { requirePageRole } from "../_components/require-role";
import { InviteForm } from "./invite-form";
import { InvitationList } from "./invitation-list";
import { MemberList } from "./member-list";

export default async function MembersPage() {
  const { session, allowed } = await requirePageRole("admin", "auditor");
  if (!allowed) return <Forbidden what="The member list is for admins and auditors." />;
  const isAdmin = session.member.roles.includes("admin");
  return (
    <div className="space-y-8">
      <h1 className="text-2xl font-semibold">Members</h1>
      <MemberList canEdit={isAdmin} selfId={session.member.id} />
      {isAdmin && (
        <>
          <InviteForm />
          <InvitationList />
        </>
      )}
    </div>
  );
}
