// Links made before the secret moved into the fragment (/invite/<secret>): their request already carried it,
// so send the browser on to /invite#<secret> and serve nothing else here.
import { redirect } from "next/navigation";

export default async function LegacyInvitationLink({ params }: { params: Promise<{ secret: string }> }) {
  const { secret } = await params;
  redirect(`/invite#${encodeURIComponent(secret)}`);
}
