"use client";
// Setup mode and the go-live ceremony: the checklist (admins with tokens, each rule's groups and how many people
// can approve in them, the reachability verdict, the policy in words) and the Go live panel (every admin, whether
// they tapped for the policy version in force, and the Tap button for the signed-in admin). The tap: beginTap →
// the token signs the challenge bound to this policy's digest, the admins and this admin → tap. Everything is
// re-checked on the server (server/governance/go-live.ts); this page only shows it, live (governance.onStatus).
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { FormError, TapHint } from "../_components/form-error";
import { describeError, getAssertion } from "../_components/token-ceremony";
import { useTRPC } from "../_trpc/client";

const utc = (at: Date) => `${at.toISOString().replace("T", " ").slice(0, 19)} UTC`;

function Check({ ok, children, testId }: { ok: boolean; children: React.ReactNode; testId: string }) {
  return (
    <li className="flex gap-2" data-testid={testId} data-ok={ok ? "yes" : "no"}>
      <span aria-hidden className={ok ? "text-green-700" : "text-red-700"}>
        {ok ? "✓" : "✗"}
      </span>
      <span className="sr-only">{ok ? "done:" : "not yet:"}</span>
      <span>{children}</span>
    </li>
  );
}

export function GoLiveCeremony({ memberId, isAdmin }: { memberId: string; isAdmin: boolean }) {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const status = useQuery(trpc.governance.status.queryOptions());
  // Live: another admin's tap, going live, or a change to the members or the policy shows without a reload.
  useSubscription(
    trpc.governance.onStatus.subscriptionOptions(undefined, {
      onData: ({ data }) => queryClient.setQueryData(trpc.governance.status.queryKey(), data),
    }),
  );
  const beginTap = useMutation(trpc.governance.beginTap.mutationOptions());
  const tap = useMutation(trpc.governance.tap.mutationOptions());
  const [tapping, setTapping] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  async function onTap() {
    setError(null);
    setNotice(null);
    setTapping(true);
    try {
      const begun = await beginTap.mutateAsync();
      const response = await getAssertion(begun.options);
      const outcome = await tap.mutateAsync({ response });
      setNotice(
        outcome.live
          ? "Keyward is live. From now on the policy, membership and keys change only by quorum."
          : `Your approval is recorded (${outcome.tapped} of ${outcome.of} admins).`,
      );
    } catch (err) {
      setError(`Your approval was not recorded. ${describeError(err)}`);
    }
    setTapping(false);
    await queryClient.invalidateQueries({ queryKey: trpc.governance.status.queryKey() });
    await queryClient.invalidateQueries({ queryKey: trpc.governance.mode.queryKey() });
    router.refresh();
  }

  if (status.error) return <FormError message={describeError(status.error)} />;
  if (!status.data) return <p className="text-slate-600">Loading…</p>;
  const s = status.data;
  if (s.mode.mode === "live") {
    return (
      <section className="card space-y-2" data-testid="installation-live">
        <h2 className="text-lg font-medium">Keyward is live</h2>
        <p className="text-sm text-slate-700">
          Live since {utc(s.mode.since)} under policy version {s.mode.policyVersion}, approved by every admin.
          Policy, membership and keys now change only through operations approved by the quorum.
        </p>
        {notice && (
          <p role="status" className="text-sm text-green-900">
            {notice}
          </p>
        )}
      </section>
    );
  }

  const withTokens = s.admins.filter((a) => a.liveTokens > 0).length;
  const adminsOk = s.admins.length >= 2 && withTokens === s.admins.length;
  const me = s.admins.find((a) => a.id === memberId);
  const ready = s.problems.length === 0;

  return (
    <div className="space-y-6" data-testid="setup-mode">
      <div className="space-y-1">
        <h2 className="text-xl font-semibold">Setup mode</h2>
        <p className="max-w-3xl text-sm text-slate-700">
          While Keyward is in setup mode the first admin invites members, forms groups and drafts the policy
          directly. Going live needs every admin to approve the policy version in force with a tap of their
          token; from then on no single person can change the policy, the members or the keys.
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

      <section className="card space-y-3" aria-labelledby="checklist">
        <h3 id="checklist" className="text-lg font-medium">
          Checklist
        </h3>
        <ul className="space-y-2 text-sm">
          <Check ok={adminsOk} testId="check-admins">
            At least two admins, each with a live hardware token: {s.admins.length} admin
            {s.admins.length === 1 ? "" : "s"}, {withTokens} with a token.
          </Check>
          {s.rules.map((r) => (
            <Check
              key={r.ruleId}
              ok={!s.unreachable.some((u) => u.ruleId === r.ruleId)}
              testId={`check-rule-${r.ruleId}`}
            >
              Rule <strong>{r.ruleId}</strong>
              {r.isDefault ? " (default)" : ""}:{" "}
              {r.deny
                ? "denies (nobody approves it)."
                : r.automatic
                  ? "approved automatically, with no vote, within its velocity caps"
                  : r.ways
                      .map((way) =>
                        way
                          .map((g) => `${g.approvals} of ${g.label} (${g.eligible} can approve)`)
                          .join(" and "),
                      )
                      .join(", or ")}
              {r.veto ? `; veto by ${r.veto.label} (${r.veto.eligible} can veto)` : ""}
            </Check>
          ))}
          <Check ok={s.unreachable.length === 0} testId="check-reachability">
            {s.unreachable.length === 0
              ? "Every rule can be approved by the members as they are."
              : `Unreachable: ${s.unreachable.map((u) => `${u.ruleId} — ${u.reason}`).join("; ")}.`}
          </Check>
        </ul>
        {s.policy && (
          <details className="text-sm">
            <summary className="cursor-pointer">Policy version {s.policy.version} in words</summary>
            <ul className="mt-2 list-disc space-y-1 pl-5" data-testid="policy-in-words">
              {s.policy.words.rules.map((r) => (
                <li key={r.id}>{r.text}</li>
              ))}
            </ul>
            <p className="mt-2 font-mono text-xs text-slate-500">digest {s.policy.digest}</p>
          </details>
        )}
      </section>

      <section className="card space-y-3" aria-labelledby="go-live">
        <h3 id="go-live" className="text-lg font-medium">
          Go live
        </h3>
        {s.problems.length > 0 && (
          <ul className="list-disc space-y-1 pl-5 text-sm text-red-800" data-testid="go-live-problems">
            {s.problems.map((p) => (
              <li key={p}>{p}</li>
            ))}
          </ul>
        )}
        <table className="w-full text-sm">
          <thead>
            <tr className="text-left text-slate-500">
              <th className="py-1">Admin</th>
              <th className="py-1">Live tokens</th>
              <th className="py-1">Approved policy version {s.policy?.version ?? "—"}</th>
            </tr>
          </thead>
          <tbody>
            {s.admins.map((a) => (
              <tr key={a.id} data-testid="go-live-admin" data-tapped={a.tapped ? "yes" : "no"}>
                <td className="py-1">{a.name}</td>
                <td className="py-1">{a.liveTokens}</td>
                <td className="py-1">{a.tapped && a.tappedAt ? `tapped ${utc(a.tappedAt)}` : "not yet"}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {isAdmin && me && !me.tapped && (
          <>
            <TapHint active={tapping} />
            <button type="button" className="btn-primary" disabled={!ready || tapping} onClick={onTap}>
              Tap to approve going live
            </button>
          </>
        )}
        {me?.tapped && (
          <p className="text-sm text-slate-700">
            You approved this policy version. Keyward goes live when every admin has tapped.
          </p>
        )}
      </section>
    </div>
  );
}
