"use client";
// The latest deliveries, e-mail and webhook: state, attempts, next try, last error, and each attempt.
import { useQuery } from "@tanstack/react-query";
import { FormError } from "../../_components/form-error";
import { describeError } from "../../_components/token-ceremony";
import { useTRPC } from "../../_trpc/client";

const utc = (at: Date) => `${at.toISOString().replace("T", " ").slice(0, 19)} UTC`;

const STATE_COLOURS: Record<string, string> = {
  pending: "text-amber-800",
  sending: "text-indigo-800",
  delivered: "text-green-800",
  failed: "text-red-800",
};

export function DeliveryLog() {
  const trpc = useTRPC();
  const log = useQuery({
    ...trpc.notifications.deliveries.queryOptions({ limit: 100 }),
    refetchInterval: 10_000,
  });
  return (
    <section className="card space-y-3" aria-labelledby="log-heading">
      <h2 id="log-heading" className="text-lg font-medium">
        Delivery log
      </h2>
      {log.error && <FormError message={describeError(log.error)} />}
      {log.data && log.data.length === 0 && <p className="text-sm text-slate-600">Nothing sent yet.</p>}
      {log.data && log.data.length > 0 && (
        <table className="w-full text-left text-sm" data-testid="delivery-log">
          <thead className="text-slate-500">
            <tr>
              <th className="py-1 pr-3">Event</th>
              <th className="pr-3">To</th>
              <th className="pr-3">State</th>
              <th className="pr-3">Attempts</th>
              <th>Last error / next try</th>
            </tr>
          </thead>
          <tbody>
            {log.data.map((d) => (
              <tr key={d.id} className="border-t border-slate-100 align-top">
                <td className="py-1 pr-3">
                  <code>{d.event}</code> #{d.eventSeq}
                  <div className="text-xs text-slate-500">{d.subject}</div>
                </td>
                <td className="pr-3">
                  {d.channel === "email" ? "e-mail: " : "webhook: "}
                  {d.recipient}
                </td>
                <td className={`pr-3 font-medium ${STATE_COLOURS[d.state] ?? ""}`}>
                  {d.state}
                  {d.deliveredAt && (
                    <div className="text-xs font-normal text-slate-500">{utc(d.deliveredAt)}</div>
                  )}
                </td>
                <td className="pr-3">
                  {d.attempts}
                  {d.tries.length > 0 && (
                    <ul className="text-xs text-slate-500">
                      {d.tries.map((t) => (
                        <li key={t.attempt}>
                          #{t.attempt} {utc(t.at)} {t.ok ? "ok" : "failed"}
                          {t.status !== null ? ` (HTTP ${t.status})` : ""}
                        </li>
                      ))}
                    </ul>
                  )}
                </td>
                <td>
                  {d.lastError && <div className="text-red-800">{d.lastError}</div>}
                  {d.state === "pending" && (
                    <div className="text-xs text-slate-500">next try {utc(d.nextAttemptAt)}</div>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
