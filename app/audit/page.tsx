// The audit trail for auditors and admins: every sealed event, newest first, filtered by time range, actor,
// action and subject, a page at a time by keyset (the link to older events carries the last seq), so it
// answers as fast over millions of events as over a hundred. A subject filter is one thing's whole story: an
// operation's (subject operation:<id>) or a key's (key:<id>). A plain GET form: it works without JavaScript.
import Link from "next/link";
import { api } from "@/server/api/caller";
import { Forbidden } from "../_components/forbidden";
import { requirePageRole } from "../_components/require-role";
import { utc } from "../operations/badges";

type Params = Record<string, string | string[] | undefined>;

const FIELDS = ["from", "to", "actor", "action", "subject"] as const;

/** A datetime-local value (UTC, as the form says) to an instant; anything else is no filter. */
function instant(value: string | undefined): Date | undefined {
  if (!value) return undefined;
  const at = new Date(/[zZ]|[+-]\d\d:\d\d$/.test(value) ? value : `${value}Z`);
  return Number.isNaN(at.getTime()) ? undefined : at;
}

export default async function AuditPage({ searchParams }: { searchParams: Promise<Params> }) {
  const { allowed } = await requirePageRole("admin", "auditor");
  if (!allowed) return <Forbidden what="The audit trail is for admins and auditors." />;
  const raw = await searchParams;
  const one = (name: string) => {
    const v = raw[name];
    return typeof v === "string" && v.trim() !== "" ? v.trim().slice(0, 300) : undefined;
  };
  const before = Number(one("before"));
  const filters = {
    from: instant(one("from")),
    to: instant(one("to")),
    actor: one("actor"),
    action: one("action"),
    subject: one("subject"),
  };
  const caller = await api();
  const page = await caller.audit.events({
    ...filters,
    before: Number.isSafeInteger(before) && before > 0 ? before : undefined,
    limit: 100,
  });
  const kept = new URLSearchParams(
    FIELDS.flatMap((f) => {
      const v = one(f);
      return v === undefined ? [] : [[f, v] as [string, string]];
    }),
  );
  const older =
    page.before === null ? null : `/audit?${new URLSearchParams([...kept, ["before", String(page.before)]])}`;
  const story = (subject: string) => `/audit?${new URLSearchParams([["subject", subject]])}`;
  return (
    <div className="space-y-6">
      <div className="space-y-1">
        <h1 className="text-2xl font-semibold">Audit trail</h1>
        <p className="text-sm text-slate-600">
          Every change Keyward made, in the order it was sealed into the hash chain and the Merkle tree whose
          heads the HSM signs (see{" "}
          <Link href="/status" className="underline">
            Status
          </Link>{" "}
          for the log&apos;s health). Times are UTC. Click a subject to follow its whole story.
        </p>
      </div>
      <form
        method="get"
        action="/audit"
        className="flex flex-wrap items-end gap-3"
        aria-label="Filter events"
      >
        <Field name="from" label="From (UTC)" type="datetime-local" value={one("from")} />
        <Field name="to" label="To (UTC)" type="datetime-local" value={one("to")} />
        <Field name="actor" label="Actor" value={one("actor")} placeholder="member:<id>, system" />
        <Field name="action" label="Action" value={one("action")} placeholder="withdrawal.signed" />
        <Field name="subject" label="Subject" value={one("subject")} placeholder="operation:<id>, key:<id>" />
        <button type="submit" className="btn-secondary">
          Filter
        </button>
        {kept.size > 0 && (
          <Link href="/audit" className="self-center text-sm underline">
            Clear
          </Link>
        )}
      </form>
      {page.events.length === 0 ? (
        <p className="text-sm text-slate-600" data-testid="audit-empty">
          No event matches{kept.size > 0 ? " these filters" : " yet"}.
        </p>
      ) : (
        <div className="overflow-x-auto rounded-lg border border-slate-200 bg-white px-4">
          <table className="w-full text-left text-sm">
            <thead className="text-slate-500">
              <tr>
                <th className="py-2 pr-3 font-medium">#</th>
                <th className="py-2 pr-3 font-medium">When</th>
                <th className="py-2 pr-3 font-medium">Action</th>
                <th className="py-2 pr-3 font-medium">Actor</th>
                <th className="py-2 pr-3 font-medium">Subject</th>
                <th className="py-2 font-medium">Data</th>
              </tr>
            </thead>
            <tbody>
              {page.events.map((e) => (
                <tr key={e.seq} className="border-t border-slate-200 align-top" data-testid="audit-row">
                  <td className="py-2 pr-3">{e.seq}</td>
                  <td className="py-2 pr-3 whitespace-nowrap">{utc(e.at)}</td>
                  <td className="py-2 pr-3 font-mono text-xs">
                    <Link
                      className="hover:underline"
                      href={`/audit?${new URLSearchParams([["action", e.action]])}`}
                    >
                      {e.action}
                    </Link>
                  </td>
                  <td className="py-2 pr-3 font-mono text-xs break-all">
                    <Link
                      className="hover:underline"
                      href={`/audit?${new URLSearchParams([["actor", e.actor]])}`}
                    >
                      {e.actor}
                    </Link>
                  </td>
                  <td className="py-2 pr-3 font-mono text-xs break-all">
                    <Link className="text-indigo-800 hover:underline" href={story(e.subject)}>
                      {e.subject}
                    </Link>
                  </td>
                  <td className="py-2 font-mono text-xs break-all">
                    <details>
                      <summary className="cursor-pointer text-slate-500">data</summary>
                      <pre className="whitespace-pre-wrap">{JSON.stringify(e.data, null, 2)}</pre>
                      <p className="text-slate-500">hash {e.hash}</p>
                    </details>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {older && (
        <Link href={older} className="btn-secondary inline-block" data-testid="audit-older">
          Older events
        </Link>
      )}
    </div>
  );
}

function Field(props: { name: string; label: string; value?: string; type?: string; placeholder?: string }) {
  return (
    <div className="space-y-1">
      <label htmlFor={`audit-${props.name}`} className="label">
        {props.label}
      </label>
      <input
        id={`audit-${props.name}`}
        name={props.name}
        type={props.type ?? "text"}
        className="input"
        defaultValue={props.value ?? ""}
        placeholder={props.placeholder}
      />
    </div>
  );
}
