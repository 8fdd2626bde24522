"use client";
// One operation: exactly what is approved (the kind's own decoded lines, and the digest every tap signs), the
// rule and where it stands in words, who voted when with which token, the audit timeline, and Approve / Reject
// by tapping (beginVote → the token signs the challenge bound to this digest and decision → completeVote).
// A waiting operation shows what holds it and a countdown to its release (ReleasePanel); during a delay the
// veto group's members get Veto, a tap like the others.
// Live: operations.onOperation pushes the operation, its timeline and the key it made whenever they change.
import type { VoteDecision } from "@/db/schema";
import { CANCEL_REASON_MAX, cancelReasonSchema } from "@/server/operations/cancel-reason";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import Link from "next/link";
import { type FormEvent, useState } from "react";
import { FormError, TapHint } from "../../_components/form-error";
import { describeError, getAssertion } from "../../_components/token-ceremony";
import { useTRPC } from "../../_trpc/client";
import { BatchProgress } from "./batch-progress";
import { WithdrawalSection } from "./withdrawal-section";
import { OperationStateBadge, timeLeft, utc } from "../badges";
import { LiveIndicator } from "../live";
import { ReleasePanel } from "../release";
import { FreezeWait } from "../../restrictions/freeze-wait";

const ACTIONS: Record<string, string> = {
  "operation.proposed": "proposed",
  "vote.cast": "voted",
  "vote.refused": "vote refused",
  "operation.waiting": "waiting",
  "operation.approved": "approved",
  "operation.rejected": "rejected",
  "operation.cancelled": "cancelled",
  "operation.expired": "expired",
  "operation.executing": "execution started",
  "operation.executed": "executed",
  "operation.failed": "failed",
  "operation.recovered": "recovered after a restart",
};

/** `isAdmin`: the viewer holds the admin role, so may cancel an operation Keyward proposed (with a reason). */
export function OperationView({ operationId, isAdmin = false }: { operationId: string; isAdmin?: boolean }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const op = useQuery(trpc.operations.get.queryOptions({ operationId }));
  const timeline = useQuery(trpc.keys.operationTimeline.queryOptions({ operationId }));
  const made = useQuery({
    ...trpc.keys.ofOperation.queryOptions({ operationId }),
    enabled: op.data?.state === "executed",
  });
  const live = useSubscription(
    trpc.operations.onOperation.subscriptionOptions(
      { operationId },
      {
        onData: ({ data }) => {
          queryClient.setQueryData(trpc.operations.get.queryKey({ operationId }), data.operation);
          queryClient.setQueryData(trpc.keys.operationTimeline.queryKey({ operationId }), data.timeline);
          if (data.made) queryClient.setQueryData(trpc.keys.ofOperation.queryKey({ operationId }), data.made);
        },
      },
    ),
  );
  const beginVote = useMutation(trpc.operations.beginVote.mutationOptions());
  const completeVote = useMutation(trpc.operations.completeVote.mutationOptions());
  // A veto has its own procedures: the veto group is a group, not a role (vote.ts re-checks membership).
  const beginVeto = useMutation(trpc.operations.beginVeto.mutationOptions());
  const completeVeto = useMutation(trpc.operations.veto.mutationOptions());
  const cancel = useMutation(trpc.operations.cancel.mutationOptions());
  const [tapping, setTapping] = useState<VoteDecision | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [reasonError, setReasonError] = useState<string | null>(null);

  const refresh = () =>
    Promise.all([
      queryClient.invalidateQueries({ queryKey: trpc.operations.get.queryKey({ operationId }) }),
      queryClient.invalidateQueries({ queryKey: trpc.keys.operationTimeline.queryKey({ operationId }) }),
    ]);

  async function vote(decision: VoteDecision, digest: string) {
    setError(null);
    setNotice(null);
    setTapping(decision);
    try {
      const begun =
        decision === "veto"
          ? await beginVeto.mutateAsync({ operationId })
          : await beginVote.mutateAsync({ operationId, decision });
      // The tap signs this digest: if it is not the one on screen, what would be signed is not what was read.
      if (begun.digest !== digest)
        throw new Error("This operation is not the one shown. Reload the page and read it again.");
      const response = await getAssertion(begun.options);
      const outcome =
        decision === "veto"
          ? await completeVeto.mutateAsync({ operationId, response })
          : await completeVote.mutateAsync({ operationId, decision, response });
      const what = decision === "approve" ? "approval" : decision === "veto" ? "veto" : "rejection";
      setNotice(
        outcome.state === "pending"
          ? `Your ${what} is recorded.`
          : `Your ${what} is recorded: the operation is ${outcome.state}.`,
      );
    } catch (e) {
      setError(`Your vote was not recorded. ${describeError(e)}`);
    }
    setTapping(null);
    await refresh();
  }

  async function onCancel() {
    if (!window.confirm("Cancel this operation? Nobody can approve it afterwards.")) return;
    setError(null);
    try {
      await cancel.mutateAsync({ operationId });
      setNotice("The operation is cancelled.");
    } catch (e) {
      setError(describeError(e));
    }
    await refresh();
  }

  // An operation Keyward proposed (no initiating person): an admin cancels it, saying why.
  async function onCancelSystem(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    setError(null);
    setReasonError(null);
    const parsed = cancelReasonSchema.safeParse(String(new FormData(e.currentTarget).get("reason") ?? ""));
    if (!parsed.success)
      return setReasonError(parsed.error.issues[0]?.message ?? "this reason cannot be used");
    if (parsed.data === undefined) return setReasonError("say why you cancel it");
    if (!window.confirm("Cancel this operation? Nobody can approve it afterwards.")) return;
    try {
      await cancel.mutateAsync({ operationId, reason: parsed.data });
      setNotice("The operation is cancelled.");
    } catch (err) {
      setError(describeError(err));
    }
    await refresh();
  }

  if (op.error) return <FormError message={describeError(op.error)} />;
  if (!op.data) return <p className="text-slate-600">Loading…</p>;
  const o = op.data;
  const now = new Date(op.dataUpdatedAt || Date.now());
  // Pending before its expiry, or waiting (which never expires), as cancel.ts accepts.
  const adminMayCancel =
    isAdmin &&
    o.initiator.id === null &&
    (o.state === "waiting" || (o.state === "pending" && now < new Date(o.expiresAt)));
  return (
    <div className="space-y-6">
      <div className="space-y-1">
        <Link href="/operations" className="text-sm text-indigo-800 hover:underline">
          ← Approvals
        </Link>
        <div className="flex flex-wrap items-center gap-3">
          <h1 className="text-2xl font-semibold" data-testid="op-title">
            {o.display.title}
          </h1>
          <OperationStateBadge state={o.state} />
          <span className="ml-auto">
            <LiveIndicator subscriptions={[live]} />
          </span>
        </div>
        <p className="text-sm text-slate-600">
          {o.kind} · proposed by <strong>{o.initiator.name}</strong> on {utc(o.createdAt)}
          {o.state === "pending" && (
            <>
              {" "}
              · deadline {utc(o.expiresAt)} ({timeLeft(o.expiresAt, now)})
            </>
          )}
        </p>
      </div>

      <FormError message={error} />
      {notice && (
        <p
          role="status"
          className="rounded-md border border-green-200 bg-green-50 px-3 py-2 text-sm text-green-900"
        >
          {notice}
        </p>
      )}

      <section className="card space-y-3" aria-labelledby="what">
        <h2 id="what" className="text-lg font-medium">
          What you approve
        </h2>
        <dl className="grid grid-cols-[max-content_1fr] gap-x-6 gap-y-2 text-sm" data-testid="op-lines">
          {o.display.lines.map((line) => (
            <div key={line.label} className="contents">
              <dt className="text-slate-500">{line.label}</dt>
              <dd className="font-medium">{line.value}</dd>
            </div>
          ))}
        </dl>
        <p className="text-xs text-slate-500">
          Your tap signs this digest of exactly the above, who proposed it, when, and the rule:{" "}
          <code className="break-all font-mono text-slate-700" data-testid="op-digest">
            {o.digest}
          </code>
        </p>
      </section>

      <WithdrawalSection operationId={o.id} kind={o.kind} />

      {o.release && <ReleasePanel release={o.release} />}

      <section className="card space-y-3" aria-labelledby="rule">
        <h2 id="rule" className="text-lg font-medium">
          The rule
        </h2>
        <p className="text-sm text-slate-600">
          Rule <strong>{o.ruleId}</strong> of policy version {o.policyVersion}.
        </p>
        <ul className="space-y-1 text-sm" data-testid="op-tally">
          {o.tally.map((t) => (
            <li key={t.group} className="flex items-center gap-3">
              <span className="w-40">
                {t.approvals} of {t.needed} from {t.group}
              </span>
              <span className="flex gap-1" aria-hidden="true">
                {Array.from({ length: t.needed }, (_, i) => (
                  <span
                    // biome-ignore lint/suspicious/noArrayIndexKey: the slots are positions, nothing else
                    key={i}
                    className={`h-2 w-6 rounded ${i < t.approvals ? "bg-green-600" : "bg-slate-200"}`}
                  />
                ))}
              </span>
            </li>
          ))}
        </ul>
        <ul className="list-disc pl-5 text-sm text-slate-800" data-testid="op-reasons">
          {o.reasons.map((r) => (
            <li key={r}>{r}</li>
          ))}
        </ul>
        {o.failure && <p className="text-sm text-red-800">Execution failed: {o.failure}</p>}
        <FreezeWait state={o.state} kind={o.kind} />
        <BatchProgress operationId={o.id} />
        {/* A batch says "All N keys made" in BatchProgress; its first key alone is not what was made. */}
        {made.data && o.progress == null && (
          <p className="text-sm text-slate-700">
            Done: the key{" "}
            <Link href={`/keys/${made.data.id}`} className="font-medium text-indigo-800 hover:underline">
              {made.data.label}
            </Link>{" "}
            is {made.data.state}.
          </p>
        )}
      </section>

      {(o.canVote || o.canVeto || o.canCancel || adminMayCancel) && (
        <section className="card space-y-3" aria-labelledby="decide">
          <h2 id="decide" className="text-lg font-medium">
            Your decision
          </h2>
          {o.canVote && (
            <p className="text-sm text-slate-600">
              Read what you approve above. Your token will ask for a tap (and its PIN); one vote per person.
            </p>
          )}
          {o.canVeto && (
            <p className="text-sm text-slate-600">
              You are in the veto group{o.release?.vetoGroupLabel ? ` (${o.release.vetoGroupLabel})` : ""}:
              until the delay ends, one tap of your token on Veto rejects this operation.
            </p>
          )}
          <TapHint active={tapping !== null} />
          <div className="flex flex-wrap gap-2">
            {o.canVote && (
              <>
                <button
                  type="button"
                  className="btn-primary"
                  disabled={tapping !== null}
                  onClick={() => vote("approve", o.digest)}
                >
                  {tapping === "approve" ? "Waiting for your token…" : "Approve"}
                </button>
                <button
                  type="button"
                  className="btn-danger"
                  disabled={tapping !== null}
                  onClick={() => vote("reject", o.digest)}
                >
                  {tapping === "reject" ? "Waiting for your token…" : "Reject"}
                </button>
              </>
            )}
            {o.canVeto && (
              <button
                type="button"
                className="btn-danger"
                disabled={tapping !== null}
                onClick={() => vote("veto", o.digest)}
              >
                {tapping === "veto" ? "Waiting for your token…" : "Veto"}
              </button>
            )}
            {o.canCancel && (
              <button type="button" className="btn-secondary" disabled={cancel.isPending} onClick={onCancel}>
                Cancel this operation
              </button>
            )}
          </div>
          {adminMayCancel && (
            <form
              className="space-y-2"
              onSubmit={onCancelSystem}
              aria-label="Cancel this operation"
              noValidate
            >
              <label className="block text-sm">
                <span className="text-slate-700">
                  Keyward proposed this itself. As an admin you may cancel it; say why (kept with the
                  operation).
                </span>
                <input
                  name="reason"
                  className="input mt-1 w-full"
                  maxLength={CANCEL_REASON_MAX}
                  required
                  aria-invalid={reasonError !== null}
                />
              </label>
              {reasonError && <p className="text-sm text-red-800">The reason: {reasonError}.</p>}
              <button type="submit" className="btn-secondary" disabled={cancel.isPending}>
                Cancel this operation
              </button>
            </form>
          )}
        </section>
      )}
      {o.myVote && (
        <p className="text-sm text-slate-700" data-testid="my-vote">
          You voted to {o.myVote}.
        </p>
      )}

      <section className="card space-y-3" aria-labelledby="votes">
        <h2 id="votes" className="text-lg font-medium">
          Votes
        </h2>
        {o.votes.length === 0 ? (
          <p className="text-sm text-slate-600">No votes yet.</p>
        ) : (
          <table className="w-full text-left text-sm" data-testid="op-votes">
            <thead className="text-slate-500">
              <tr>
                <th className="py-1 pr-3 font-medium">Who</th>
                <th className="pr-3 font-medium">Decision</th>
                <th className="pr-3 font-medium">When</th>
                <th className="pr-3 font-medium">Token</th>
                <th className="font-medium">Counts</th>
              </tr>
            </thead>
            <tbody>
              {o.votes.map((v) => (
                <tr key={v.id} className="border-t border-slate-100" data-testid="vote-row">
                  <td className="py-1 pr-3">{v.voterName}</td>
                  <td
                    className={`pr-3 font-medium ${v.decision === "approve" ? "text-green-800" : "text-red-800"}`}
                  >
                    {v.decision}
                  </td>
                  <td className="pr-3">{utc(v.castAt)}</td>
                  <td className="pr-3">{v.tokenNickname}</td>
                  <td>{v.counts ? "yes" : "no (voter suspended or no longer an approver)"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>

      <section className="card space-y-3" aria-labelledby="timeline">
        <h2 id="timeline" className="text-lg font-medium">
          Timeline
        </h2>
        <ol className="space-y-1 border-l border-slate-200 pl-4 text-sm" data-testid="op-timeline">
          {timeline.data?.map((e) => (
            <li key={e.seq}>
              <span className="text-slate-500">{utc(e.at)}</span> ·{" "}
              <strong>{ACTIONS[e.action] ?? e.action}</strong> by {e.actor}
              {e.details.length > 0 && (
                <span className="text-slate-500">
                  {" "}
                  ({e.details.map((d) => `${d.label} ${d.value}`).join(", ")})
                </span>
              )}
            </li>
          ))}
        </ol>
        {timeline.error && <FormError message={describeError(timeline.error)} />}
      </section>
    </div>
  );
}
