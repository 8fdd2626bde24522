"use client";
// An invitation link carries its secret after '#': browsers never send the fragment to any server, so the
// secret is in no request line (no server or proxy log) and in no Referer. This page reads it and sends it
// only in POST bodies: even the description is fetched by POST, not by a GET whose URL would carry it.
import { createTRPCClient, httpLink, TRPCClientError } from "@trpc/client";
import Link from "next/link";
import { useEffect, useState } from "react";
import superjson from "superjson";
import type { AppRouter } from "@/server/api/root";
import { describeError } from "../_components/token-ceremony";
import { AcceptInvitationForm } from "./accept-form";

const postOnly = createTRPCClient<AppRouter>({
  links: [httpLink({ url: "/api/trpc", transformer: superjson, methodOverride: "POST" })],
});

type Invitation = Awaited<ReturnType<typeof postOnly.invitations.describe.query>>;
type State =
  | { kind: "loading" }
  | { kind: "refused"; message: string }
  | { kind: "open"; secret: string; invitation: Invitation };

const MALFORMED = "This invitation link is malformed. Ask an admin for a new one.";

function refusal(e: unknown): string {
  if (e instanceof TRPCClientError && e.data?.appCode === "BAD_INPUT") return MALFORMED;
  return describeError(e);
}

export function InvitationFromLink() {
  const [state, setState] = useState<State>({ kind: "loading" });
  useEffect(() => {
    const secret = window.location.hash.slice(1);
    if (!secret) {
      setState({ kind: "refused", message: MALFORMED });
      return;
    }
    postOnly.invitations.describe.query({ secret }).then(
      (invitation) => setState({ kind: "open", secret, invitation }),
      (e: unknown) => setState({ kind: "refused", message: refusal(e) }),
    );
  }, []);

  if (state.kind === "loading") return <p className="text-slate-600">Opening your invitation…</p>;
  if (state.kind === "refused") {
    return (
      <div className="space-y-4">
        <h1 className="text-2xl font-semibold">Invitation</h1>
        <p role="alert" className="rounded-md border border-red-200 bg-red-50 px-3 py-2 text-red-800">
          {state.message}
        </p>
        <Link className="text-indigo-700 underline" href="/sign-in">
          Go to sign-in
        </Link>
      </div>
    );
  }
  const { invitation, secret } = state;
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
        Register the hardware token you will sign in and vote with. It must verify you with a PIN or
        fingerprint.
      </p>
      <AcceptInvitationForm secret={secret} />
    </div>
  );
}
