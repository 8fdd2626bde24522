// A proposed policy against the version in force, rule by rule in words (server/policy/diff.ts): each rule with
// what it was and what it becomes, the clauses that differ marked, moves in the order of judgement named, and
// the changes outside the rules. Used by the draft editor; it only renders what it is given.
import type { PolicyDiff, RuleChange, RuleDiff } from "@/server/policy/diff";

const CHANGE_COLOURS: Record<RuleChange, string> = {
  added: "bg-green-100 text-green-900",
  removed: "bg-red-100 text-red-900",
  changed: "bg-amber-100 text-amber-900",
  moved: "bg-sky-100 text-sky-900",
  unchanged: "bg-slate-100 text-slate-700",
};

function Lines({ lines, other, mark }: { lines: string[]; other: string[] | null; mark: string }) {
  return (
    <ul className="space-y-0.5">
      {lines.map((line) => {
        const differs = other !== null && !other.includes(line);
        return (
          <li key={line} className={differs ? mark : undefined}>
            {line}
          </li>
        );
      })}
    </ul>
  );
}

function moveText(r: RuleDiff): string | null {
  const { before, after } = r.position;
  if (before === null || after === null || before === after) return null;
  return `judged ${ordinal(after)} (was ${ordinal(before)})`;
}

const ordinal = (n: number) => {
  const tens = n % 100;
  if (tens >= 11 && tens <= 13) return `${n}th`;
  return `${n}${["th", "st", "nd", "rd"][n % 10] ?? "th"}`;
};

function RuleRow({ r }: { r: RuleDiff }) {
  const moved = moveText(r);
  return (
    <li
      className="rounded-md border border-slate-200 px-3 py-2 text-sm"
      data-testid={`diff-rule-${r.ruleId}`}
    >
      <div className="flex flex-wrap items-center gap-2">
        <span className="font-mono text-xs">{r.ruleId}</span>
        <span className={`rounded px-2 py-0.5 text-xs font-semibold ${CHANGE_COLOURS[r.change]}`}>
          {r.change}
        </span>
        {moved && r.change !== "unchanged" && <span className="text-xs text-slate-600">{moved}</span>}
      </div>
      {r.change === "changed" && r.before && r.after ? (
        <div className="mt-2 grid gap-3 md:grid-cols-2">
          <div data-testid="diff-before">
            <p className="text-xs font-medium text-slate-500">Before</p>
            <Lines lines={r.before} other={r.after} mark="bg-red-50 text-red-900 line-through" />
          </div>
          <div data-testid="diff-after">
            <p className="text-xs font-medium text-slate-500">After</p>
            <Lines lines={r.after} other={r.before} mark="bg-green-50 text-green-900" />
          </div>
        </div>
      ) : r.change === "unchanged" ? null : (
        <div className="mt-2">
          <Lines lines={r.after ?? r.before ?? []} other={null} mark="" />
        </div>
      )}
    </li>
  );
}

export function PolicyDiffView({
  diff,
  baseVersion,
  version,
}: {
  diff: PolicyDiff;
  baseVersion: number;
  version: number;
}) {
  const changed = diff.rules.filter((r) => r.change !== "unchanged").length;
  return (
    <section className="space-y-3" aria-label="Changes" data-testid="policy-diff">
      <h3 className="font-medium">
        Version {version} against version {baseVersion}:{" "}
        {changed === 0 && diff.other.length === 0
          ? "no change to any rule"
          : `${changed} ${changed === 1 ? "rule" : "rules"} changed`}
      </h3>
      {diff.rules.length > 0 && (
        <ol className="space-y-2">
          {diff.rules.map((r) => (
            <RuleRow key={`${r.change}:${r.ruleId}`} r={r} />
          ))}
        </ol>
      )}
      {diff.other.length > 0 && (
        <div className="space-y-1 text-sm" data-testid="diff-other">
          <p className="font-medium">Outside the rules</p>
          <ul className="list-disc pl-5">
            {diff.other.map((line) => (
              <li key={line}>{line}</li>
            ))}
          </ul>
        </div>
      )}
    </section>
  );
}
