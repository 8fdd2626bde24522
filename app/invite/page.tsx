// /invite#<secret>: the invitation page. The secret stays in the fragment (see invitation-from-link.tsx).
import { InvitationFromLink } from "./invitation-from-link";

export default function InvitationPage() {
  return <InvitationFromLink />;
}
