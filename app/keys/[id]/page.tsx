import Link from "next/link";
import { notFound } from "next/navigation";
import { z } from "zod";
import { api } from "@/server/api/caller";
import { requirePageRole } from "../../_components/require-role";
import { KeyStateBadge, OperationStateBadge, utc } from "../../operations/badges";

const EXPORTABLE: Record<string, string> = {
  never: "never: the private key cannot leave the HSM",
  wrapped: "only wrapped under the HSM's trusted backup key",
};

function Row({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <>
      <dt className="text-slate-500">{label}</dt>
      <dd>{children}</dd>
    </>
  );
}

export default async function KeyPage({ params }: { params: Promise<{ id: string }> }) {
  await requirePageRole();
  const { id } = await params;
  if (!z.string().uuid().safeParse(id).success) notFound();
  const caller = await api();
  const { key, createdBy, lifecycle } = await caller.keys.get({ keyId: id }).catch((e: unknown) => {
    if (e instanceof Error && "code" in e && e.code === "NOT_FOUND") notFound();
    throw e;
  });
  return (
    <div className="space-y-6">
      <div className="space-y-1">
        <Link href="/keys" className="text-sm text-indigo-800 hover:underline">
          ← Keys
        </Link>
        <div className="flex flex-wrap items-center gap-3">
          <h1 className="text-2xl font-semibold">{key.label}</h1>
          <KeyStateBadge state={key.state} />
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
      </section>
      <section className="card space-y-3" aria-labelledby="lifecycle">
        <h2 id="lifecycle" className="text-lg font-medium">
          Lifecycle
        </h2>
        <ol className="space-y-1 border-l border-slate-200 pl-4 text-sm" data-testid="key-lifecycle">
          {lifecycle.map((e) => (
            <li key={e.seq}>
              <span className="text-slate-500">{utc(e.at)}</span> · <strong>{e.action}</strong> by {e.actor}
              {e.details.length > 0 && (
                <span className="text-slate-500"> ({e.details.map((d) => `${d.label} ${d.value}`).join(", ")})</span>
              )}
            </li>
          ))}
        </ol>
      </section>
    </div>
  );
}
