"use client";
// The draft editor (admins): paste or edit the JSON document, Preview to see it against the version in force
// rule by rule and the reachability verdict, then save it (setup) or propose it for approval (live). Only a
// previewed draft can be saved or proposed: editing the text drops the preview.
import { useMutation } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { useState } from "react";
import type { PolicyPreview } from "@/server/governance/policy-preview";
import { FormError } from "../_components/form-error";
import { describeError } from "../_components/token-ceremony";
import { useTRPC } from "../_trpc/client";
import { PolicyDiffView } from "./policy-diff-view";

type Previewed = { document: unknown; result: PolicyPreview };

export function PolicyDraft({ baseVersion, initial }: { baseVersion: number; initial: string }) {
  const trpc = useTRPC();
  const router = useRouter();
  const preview = useMutation(trpc.policy.preview.mutationOptions());
  const update = useMutation(trpc.policy.update.mutationOptions());
  const propose = useMutation(trpc.operations.propose.mutationOptions());
  const [text, setText] = useState(initial);
  const [previewed, setPreviewed] = useState<Previewed | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  async function onPreview() {
    setError(null);
    setNotice(null);
    setPreviewed(null);
    let document: unknown;
    try {
      document = JSON.parse(text);
    } catch (e) {
      setError(`The draft is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    try {
      setPreviewed({ document, result: await preview.mutateAsync({ document }) });
    } catch (e) {
      setError(describeError(e));
    }
  }

  async function onSave(document: unknown) {
    setError(null);
    try {
      const saved = await update.mutateAsync({ document });
      setPreviewed(null);
      setNotice(`Saved: version ${saved.version} is now in force.`);
      router.refresh();
    } catch (e) {
      setError(`The policy was not saved. ${describeError(e)}`);
    }
  }

  async function onPropose(document: unknown, base: number) {
    setError(null);
    try {
      const op = await propose.mutateAsync({
        kind: "policy.update",
        payload: { document, baseVersion: base },
      });
      router.push(`/operations/${op.id}`);
    } catch (e) {
      setError(`The change was not proposed. ${describeError(e)}`);
    }
  }

  const result = previewed?.result;
  return (
    <section className="card space-y-4" aria-label="Draft a change">
      <div>
        <h2 className="text-lg font-semibold">Draft a change</h2>
        <p className="text-sm text-slate-600">
          Edit the document (JSON, as the README's “The policy language” describes it), then Preview: you see
          each rule against version {baseVersion} and whether the members as they are now could meet every
          rule. Its <span className="font-mono">version</span> field is set when it is stored.
        </p>
      </div>
      <label className="label" htmlFor="policy-draft">
        Draft policy (JSON)
      </label>
      <textarea
        id="policy-draft"
        className="input min-h-80 font-mono text-xs"
        spellCheck={false}
        value={text}
        onChange={(e) => {
          setText(e.target.value);
          setPreviewed(null);
          setError(null);
          setNotice(null);
        }}
      />
      <div className="flex flex-wrap gap-3">
        <button type="button" className="btn-primary" disabled={preview.isPending} onClick={onPreview}>
          {preview.isPending ? "Previewing…" : "Preview"}
        </button>
        <button
          type="button"
          className="btn-secondary"
          onClick={() => {
            setText(initial);
            setPreviewed(null);
          }}
        >
          Start again from version {baseVersion}
        </button>
      </div>
      <FormError message={error} />
      {notice && (
        <p role="status" className="text-sm text-green-800">
          {notice}
        </p>
      )}
      {result && !result.ok && (
        <div
          role="alert"
          className="rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800"
        >
          <p className="font-medium">The draft is not a valid policy:</p>
          <ul className="list-disc pl-5" data-testid="draft-errors">
            {result.errors.map((e) => (
              <li key={`${e.field}:${e.message}`}>
                <span className="font-mono">{e.field}</span>: {e.message}
              </li>
            ))}
          </ul>
        </div>
      )}
      {previewed && result?.ok && (
        <div className="space-y-4" data-testid="draft-preview">
          <PolicyDiffView diff={result.diff} baseVersion={result.baseVersion} version={result.version} />
          <Verdict unreachable={result.unreachable} />
          <p className="text-sm text-slate-600">
            As version {result.version} its digest would be{" "}
            <span className="font-mono break-all" data-testid="draft-digest">
              {result.digest}
            </span>
            {result.mode === "live" ? ": the approvers' votes bind it." : "."}
          </p>
          {result.baseVersion !== baseVersion && (
            <p role="status" className="text-sm text-amber-800">
              Version {result.baseVersion} is now in force (this page showed {baseVersion}); the diff above is
              against {result.baseVersion}.
            </p>
          )}
          {result.mode === "setup" ? (
            <div className="space-y-1">
              <button
                type="button"
                className="btn-primary"
                disabled={update.isPending}
                onClick={() => onSave(previewed.document)}
              >
                {update.isPending ? "Saving…" : `Save as version ${result.version}`}
              </button>
              <p className="text-sm text-slate-600">
                Keyward is in setup: an admin changes the policy directly. Once live, a change is proposed and
                needs the approvals of the rule for policy changes.
              </p>
            </div>
          ) : (
            <div className="space-y-1">
              <button
                type="button"
                className="btn-primary"
                disabled={propose.isPending || result.unreachable.length > 0}
                onClick={() => onPropose(previewed.document, result.baseVersion)}
              >
                {propose.isPending ? "Proposing…" : "Propose this change"}
              </button>
              <p className="text-sm text-slate-600">
                {result.unreachable.length > 0
                  ? "Keyward refuses a change that leaves a rule unreachable: fix the draft or the members first."
                  : "Keyward is live: the change becomes an operation, approved under the rule for policy changes."}
              </p>
            </div>
          )}
        </div>
      )}
    </section>
  );
}

function Verdict({ unreachable }: { unreachable: { ruleId: string; reason: string }[] }) {
  if (unreachable.length === 0)
    return (
      <p
        role="status"
        className="rounded-md border border-green-200 bg-green-50 px-3 py-2 text-sm text-green-900"
        data-testid="reachability-verdict"
      >
        Every rule can be met by the members as they are now (active, holding a live token).
      </p>
    );
  return (
    <div
      role="alert"
      className="rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800"
      data-testid="reachability-verdict"
    >
      <p className="font-medium">
        {unreachable.length === 1 ? "One rule could never be met" : `${unreachable.length} problems`} with the
        members as they are now:
      </p>
      <ul className="list-disc pl-5">
        {unreachable.map((u) => (
          <li key={`${u.ruleId}:${u.reason}`}>{u.reason}</li>
        ))}
      </ul>
    </div>
  );
}
