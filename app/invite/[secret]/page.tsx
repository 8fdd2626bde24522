import { TRPCError } from "@trpc/server";
import Link from "next/link";
import { api } from "@/server/api/caller";
import { AppError } from "@/server/errors";
import { AcceptInvitationForm } from "./accept-form";

export default async function InvitationPage({ params }: { params: Promise<{ secret: string }> }) {
  const { secret } = await params;
  const caller = await api();
  let invitation: Awaited<ReturnType<typeof caller.invitations.describe>>;
  try {
    invitation = await caller.invitations.describe({ secret });
  } catch (e) {
    if (!(e instanceof TRPCError)) throw e;
    return (
      <div className="space-y-4">
        <h1 className="text-2xl font-semibold">Invitation</h1>
        <p role="alert" className="rounded-md border border-red-200 bg-red-50 px-3 py-2 text-red-800">
          {e.cause instanceof AppError ? e.message : "This invitation link is malformed. Ask an admin for a new one."}
        </p>
        <Link className="text-indigo-700 underline" href="/sign-in">
          Go to sign-in
        </Link>
      </div>
    );
  }
  return (
    <div className="space-y-6">
      <h1 className="text-2xl font-semibold">You are invited to Keyward, {invitation.name}</h1>
      <dl className="card grid max-w-lg grid-cols-[8rem_1fr] gap-y-2 text-sm">
        <dt className="text-slate-500">Roles</dt>
        <dd data-testid="invitation-roles">{invitation.roles.join(", ")}</dd>
        <dt className="text-slate-500">Groups</dt>
        <dd>{invitation.groups.length ? invitation.groups.join(", ") : "—"}</dd>
        <dt className="text-slate-500">Valid until</dt>
        <dd>{invitation.expiresAt.toUTCString()}</dd>
      </dl>
      <p className="max-w-2xl text-slate-700">
        Register the hardware token you will sign in and vote with. It must verify you with a PIN or fingerprint.
      </p>
      <AcceptInvitationForm secret={secret} />
    </div>
  );
}
