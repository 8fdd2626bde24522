// The version in force in words: how rules are read, then every rule in the order it is judged.
import type { PolicyInWords } from "@/server/policy/describe";
import { utc } from "../operations/badges";

export function RulesInWords({ inWords, label }: { inWords: PolicyInWords; label: string }) {
  return (
    <ol className="space-y-2" aria-label={label}>
      {inWords.rules.map((r) => (
        <li key={r.id} className="rounded-md border border-slate-200 bg-slate-50 px-3 py-2 text-sm">
          <span className="font-mono text-xs text-slate-500">{r.isDefault ? `${r.id} (default)` : r.id}</span>
          <p>{r.text}</p>
          {r.description && <p className="text-slate-600">{r.description}</p>}
        </li>
      ))}
    </ol>
  );
}

export function PolicyInForce(props: {
  version: number;
  digest: string;
  createdAt: Date;
  inWords: PolicyInWords;
}) {
  const { inWords } = props;
  return (
    <section className="card space-y-4" aria-label="Policy in force" data-testid="policy-in-force">
      <div>
        <h2 className="text-lg font-semibold">Version {props.version} is in force</h2>
        <p className="text-sm text-slate-600">
          Since {utc(props.createdAt)} · digest <span className="font-mono break-all">{props.digest}</span>
        </p>
      </div>
      <ul className="list-disc space-y-1 pl-5 text-sm text-slate-700">
        {inWords.intro.map((line) => (
          <li key={line}>{line}</li>
        ))}
      </ul>
      <RulesInWords inWords={inWords} label="Rules in force" />
      {inWords.rotation && (
        <div className="space-y-1 text-sm">
          <h3 className="font-medium">Key rotation</h3>
          <ul className="list-disc pl-5 text-slate-700">
            {inWords.rotation.map((line) => (
              <li key={line}>{line}</li>
            ))}
          </ul>
        </div>
      )}
    </section>
  );
}
