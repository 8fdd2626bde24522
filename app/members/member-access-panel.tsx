"use client";
// An admin's "Tokens and sessions" panel for one member: their tokens (revoke any, within the rules the server
// keeps: the last admin's last token stays) and their open sessions (end them all at once). Once Keyward is
// live, revoking another member's token proposes a token.revoke operation that needs the quorum; ending
// sessions stays immediate.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { FormError } from "../_components/form-error";
import { describeError } from "../_components/token-ceremony";
import { useTRPC } from "../_trpc/client";
import { type Notice, NoticeLine, PROPOSED, useProposeMembership } from "./proposed";

export function MemberAccessPanel({
  member,
  live,
  selfId,
  onClose,
}: {
  member: { id: string; name: string };
  live: boolean;
  selfId: string;
  onClose: () => void;
}) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const input = { memberId: member.id };
  const tokens = useQuery(trpc.tokens.ofMember.queryOptions(input));
  const sessions = useQuery(trpc.members.sessions.queryOptions(input));
  const refresh = {
    onSuccess: () =>
      Promise.all([
        queryClient.invalidateQueries({ queryKey: trpc.tokens.ofMember.queryKey(input) }),
        queryClient.invalidateQueries({ queryKey: trpc.members.sessions.queryKey(input) }),
        queryClient.invalidateQueries({ queryKey: trpc.members.list.queryKey() }),
      ]),
  };
  const revoke = useMutation(trpc.members.revokeToken.mutationOptions(refresh));
  const endSessions = useMutation(trpc.members.endSessions.mutationOptions(refresh));
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<Notice | null>(null);
  const proposal = useProposeMembership();
  const proposes = live && member.id !== selfId;

  async function act(question: string, work: () => Promise<Notice>) {
    if (!window.confirm(question)) return;
    setError(null);
    setNotice(null);
    try {
      setNotice(await work());
    } catch (e) {
      setError(describeError(e));
    }
  }

  const open = sessions.data ?? [];
  return (
    <section className="card space-y-5" aria-label={`Tokens and sessions of ${member.name}`}>
      <div className="flex items-center gap-3">
        <h3 className="text-lg font-medium">Tokens and sessions of {member.name}</h3>
        <button type="button" className="btn-secondary ml-auto" onClick={onClose}>
          Close
        </button>
      </div>
      <FormError
        message={
          error ??
          (tokens.error ? describeError(tokens.error) : sessions.error ? describeError(sessions.error) : null)
        }
      />
      <NoticeLine notice={notice} />

      <div className="space-y-2">
        <h4 className="font-medium">Tokens</h4>
        <ul
          className="divide-y divide-slate-200 rounded-lg border border-slate-200"
          aria-label={`Tokens of ${member.name}`}
        >
          {tokens.data?.map((t) => (
            <li
              key={t.id}
              className="flex flex-wrap items-center gap-x-3 gap-y-1 px-4 py-3 text-sm"
              data-testid="member-token-row"
            >
              <span className="font-medium" data-testid="token-nickname">
                {t.nickname}
              </span>
              {t.revokedAt ? (
                <span className="rounded bg-red-100 px-2 text-red-800">
                  revoked {t.revokedAt.toUTCString()}
                </span>
              ) : (
                <span className="text-slate-500">last used {t.lastUsedAt?.toUTCString() ?? "never"}</span>
              )}
              {!t.revokedAt && (
                <button
                  type="button"
                  className="btn-danger ml-auto"
                  disabled={proposal.isPending}
                  onClick={() =>
                    proposes
                      ? act(
                          `Propose revoking “${t.nickname}” of ${member.name}? Approvers vote on it; once approved it can never be used again.`,
                          async () => ({
                            text: `${PROPOSED} “${t.nickname}” is revoked once approved.`,
                            operationId: await proposal.propose("token.revoke", {
                              ...input,
                              credentialId: t.id,
                            }),
                          }),
                        )
                      : act(
                          `Revoke “${t.nickname}” of ${member.name}? It can never be used again, and sessions signed in with it end.`,
                          async () => {
                            const { sessionsEnded } = await revoke.mutateAsync({
                              ...input,
                              credentialId: t.id,
                            });
                            return {
                              text: `Token “${t.nickname}” of ${member.name} revoked; ${plural(sessionsEnded, "session")} ended.`,
                            };
                          },
                        )
                  }
                >
                  {proposes ? "Propose revoking" : "Revoke"}
                </button>
              )}
              <span className="basis-full text-slate-600">
                added {t.createdAt.toUTCString()}
                {t.approvedBy ? `, approved by a tap of ${t.approvedBy}` : ""}
              </span>
            </li>
          ))}
        </ul>
      </div>

      <div className="space-y-2">
        <h4 className="font-medium">Open sessions</h4>
        <p className="text-sm text-slate-700" data-testid="open-sessions">
          {sessions.isPending
            ? "Loading…"
            : open.length === 0
              ? "No open sessions."
              : `${plural(open.length, "open session")}:`}
        </p>
        {open.length > 0 && (
          <ul className="list-inside list-disc text-sm text-slate-600">
            {open.map((s) => (
              <li key={`${s.createdAt.toISOString()}-${s.tokenNickname}`}>
                signed in with {s.tokenNickname} at {s.createdAt.toUTCString()}, last active{" "}
                {s.lastSeenAt.toUTCString()}
              </li>
            ))}
          </ul>
        )}
        <button
          type="button"
          className="btn-danger"
          disabled={open.length === 0 || endSessions.isPending}
          onClick={() =>
            act(
              `End every session of ${member.name}? They will have to sign in again with a token.`,
              async () => {
                const { sessionsEnded } = await endSessions.mutateAsync(input);
                return { text: `${plural(sessionsEnded, "session")} of ${member.name} ended.` };
              },
            )
          }
        >
          End all sessions
        </button>
      </div>
    </section>
  );
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
