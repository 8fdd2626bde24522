"use client";
// A report download that shows how far it has got (issue 15 item 5): a PDF or an evidence bundle over 100,000
// events takes a while to build before its first byte. The link still works without JavaScript; with it, the
// click fetches the file with a fresh progress id, asks audit.reportProgress every half second what the server
// is doing (reading events, writing a section), counts the bytes as they arrive, and saves the file under the
// name the server gave. A refusal (signed out, wrong role, bad period, HSM unavailable) is shown in words.
import { useQuery } from "@tanstack/react-query";
import { type MouseEvent, type ReactNode, useState } from "react";
import { useTRPC } from "../_trpc/client";

type State =
  | { step: "idle" }
  | { step: "preparing"; id: string }
  | { step: "downloading"; id: string; bytes: number }
  | { step: "saved"; filename: string; bytes: number }
  | { step: "failed"; message: string };

const size = (bytes: number) =>
  bytes < 1024 * 1024
    ? `${Math.max(1, Math.round(bytes / 1024))} KB`
    : `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const count = (n: number) => n.toLocaleString("en-US");

function filenameOf(response: Response, fallback: string): string {
  const match = /filename="([^"]+)"/.exec(response.headers.get("content-disposition") ?? "");
  return match?.[1] ?? fallback;
}

export function ReportDownload({
  href,
  fallbackName,
  testId,
  children,
}: {
  href: string;
  fallbackName: string;
  testId: string;
  children: ReactNode;
}) {
  const trpc = useTRPC();
  const [state, setState] = useState<State>({ step: "idle" });
  const id = state.step === "preparing" || state.step === "downloading" ? state.id : null;
  const progress = useQuery({
    ...trpc.audit.reportProgress.queryOptions({ id: id ?? "00000000-0000-4000-8000-000000000000" }),
    enabled: id !== null,
    refetchInterval: 500,
  });

  async function onClick(e: MouseEvent<HTMLAnchorElement>) {
    if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return; // "open in a new tab" stays a plain link
    e.preventDefault();
    if (id !== null) return;
    const progressId = crypto.randomUUID();
    setState({ step: "preparing", id: progressId });
    try {
      const response = await fetch(`${href}&progress=${progressId}`, { credentials: "same-origin" });
      if (!response.ok || response.body === null) {
        const text = (await response.text()).trim();
        setState({ step: "failed", message: text || `The server answered ${response.status}.` });
        return;
      }
      const reader = response.body.getReader();
      const parts: Uint8Array[] = [];
      let bytes = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parts.push(value);
        bytes += value.byteLength;
        setState({ step: "downloading", id: progressId, bytes });
      }
      const filename = filenameOf(response, fallbackName);
      const url = URL.createObjectURL(
        new Blob(parts as BlobPart[], { type: response.headers.get("content-type") ?? "" }),
      );
      const a = document.createElement("a");
      a.href = url;
      a.download = filename;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      setState({ step: "saved", filename, bytes });
    } catch (err) {
      setState({
        step: "failed",
        message: `The download stopped: ${err instanceof Error ? err.message : "the connection failed"}.`,
      });
    }
  }

  const p = progress.data ?? null;
  let line: string | null = null;
  let bar: { value: number | null; max: number } | null = null;
  if (state.step === "preparing") {
    bar = { value: null, max: 1 };
    if (p?.phase === "reading" && p.done > 0) {
      line = `Reading the period's events: ${count(p.done)} of ${count(p.total)}…`;
      bar = { value: p.done, max: Math.max(1, p.total) };
    } else if (p?.phase === "reading")
      line = p.total > 0 ? `Reading the period's ${count(p.total)} events…` : "Reading the period's events…";
    else if (p?.phase === "writing")
      line = `Writing the PDF: ${p.section ?? "…"}${p.done > 0 ? `, row ${count(p.done)}` : ""}…`;
    else line = "Preparing the file…";
  } else if (state.step === "downloading") line = `Downloading: ${size(state.bytes)} so far…`;
  else if (state.step === "saved") line = `Saved ${state.filename} (${size(state.bytes)}).`;

  return (
    <>
      <a className="underline" href={href} data-testid={testId} onClick={onClick} aria-busy={id !== null}>
        {children}
      </a>
      {line !== null && (
        <span
          className="ml-2 inline-flex items-center gap-2 text-slate-600"
          role="status"
          data-testid={`${testId}-progress`}
        >
          {bar !== null &&
            (bar.value === null ? (
              <progress className="h-2 w-32" />
            ) : (
              <progress className="h-2 w-32" value={bar.value} max={bar.max} />
            ))}
          {line}
        </span>
      )}
      {state.step === "failed" && (
        <span className="ml-2 text-red-700" role="alert" data-testid={`${testId}-error`}>
          {state.message}
        </span>
      )}
    </>
  );
}
