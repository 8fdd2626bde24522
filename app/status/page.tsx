import { api } from "@/server/api/caller";
import { Forbidden } from "../_components/forbidden";
import { requirePageRole } from "../_components/require-role";

function Row({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <>
      <dt className="text-slate-500">{label}</dt>
      <dd>{children}</dd>
    </>
  );
}

function Badge({ ok }: { ok: boolean }) {
  return (
    <span className={`rounded px-2 py-0.5 text-xs font-semibold ${ok ? "bg-green-100 text-green-800" : "bg-red-100 text-red-800"}`}>
      {ok ? "healthy" : "failing"}
    </span>
  );
}

export default async function StatusPage() {
  const { allowed } = await requirePageRole("admin", "auditor");
  if (!allowed) return <Forbidden what="System status is for admins and auditors." />;
  const caller = await api();
  const [health, chain, recent] = await Promise.all([
    caller.status.health(),
    caller.audit.verify(),
    caller.audit.recent({ limit: 20 }),
  ]);
  const { database: db, hsm } = health;
  return (
    <div className="space-y-8">
      <h1 className="text-2xl font-semibold">Status</h1>
      <div className="grid gap-6 md:grid-cols-2">
        <section className="card space-y-3" aria-labelledby="hsm-heading" data-testid="hsm-status">
          <h2 id="hsm-heading" className="flex items-center gap-2 text-lg font-medium">
            HSM <Badge ok={hsm.ok} />
          </h2>
          <dl className="grid grid-cols-[9rem_1fr] gap-y-1 text-sm">
            <Row label="Library">{hsm.library}</Row>
            {hsm.token && (
              <>
                <Row label="Token label">{hsm.token.label}</Row>
                <Row label="Serial">{hsm.token.serial}</Row>
                <Row label="Model">
                  {hsm.token.manufacturer} {hsm.token.model}
                </Row>
              </>
            )}
            {hsm.objects && (
              <>
                <Row label="Objects">{hsm.objects.total}</Row>
                <Row label="Backup KEK">{hsm.objects.kek ? "present (trusted, non-extractable)" : "missing"}</Row>
              </>
            )}
            {hsm.mechanisms && (
              <>
                <Row label="ECDSA">{hsm.mechanisms.ecdsa ? "supported" : "missing"}</Row>
                <Row label="EdDSA">{hsm.mechanisms.eddsa ? "supported" : "missing"}</Row>
              </>
            )}
          </dl>
          {hsm.error && (
            <p role="alert" className="text-sm text-red-800">
              {hsm.error.message}
            </p>
          )}
        </section>
        <section className="card space-y-3" aria-labelledby="db-heading" data-testid="database-status">
          <h2 id="db-heading" className="flex items-center gap-2 text-lg font-medium">
            Database <Badge ok={db.ok} />
          </h2>
          <dl className="grid grid-cols-[9rem_1fr] gap-y-1 text-sm">
            <Row label="Engine">{db.engine === "pglite" ? "PGlite (embedded)" : "PostgreSQL"}</Row>
            {db.ok ? (
              <>
                <Row label="Server version">{db.version}</Row>
                <Row label="Round trip">{db.roundTripMs} ms</Row>
                <Row label="Migrations">{db.migrations} applied</Row>
              </>
            ) : (
              <Row label="Error">{db.error}</Row>
            )}
          </dl>
        </section>
      </div>
      <section className="card space-y-3" aria-labelledby="audit-heading">
        <h2 id="audit-heading" className="flex items-center gap-2 text-lg font-medium">
          Audit trail <Badge ok={chain.problems.length === 0} />
        </h2>
        <p className="text-sm text-slate-700" data-testid="audit-chain">
          {chain.events} events; hash chain {chain.problems.length === 0 ? "intact" : `BROKEN at ${chain.problems.map((p) => `#${p.seq} (${p.problem})`).join(", ")}`}
          . Head <code className="break-all">{chain.headHash}</code>
        </p>
        <table className="w-full text-left text-sm">
          <thead className="text-slate-500">
            <tr>
              <th className="py-1 pr-3">#</th>
              <th className="pr-3">When (UTC)</th>
              <th className="pr-3">Action</th>
              <th className="pr-3">Actor</th>
              <th>Subject</th>
            </tr>
          </thead>
          <tbody>
            {recent.map((e) => (
              <tr key={e.seq} className="border-t border-slate-100">
                <td className="py-1 pr-3 align-top">{e.seq}</td>
                <td className="pr-3 align-top whitespace-nowrap">{e.at.toISOString().replace("T", " ").slice(0, 19)}</td>
                <td className="pr-3 align-top font-mono">{e.action}</td>
                <td className="pr-3 align-top font-mono text-xs break-all">{e.actor}</td>
                <td className="font-mono text-xs break-all">{e.subject}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </div>
  );
}
