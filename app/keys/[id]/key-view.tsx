"use client";
// One key, live: its facts (public key, curve, state, tags, exportability), every HSM token and whether it
// holds it with the recorded public key, the operations still open that name it, and its lifecycle from the
// audit trail. keys.onKey pushes all of it again whenever the key or any operation changes; the server page
// renders the first snapshot.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import Link from "next/link";
import type { ReactNode } from "react";
import { FormError } from "../../_components/form-error";
import { describeError } from "../../_components/token-ceremony";
import { useTRPC } from "../../_trpc/client";
import { KeyStateBadge, OperationStateBadge, timeLeft, utc } from "../../operations/badges";
import { LiveIndicator } from "../../operations/live";
import { PreActivationNote, ProposeActivate, ProposeResume } from "./propose-resume";

const EXPORTABLE: Record<string, string> = {
  never: "never: the private key cannot leave the HSM",
  wrapped: "only wrapped under the HSM's trusted backup key",
};

function Row({ label, children }: { label: string; children: ReactNode }) {
  return (
    <>
      <dt className="text-slate-500">{label}</dt>
      <dd>{children}</dd>
    </>
  );
}

type TokenAnswer = { state: "holds" | "missing" | "unreachable"; matches: boolean | null };
type TokenShown = "holds" | "mismatch" | "missing" | "unreachable";

/** A token holding another public key under the key's reference is its own state: it must stand out. */
function tokenState(t: TokenAnswer): TokenShown {
  return t.state === "holds" && t.matches !== true ? "mismatch" : t.state;
}

const TOKEN_STATE_WORDS: Record<TokenShown, string> = {
  holds: "holds it, with the recorded public key",
  mismatch: "MISMATCH: holds another key under this reference, not the recorded one",
  missing: "does not hold it",
  unreachable: "could not be asked",
};

const TOKEN_STATE_CLASS: Record<TokenShown, string> = {
  holds: "text-emerald-800",
  mismatch: "font-semibold text-red-700",
  missing: "text-slate-700",
  unreachable: "text-amber-800",
};

function tokenSummary(tokens: readonly TokenAnswer[]): string {
  const count = (s: TokenShown) => tokens.filter((t) => tokenState(t) === s).length;
  const parts = [`Held with the recorded public key by ${count("holds")} of ${tokens.length} HSM tokens.`];
  const tokensWord = (n: number) => (n === 1 ? "1 token" : `${n} tokens`);
  if (count("mismatch") > 0) {
    parts.push(`${tokensWord(count("mismatch"))} hold another key under its reference: investigate.`);
  }
  if (count("unreachable") > 0) parts.push(`${tokensWord(count("unreachable"))} could not be asked.`);
  return parts.join(" ");
}

export function KeyView({ keyId, canPropose }: { keyId: string; canPropose: boolean }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const page = useQuery(trpc.keys.get.queryOptions({ keyId }));
  const holders = useQuery(trpc.keys.holders.queryOptions({ keyId }));
  const live = useSubscription(
    trpc.keys.onKey.subscriptionOptions(
      { keyId },
      {
        onData: ({ data }) => {
          queryClient.setQueryData(trpc.keys.get.queryKey({ keyId }), data.page);
          queryClient.setQueryData(trpc.keys.holders.queryKey({ keyId }), data.holders);
        },
      },
    ),
  );
  if (page.error) return <FormError message={describeError(page.error)} />;
  if (!page.data) return <p className="text-slate-600">Loading…</p>;
  const { key, createdBy, lifecycle, openOperations } = page.data;
  const hsm = holders.data;
  const now = new Date(page.dataUpdatedAt || Date.now());
  const resumePending = openOperations.some((op) => op.kind === "key.resume");
  const activatePending = openOperations.some((op) => op.kind === "key.activate");
  return (
    <div className="space-y-6">
      <div className="space-y-1">
        <Link href="/keys" className="text-sm text-indigo-800 hover:underline">
          ← Keys
        </Link>
        <div className="flex flex-wrap items-center gap-3">
          <h1 className="text-2xl font-semibold">{key.label}</h1>
          <KeyStateBadge state={key.state} />
          <span className="ml-auto">
            <LiveIndicator subscriptions={[live]} />
          </span>
        </div>
      </div>
      <section className="card">
        <dl className="grid grid-cols-[max-content_1fr] gap-x-6 gap-y-2 text-sm" data-testid="key-facts">
          <Row label="Public key">
            <code className="break-all font-mono text-xs" data-testid="key-public">
              {key.publicKey}
            </code>
          </Row>
          <Row label="Curve">{key.curve}</Row>
          <Row label="State">
            {key.state} since {utc(key.stateChangedAt)}
          </Row>
          <Row label="Tags">{key.tags.join(", ") || "none"}</Row>
          <Row label="Exportable">{EXPORTABLE[key.exportable] ?? key.exportable}</Row>
          <Row label="HSM reference">
            <code className="font-mono text-xs">{key.hsmRef}</code>
          </Row>
          <Row label="Created">{utc(key.createdAt)}</Row>
          <Row label="Made by">
            {createdBy ? (
              <span>
                <Link href={`/operations/${createdBy.id}`} className="text-indigo-800 hover:underline">
                  {createdBy.title}
                </Link>{" "}
                proposed by {createdBy.initiatorName} <OperationStateBadge state={createdBy.state} />
              </span>
            ) : (
              "no recorded operation"
            )}
          </Row>
        </dl>
        {key.state === "pre-activation" && <PreActivationNote />}
      </section>

      <section className="card space-y-3" aria-labelledby="hsm-tokens">
        <h2 id="hsm-tokens" className="text-lg font-medium">
          HSM tokens
        </h2>
        {!hsm ? (
          <p className="text-sm text-slate-600">
            {holders.error ? describeError(holders.error) : "Asking the HSM…"}
          </p>
        ) : hsm.tokens.length === 0 ? (
          <p className="text-sm text-slate-600">{hsm.error ?? "No HSM token is configured."}</p>
        ) : (
          <>
            <p className="text-sm" data-testid="key-tokens-summary">
              {tokenSummary(hsm.tokens)}
            </p>
            <ul className="space-y-1 text-sm" data-testid="key-tokens">
              {hsm.tokens.map((t) => (
                <li key={t.label} data-testid="key-token" data-state={tokenState(t)}>
                  <strong>{t.label}</strong> ({t.role})
                  {t.serial && <span className="text-slate-500"> · serial {t.serial}</span>}:{" "}
                  <span className={TOKEN_STATE_CLASS[tokenState(t)]}>{TOKEN_STATE_WORDS[tokenState(t)]}</span>
                  {t.note && <span className="text-slate-500"> · {t.note}</span>}
                </li>
              ))}
            </ul>
          </>
        )}
        {hsm && <p className="text-xs text-slate-500">Asked {utc(hsm.checkedAt)}.</p>}
      </section>

      <section className="card space-y-3" aria-labelledby="key-open-operations">
        <h2 id="key-open-operations" className="text-lg font-medium">
          Pending operations on this key
        </h2>
        {openOperations.length === 0 ? (
          <p className="text-sm text-slate-600" data-testid="key-no-operations">
            None.
          </p>
        ) : (
          <ul className="divide-y divide-slate-100 text-sm" data-testid="key-operations">
            {openOperations.map((op) => (
              <li key={op.id} className="flex flex-wrap items-center gap-x-3 gap-y-1 py-2">
                <Link href={`/operations/${op.id}`} className="font-medium text-indigo-800 hover:underline">
                  {op.title}
                </Link>
                <OperationStateBadge state={op.state} />
                <span className="text-slate-600">
                  proposed by {op.initiatorName}
                  {op.state === "pending" &&
                    ` · ${op.tally.map((t) => `${t.approvals} of ${t.needed} from ${t.group}`).join(" and ")} · deadline ${utc(op.expiresAt)} (${timeLeft(op.expiresAt, now)})`}
                </span>
              </li>
            ))}
          </ul>
        )}
        {canPropose && key.state === "suspended" && !resumePending && <ProposeResume keyId={key.id} />}
        {canPropose && key.state === "pre-activation" && !activatePending && (
          <ProposeActivate keyId={key.id} />
        )}
      </section>

      <section className="card space-y-3" aria-labelledby="lifecycle">
        <h2 id="lifecycle" className="text-lg font-medium">
          Lifecycle
        </h2>
        <ol className="space-y-1 border-l border-slate-200 pl-4 text-sm" data-testid="key-lifecycle">
          {lifecycle.map((e) => (
            <li key={e.id}>
              <span className="text-slate-500">{utc(e.at)}</span> · <strong>{e.action}</strong> by {e.actor}
              {e.details.length > 0 && (
                <span className="text-slate-500">
                  {" "}
                  ({e.details.map((d) => `${d.label} ${d.value}`).join(", ")})
                </span>
              )}
            </li>
          ))}
        </ol>
      </section>
    </div>
  );
}
