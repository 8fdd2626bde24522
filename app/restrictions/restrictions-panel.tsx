"use client";
// Freeze all signing, and lift a freeze. Freezing is immediate: the reason is checked with the procedure's own
// schema, the person confirms, then their token is tapped (beginFreeze → the token signs the challenge bound to
// this action, this person and this reason → freeze). Lifting is a signing.unfreeze operation for the quorum.
// Live: the freeze in force comes from the banner's stream (useRestrictionStatus), and while frozen the pending
// liftings from operations.onList, so a freeze, a lifting proposed or a freeze lifted elsewhere shows at once.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { type FormEvent, useState } from "react";
import { FREEZE_REASON_MAX, freezeReasonSchema } from "@/server/operations/freeze-reason";
import { FormError, TapHint } from "../_components/form-error";
import { useRestrictionStatus } from "../_components/restrictions-banner";
import { describeError, getAssertion } from "../_components/token-ceremony";
import { useTRPC } from "../_trpc/client";
import { utc } from "../operations/badges";

const PENDING = { state: "pending" } as const;

export function RestrictionsPanel({
  canFreeze,
  canProposeLifting,
}: {
  canFreeze: boolean;
  canProposeLifting: boolean;
}) {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const status = useRestrictionStatus();
  const frozen = Boolean(status.data?.freeze);
  const pending = useQuery({ ...trpc.operations.list.queryOptions(PENDING), enabled: frozen });
  useSubscription(
    trpc.operations.onList.subscriptionOptions(PENDING, {
      enabled: frozen,
      onData: ({ data }) => queryClient.setQueryData(trpc.operations.list.queryKey(PENDING), data),
    }),
  );
  const beginFreeze = useMutation(trpc.restrictions.beginFreeze.mutationOptions());
  const freeze = useMutation(trpc.restrictions.freeze.mutationOptions());
  const propose = useMutation(trpc.operations.propose.mutationOptions());
  const [tapping, setTapping] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [reasonError, setReasonError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  async function onFreeze(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    setError(null);
    setNotice(null);
    const parsed = freezeReasonSchema.safeParse(String(new FormData(e.currentTarget).get("reason") ?? ""));
    if (!parsed.success) {
      setReasonError(parsed.error.issues[0]?.message ?? "this reason cannot be used");
      return;
    }
    setReasonError(null);
    if (!window.confirm("Freeze all signing now? Nothing is carried out until the quorum lifts the freeze."))
      return;
    const reason = parsed.data ?? "";
    setTapping(true);
    try {
      const begun = await beginFreeze.mutateAsync({ reason });
      const response = await getAssertion(begun.options);
      await freeze.mutateAsync({ reason, response });
      setNotice("Signing is frozen. No operation is carried out until the quorum lifts the freeze.");
    } catch (err) {
      setError(`Signing was not frozen. ${describeError(err)}`);
    }
    setTapping(false);
    await queryClient.invalidateQueries({ queryKey: trpc.restrictions.status.queryKey() });
  }

  async function onProposeLifting(freezeId: string) {
    setError(null);
    try {
      const op = await propose.mutateAsync({ kind: "signing.unfreeze", payload: { freezeId } });
      router.push(`/operations/${op.id}`);
    } catch (err) {
      setError(`Lifting was not proposed. ${describeError(err)}`);
    }
  }

  if (status.error) return <FormError message={describeError(status.error)} />;
  if (!status.data) return <p className="text-slate-600">Loading…</p>;
  const { freeze: inForce, suspendedKeys } = status.data;
  const liftings = (pending.data ?? []).filter((o) => o.kind === "signing.unfreeze");

  return (
    <div className="space-y-6">
      <h1 className="text-2xl font-semibold">Restrictions</h1>
      <p className="max-w-3xl text-sm text-slate-700">
        Restricting is immediate, loosening needs the quorum: one tap of an admin or approver freezes all
        signing or suspends a key at once; lifting a freeze or resuming a key is an operation the approvers
        must approve.
      </p>
      <FormError message={error} />
      {notice && (
        <p
          role="status"
          className="rounded-md border border-green-200 bg-green-50 px-3 py-2 text-sm text-green-900"
        >
          {notice}
        </p>
      )}

      <section className="card space-y-3" aria-labelledby="freeze">
        <h2 id="freeze" className="text-lg font-medium">
          Freeze all signing
        </h2>
        {inForce ? (
          <dl
            className="grid grid-cols-[max-content_1fr] gap-x-6 gap-y-2 text-sm"
            data-testid="freeze-in-force"
          >
            <dt className="text-slate-500">State</dt>
            <dd className="font-medium text-red-800">frozen: nothing is carried out, nothing signs</dd>
            <dt className="text-slate-500">Since</dt>
            <dd>{utc(inForce.frozenAt)}</dd>
            <dt className="text-slate-500">Frozen by</dt>
            <dd>{inForce.frozenBy.name}</dd>
            <dt className="text-slate-500">Reason</dt>
            <dd>{inForce.reason ?? "none given"}</dd>
          </dl>
        ) : (
          <p className="text-sm text-slate-700" data-testid="freeze-none">
            Signing is not frozen.
          </p>
        )}
        {!inForce && canFreeze && (
          <form className="max-w-xl space-y-3" onSubmit={onFreeze} noValidate aria-label="Freeze all signing">
            <p className="text-sm text-slate-600">
              Freezing stops everything at once: the executor carries out no operation (approved ones wait,
              none is lost) and no key signs. Use it when a token, a session or a key may be in the wrong
              hands. Lifting the freeze needs the quorum.
            </p>
            <div className="space-y-1">
              <label htmlFor="reason" className="label">
                Reason (optional, shown on every page)
              </label>
              <input
                id="reason"
                name="reason"
                className="input w-full"
                maxLength={FREEZE_REASON_MAX}
                aria-invalid={Boolean(reasonError)}
                aria-describedby={reasonError ? "reason-error" : undefined}
              />
              {reasonError && (
                <p id="reason-error" className="text-sm text-red-800">
                  {reasonError}
                </p>
              )}
            </div>
            <TapHint active={tapping} />
            <button type="submit" className="btn-danger" disabled={tapping}>
              {tapping ? "Waiting for your token…" : "Freeze all signing"}
            </button>
          </form>
        )}
        {!inForce && !canFreeze && (
          <p className="text-sm text-slate-600">Admins and approvers can freeze all signing.</p>
        )}
      </section>

      {inForce && (
        <section id="lift" className="card space-y-3" aria-labelledby="lift-heading">
          <h2 id="lift-heading" className="text-lg font-medium">
            Lift the freeze
          </h2>
          <p className="text-sm text-slate-600">
            Lifting is a signing.unfreeze operation: an admin or operator proposes it and the approvers
            approve it by tapping, as for any operation. Once it is carried out, the approved operations that
            waited run.
          </p>
          {liftings.length > 0 && (
            <ul className="list-disc pl-5 text-sm" data-testid="liftings">
              {liftings.map((o) => (
                <li key={o.id}>
                  <Link href={`/operations/${o.id}`} className="text-indigo-800 hover:underline">
                    {o.title}
                  </Link>{" "}
                  proposed by {o.initiatorName}, waiting for approvals
                </li>
              ))}
            </ul>
          )}
          {canProposeLifting ? (
            <button
              type="button"
              className="btn-primary"
              disabled={propose.isPending}
              onClick={() => onProposeLifting(inForce.id)}
            >
              Propose lifting the freeze
            </button>
          ) : (
            <p className="text-sm text-slate-600">Admins and operators can propose lifting it.</p>
          )}
        </section>
      )}

      <section className="card space-y-2" aria-labelledby="suspended">
        <h2 id="suspended" className="text-lg font-medium">
          Suspended keys
        </h2>
        <p className="text-sm text-slate-700">
          {suspendedKeys === 0 ? (
            "No key is suspended."
          ) : (
            <Link href="/keys?state=suspended" className="text-indigo-800 hover:underline">
              {suspendedKeys === 1 ? "1 key suspended" : `${suspendedKeys} keys suspended`}
            </Link>
          )}{" "}
          A key is suspended at once from its page; resuming it needs the quorum.
        </p>
      </section>
    </div>
  );
}
