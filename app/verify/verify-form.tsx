"use client";
// The /verify form: reads the chosen files in the browser (FileReader, with progress), parses the bundle and
// runs verifyBundle — the pure verifier the CLI uses — then shows the verdict, the counts and every check,
// failures first. It makes no request of any kind: no tRPC, no fetch. verifyBundle is synchronous, so the form
// yields to the browser between phases (read, parse, verify, show) for the progress text to paint; the verify
// phase itself holds the tab (measured in Node on 2 busy cores: 1.1 s for 10,000 events, 6.9 s for 50,000).
import { type FormEvent, useRef, useState } from "react";
import { flushSync } from "react-dom";
import { reportLines } from "@/server/audit/evidence/report-text";
import {
  CHECK_KINDS,
  type Check,
  type CheckKind,
  type VerifyReport,
  verifyBundle,
} from "@/server/audit/evidence/verify";

const KIND_LABELS: Record<CheckKind, string> = {
  bundle: "Bundle format",
  checkpoint: "Checkpoint signatures",
  consistency: "Consistency between checkpoints",
  trusted: "Your kept checkpoint",
  event: "Events (inclusion proofs)",
  inclusion: "Events' range proof",
  chain: "Event chain links",
  period: "Period edges",
  operation: "Operation digests",
  vote: "Vote signatures",
  registration: "Token registrations (attestation)",
  policy: "Policy digests",
};

/** Checks listed at first per group; the rest behind a button (a bundle may hold a million events). */
const SHOWN = 200;

type Result = { file: string; report: VerifyReport; ms: number };

const megabytes = (bytes: number) => `${(bytes / 1_048_576).toFixed(bytes < 10_485_760 ? 1 : 0)} MB`;

/** Lets the browser paint the progress text (a frame, or a moment when the tab is hidden and frames stop). */
const yieldToBrowser = () =>
  new Promise<void>((resolve) => {
    requestAnimationFrame(() => setTimeout(resolve, 0));
    setTimeout(resolve, 100);
  });

function readText(file: File, onProgress: (loaded: number) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onprogress = (e) => onProgress(e.loaded);
    reader.onload = () => resolve(typeof reader.result === "string" ? reader.result : "");
    reader.onerror = () => reject(reader.error ?? new Error("the file could not be read"));
    reader.readAsText(file);
  });
}

/** A report of one failure, for input verifyBundle never sees (a file that is not JSON). */
const notJson = (what: string, reason: string): VerifyReport => {
  const check: Check = {
    kind: "bundle",
    item: "bundle",
    ok: false,
    reason: `${what} is not JSON: ${reason}`,
  };
  return { ok: false, checks: [check], failures: [check], verifierKey: null, head: null };
};

const count = (value: unknown, key: string): number => {
  if (typeof value !== "object" || value === null) return 0;
  const list: unknown = Reflect.get(value, key);
  return Array.isArray(list) ? list.length : 0;
};

export function VerifyForm() {
  const [progress, setProgress] = useState<string | null>(null);
  const [result, setResult] = useState<Result | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const run = useRef(0);

  const say = (text: string) => flushSync(() => setProgress(text));

  async function onSubmit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const bundleFile = form.get("bundle");
    const keptFile = form.get("checkpoint");
    const pastedKey = form.get("verifierKey");
    if (!(bundleFile instanceof File) || bundleFile.size === 0) {
      setProblem("Choose the evidence bundle (the .json file) first.");
      return;
    }
    const mine = ++run.current;
    setProblem(null);
    setResult(null);
    try {
      const started = performance.now();
      const size = megabytes(bundleFile.size);
      say(`Reading ${bundleFile.name} (${size})…`);
      const text = await readText(bundleFile, (loaded) => {
        if (run.current === mine)
          say(
            `Reading ${bundleFile.name}: ${Math.round((100 * loaded) / Math.max(1, bundleFile.size))}% of ${size}…`,
          );
      });
      const trustedCheckpoint =
        keptFile instanceof File && keptFile.size > 0 ? await readText(keptFile, () => {}) : undefined;
      const verifierKey =
        typeof pastedKey === "string" && pastedKey.trim() !== "" ? pastedKey.trim() : undefined;
      if (run.current !== mine) return;
      say(`Parsing ${bundleFile.name} (${size})…`);
      await yieldToBrowser();
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        setResult({ file: bundleFile.name, report: notJson(bundleFile.name, reason), ms: 0 });
        return;
      }
      if (run.current !== mine) return;
      say(
        `Checking ${count(parsed, "events").toLocaleString("en")} events, ${count(parsed, "checkpoints")} checkpoints, ` +
          `${count(parsed, "votes")} votes and ${count(parsed, "policies")} policies… The page stays still until ` +
          "it is done: about a second for every 10,000 events.",
      );
      await yieldToBrowser();
      const report = verifyBundle(parsed, { trustedCheckpoint, verifierKey });
      if (run.current !== mine) return;
      say(`Showing ${report.checks.length.toLocaleString("en")} checks…`);
      await yieldToBrowser();
      setResult({ file: bundleFile.name, report, ms: performance.now() - started });
    } catch (error) {
      setProblem(`The files could not be read: ${error instanceof Error ? error.message : String(error)}.`);
    } finally {
      if (run.current === mine) setProgress(null);
    }
  }

  const busy = progress !== null;
  return (
    <div className="space-y-6">
      <form className="card space-y-4" aria-label="Verify an evidence bundle" onSubmit={onSubmit}>
        <label className="flex flex-col gap-1 text-sm">
          <span className="font-medium">Evidence bundle (.json)</span>
          <input type="file" name="bundle" accept=".json,application/json" required disabled={busy} />
        </label>
        <label className="flex flex-col gap-1 text-sm">
          <span className="font-medium">A checkpoint you kept from before (optional, a text file)</span>
          <input type="file" name="checkpoint" accept=".txt,text/plain" disabled={busy} />
        </label>
        <label className="flex flex-col gap-1 text-sm">
          <span className="font-medium">The published audit verifier key (optional)</span>
          <input
            type="text"
            name="verifierKey"
            className="input font-mono"
            placeholder="keyward.example/audit+1a2b3c4d+AQ…"
            spellCheck={false}
            autoComplete="off"
            disabled={busy}
          />
        </label>
        <button type="submit" className="btn-primary" disabled={busy}>
          Verify in this browser
        </button>
        {progress !== null && (
          <p
            role="status"
            aria-live="polite"
            className="text-sm text-slate-700"
            data-testid="verify-progress"
          >
            {progress}
          </p>
        )}
        {problem !== null && (
          <p role="alert" className="text-sm text-red-700">
            {problem}
          </p>
        )}
      </form>
      {result !== null && <VerifyResult result={result} />}
    </div>
  );
}

function VerifyResult({ result }: { result: Result }) {
  const { report } = result;
  const failed = report.failures.length;
  const saveText = () => {
    const blob = new Blob([`${reportLines(report).join("\n")}\n`], { type: "text/plain;charset=utf-8" });
    const url = URL.createObjectURL(blob);
    const a = document.createElement("a");
    a.href = url;
    a.download = `${result.file.replace(/\.json$/i, "")}.verification.txt`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 0);
  };
  return (
    <section className="space-y-4" aria-labelledby="verdict" data-testid="verify-result">
      <div
        className={`card space-y-2 ${report.ok ? "border-green-300 bg-green-50" : "border-red-300 bg-red-50"}`}
      >
        <h2
          id="verdict"
          data-testid="verdict"
          className={`text-xl font-semibold ${report.ok ? "text-green-800" : "text-red-800"}`}
        >
          {report.ok
            ? "Verified: every item checks"
            : `Not verified: ${failed} item${failed === 1 ? "" : "s"} failed`}
        </h2>
        <p className="text-sm text-slate-700">
          {result.file}: {report.checks.length.toLocaleString("en")} checks
          {result.ms > 0 && ` in ${(result.ms / 1000).toFixed(1)} s`}
          {report.head !== null && (
            <>
              , events proved up to checkpoint {report.head.size} (root{" "}
              <code className="break-all">{report.head.rootHash}</code>)
            </>
          )}
          .
        </p>
        {report.verifierKey !== null && (
          <p className="text-sm text-slate-700">
            Checkpoints checked under the audit key{" "}
            <code className="break-all" data-testid="verify-key">
              {report.verifierKey}
            </code>
            . Unless you pasted the published key above, compare it with the one Keyward publishes: a bundle
            signed whole by another key verifies on its own.
          </p>
        )}
        <button type="button" className="btn-secondary" onClick={saveText}>
          Save this result as text
        </button>
      </div>

      <table className="w-full text-left text-sm" data-testid="verify-counts">
        <caption className="sr-only">Checks by kind</caption>
        <thead>
          <tr className="border-b border-slate-200">
            <th className="py-1 font-medium">Check</th>
            <th className="py-1 font-medium">Passed</th>
            <th className="py-1 font-medium">Failed</th>
          </tr>
        </thead>
        <tbody>
          {CHECK_KINDS.map((kind) => {
            const of = report.checks.filter((c) => c.kind === kind);
            if (of.length === 0) return null;
            const bad = of.filter((c) => !c.ok).length;
            return (
              <tr key={kind} className="border-b border-slate-100" data-testid={`verify-count-${kind}`}>
                <td className="py-1">{KIND_LABELS[kind]}</td>
                <td className="py-1">{(of.length - bad).toLocaleString("en")}</td>
                <td className={`py-1 ${bad > 0 ? "font-semibold text-red-700" : ""}`}>
                  {bad.toLocaleString("en")}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>

      {failed > 0 && (
        <div className="space-y-2">
          <h3 className="font-medium text-red-800">What failed, and why</h3>
          <CheckList checks={report.failures} testId="verify-failures" />
        </div>
      )}

      <div className="space-y-2">
        <h3 className="font-medium">What passed</h3>
        {CHECK_KINDS.map((kind) => {
          const passed = report.checks.filter((c) => c.ok && c.kind === kind);
          if (passed.length === 0) return null;
          return (
            <details key={kind} className="text-sm">
              <summary className="cursor-pointer">
                {KIND_LABELS[kind]}: {passed.length.toLocaleString("en")} passed
              </summary>
              <CheckList checks={passed} testId={`verify-passed-${kind}`} />
            </details>
          );
        })}
      </div>
    </section>
  );
}

function CheckList({ checks, testId }: { checks: readonly Check[]; testId: string }) {
  const [all, setAll] = useState(false);
  const shown = all ? checks : checks.slice(0, SHOWN);
  return (
    <>
      <ul className="space-y-1 pl-1 text-sm" data-testid={testId}>
        {shown.map((c) => (
          <li key={`${c.kind} ${c.item} ${c.reason}`} className={c.ok ? "text-slate-700" : "text-red-800"}>
            <span className="font-mono font-semibold">{c.item}</span>: {c.reason}
          </li>
        ))}
      </ul>
      {shown.length < checks.length && (
        <button type="button" className="btn-secondary" onClick={() => setAll(true)}>
          Show all {checks.length.toLocaleString("en")}
        </button>
      )}
    </>
  );
}
