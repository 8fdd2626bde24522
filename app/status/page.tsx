import { api } from "@/server/api/caller";
import { STAGED_TOO_LONG_MS } from "@/server/status/database-health";
import {
  checkUnwrapGuards,
  type HsmTokenView,
  isSoftHsmLibrary,
  lastUnwrapGuards,
  type UnwrapGuardView,
} from "@/server/hsm";
import { Forbidden } from "../_components/forbidden";
import { requirePageRole } from "../_components/require-role";
import { NotificationsStatus } from "../settings/notifications-status";

function Row({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <>
      <dt className="text-slate-500">{label}</dt>
      <dd>{children}</dd>
    </>
  );
}

type Health = "healthy" | "degraded" | "failing";

const BADGE_COLOURS: Record<Health, string> = {
  healthy: "bg-green-100 text-green-800",
  degraded: "bg-amber-100 text-amber-800",
  failing: "bg-red-100 text-red-800",
};

function Badge({ state }: { state: Health }) {
  return <span className={`rounded px-2 py-0.5 text-xs font-semibold ${BADGE_COLOURS[state]}`}>{state}</span>;
}

const okState = (ok: boolean): Health => (ok ? "healthy" : "failing");

/** What kind of backup KEK the token holds: setup makes the shareable kind so replicas can receive it. */
function kekText(kek: { shareable: boolean } | null): string {
  if (kek === null) return "missing";
  return kek.shareable ? "present (trusted, wrapped-only)" : "present (trusted, non-extractable)";
}

const TOKEN_STATE_COLOURS = { healthy: "text-green-800", degraded: "text-amber-800", failed: "text-red-800" };

const utc = (at: Date) => `${at.toISOString().replace("T", " ").slice(0, 19)} UTC`;

/** One row per configured token: the primary first, then the replicas that keys are cloned into. */
function TokenTable({ tokens }: { tokens: HsmTokenView[] }) {
  return (
    <table className="w-full text-left text-sm" data-testid="hsm-tokens">
      <thead className="text-slate-500">
        <tr>
          <th className="py-1 pr-3">Token</th>
          <th className="pr-3">Role</th>
          <th className="pr-3">Serial</th>
          <th className="pr-3">Backup KEK</th>
          <th className="pr-3">State</th>
          <th>Last error</th>
        </tr>
      </thead>
      <tbody>
        {tokens.map((t) => (
          <tr
            key={t.label}
            className="border-t border-slate-100 align-top"
            data-testid={`hsm-token-${t.label}`}
          >
            <td className="py-1 pr-3 font-mono">{t.label}</td>
            <td className="pr-3">{t.role}</td>
            <td className="pr-3 font-mono text-xs">{t.serial ?? "—"}</td>
            <td className="pr-3 font-mono text-xs">{t.kek ? t.kek.id.slice(0, 8) : "missing"}</td>
            <td className={`pr-3 font-semibold ${TOKEN_STATE_COLOURS[t.state]}`}>
              {t.state}
              {t.retryAt && (
                <span className="block text-xs font-normal text-slate-500">retry {utc(t.retryAt)}</span>
              )}
            </td>
            <td className="text-xs text-slate-700">
              {t.lastError ? (
                <>
                  <span className="font-mono">{t.lastError.reason}</span> at {utc(t.lastError.at)}
                  {t.consecutiveFailures > 0 && ` (${t.consecutiveFailures} in a row)`}
                </>
              ) : (
                "—"
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** What SoftHSM is, said plainly wherever it is the HSM (measured: see server/hsm/README.md). */
function SoftHsmNotice() {
  return (
    <div
      role="note"
      className="rounded border border-red-300 bg-red-50 p-3 text-sm text-red-900"
      data-testid="softhsm-notice"
    >
      <p className="font-semibold">Development HSM (SoftHSM): not for real funds</p>
      <p>
        SoftHSM stores public objects unencrypted: the backup KEK&apos;s value can be read from its token
        file, and it decrypts wrapped keys without any PIN. Its token files sit beside the user PIN on this
        one host, so whoever can read this server&apos;s files holds every key.
      </p>
    </div>
  );
}

/** The start-up unwrap self-check of each token (server/hsm/keys/unwrap-guard.ts). */
function UnwrapGuards({ views }: { views: UnwrapGuardView[] }) {
  return (
    <div className="space-y-1 text-sm" data-testid="unwrap-guards">
      <h3 className="font-medium">Unwrap self-check</h3>
      {views.map((v) => (
        <p
          key={v.tokenLabel}
          role={v.wrappedOnly ? undefined : "alert"}
          className={v.wrappedOnly ? "text-slate-700" : "text-red-800"}
          data-testid={`unwrap-guard-${v.tokenLabel}`}
        >
          <span className="font-mono">{v.tokenLabel}</span>:{" "}
          {v.wrappedOnly ? "passed" : "failed: Keyward makes no wrapped-only keys on this token"}
          {" — "}
          {v.guard?.message ?? v.error}
          {v.guard && v.guard.template.length > 0 && (
            <span className="block font-mono text-xs text-slate-500">
              KEK unwrap template: {v.guard.template.join(", ")}
            </span>
          )}
        </p>
      ))}
    </div>
  );
}

type CheckpointView = Awaited<ReturnType<Awaited<ReturnType<typeof api>>["audit"]["checkpoint"]>>;
type AuditKeyView = Awaited<ReturnType<Awaited<ReturnType<typeof api>>["status"]["auditKey"]>>;

/** What each HSM token answers for the audit key's flags now: the HSM's own claim that it never left it. */
function AuditKeyFlags({ auditKey }: { auditKey: AuditKeyView }) {
  return (
    <div className="space-y-1" data-testid="audit-key-flags">
      <p>
        What the HSM says of the audit key (reference <code>{auditKey.ref}</code>), asked at{" "}
        {auditKey.checkedAt.toISOString().slice(11, 19)} UTC (at most every 15 s): CKA_LOCAL (made in the
        token), CKA_ALWAYS_SENSITIVE and CKA_NEVER_EXTRACTABLE (never readable, never exported):
      </p>
      {auditKey.error !== null && <p className="text-red-800">{auditKey.error}</p>}
      <ul className="font-mono text-xs">
        {auditKey.tokens.map((t) => (
          <li key={t.line} className={t.problems.length > 0 ? "text-red-800" : undefined}>
            {t.line}
            {t.problems.length > 0 && <span role="alert"> — not as expected: {t.problems.join("; ")}</span>}
          </li>
        ))}
      </ul>
      <p className="text-xs text-slate-500">
        Vendor key attestation: {auditKey.vendorAttestation.join("; ") || "—"}.
      </p>
    </div>
  );
}

/** The newest tree head the HSM signed, the key it verifies under, and where anyone can fetch it. */
function Checkpoints({
  checkpoint,
  token,
  auditKey,
}: {
  checkpoint: CheckpointView;
  token: string | null;
  auditKey: AuditKeyView;
}) {
  const { latest, treeSize } = checkpoint;
  return (
    <div className="space-y-1 text-sm text-slate-700" data-testid="audit-checkpoint">
      <h3 className="font-medium">Signed checkpoints (RFC 9162 tree, C2SP signed notes)</h3>
      {latest === null ? (
        <p>
          No checkpoint signed yet{treeSize > 0 ? `; the tree holds ${treeSize} events` : ""}. The audit key
          in the HSM signs one within seconds of the first events.
        </p>
      ) : (
        <>
          <p>
            Events 1–{latest.size} are covered by the checkpoint signed at{" "}
            {latest.signedAt.toISOString().replace("T", " ").slice(0, 19)} UTC
            {treeSize > latest.size ? `; ${treeSize - latest.size} newer events await the next one` : ""}.
          </p>
          <pre className="overflow-x-auto rounded bg-slate-50 p-2 text-xs">{latest.note}</pre>
          <p>
            Verifier key (Ed25519, never extractable, in HSM token {token ?? "?"}):{" "}
            <code className="break-all" data-testid="audit-verifier-key">
              {latest.verifierKey}
            </code>
          </p>
          <AuditKeyFlags auditKey={auditKey} />
        </>
      )}
      <p className="text-xs text-slate-500">
        Anyone may fetch the newest checkpoint without signing in at <code>/api/v1/audit/checkpoint</code> and
        every one at <code>/api/v1/audit/checkpoints</code>, to keep the heads they saw and later prove the
        log only grew.
      </p>
    </div>
  );
}

export default async function StatusPage({ searchParams }: { searchParams: Promise<{ verify?: string }> }) {
  const { allowed } = await requirePageRole("admin", "auditor");
  if (!allowed) return <Forbidden what="System status is for admins and auditors." />;
  const caller = await api();
  // Each view hashes only the events appended since the last verified point; ?verify=full re-hashes them all.
  const full = (await searchParams).verify === "full";
  const [health, chain, recent, checkpoint, auditKey] = await Promise.all([
    caller.status.health(),
    caller.audit.verify({ full }),
    caller.audit.recent({ limit: 20 }),
    caller.audit.checkpoint(),
    caller.status.auditKey(),
  ]);
  // The tree and every checkpoint re-derived from the events: only on the full check, it reads the whole log.
  const tree = full ? await caller.audit.verifyTree() : null;
  const { database: db, hsm } = health;
  // Boot checked every token; a server started without instrumentation (or a token added since) is checked now.
  const known = lastUnwrapGuards();
  const guards = hsm.tokens.every((t) => known.some((v) => v.tokenLabel === t.label))
    ? known
    : await checkUnwrapGuards();
  return (
    <div className="space-y-8">
      <h1 className="text-2xl font-semibold">Status</h1>
      <div className="grid gap-6 md:grid-cols-2">
        <section className="card space-y-3" aria-labelledby="hsm-heading" data-testid="hsm-status">
          <h2 id="hsm-heading" className="flex items-center gap-2 text-lg font-medium">
            HSM <Badge state={hsm.state} />
          </h2>
          {isSoftHsmLibrary(hsm.library) && <SoftHsmNotice />}
          <dl className="grid grid-cols-[9rem_1fr] gap-y-1 text-sm">
            <Row label="Library">{hsm.library}</Row>
            {hsm.token && (
              <>
                {/* The primary token: keys are made on it and cloned into the replicas listed below. */}
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
                <Row label="Backup KEK">{kekText(hsm.objects.kek)}</Row>
              </>
            )}
            {hsm.mechanisms && (
              <>
                <Row label="ECDSA">{hsm.mechanisms.ecdsa ? "supported" : "missing"}</Row>
                <Row label="EdDSA">{hsm.mechanisms.eddsa ? "supported" : "missing"}</Row>
              </>
            )}
          </dl>
          {hsm.tokens.length > 0 && <TokenTable tokens={hsm.tokens} />}
          {guards.length > 0 && <UnwrapGuards views={guards} />}
          {hsm.tokens.length === 0 && hsm.error && (
            <p role="alert" className="text-sm text-red-800">
              {hsm.error.message}
            </p>
          )}
          {hsm.tokens
            .filter((t) => t.state === "failed" || t.problem !== null)
            .map((t) => (
              <p role="alert" key={t.label} className="text-sm text-red-800">
                {t.state === "failed" && t.lastError ? t.lastError.message : t.problem?.message}
              </p>
            ))}
        </section>
        <section className="card space-y-3" aria-labelledby="db-heading" data-testid="database-status">
          <h2 id="db-heading" className="flex items-center gap-2 text-lg font-medium">
            Database <Badge state={okState(db.ok)} />
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
      <NotificationsStatus />
      <section className="card space-y-3" aria-labelledby="audit-heading">
        <h2 id="audit-heading" className="flex items-center gap-2 text-lg font-medium">
          Audit trail <Badge state={okState(chain.problems.length === 0)} />
        </h2>
        <p className="text-sm text-slate-700" data-testid="audit-chain">
          {chain.events} events; hash chain{" "}
          {chain.problems.length === 0
            ? "intact"
            : `BROKEN at ${chain.problems.map((p) => `#${p.seq} (${p.problem})`).join(", ")}`}
          . Head <code className="break-all">{chain.headHash}</code>
        </p>
        {db.ok && db.auditStaged.count > 0 ? (
          <p
            className={
              (db.auditStaged.oldestAgeMs ?? 0) > STAGED_TOO_LONG_MS
                ? "text-sm font-medium text-red-700"
                : "text-sm text-slate-700"
            }
            data-testid="audit-staged"
          >
            {db.auditStaged.count} committed {db.auditStaged.count === 1 ? "event waits" : "events wait"} to
            be sealed into the chain
            {(db.auditStaged.oldestAgeMs ?? 0) > STAGED_TOO_LONG_MS
              ? `, the oldest for ${Math.round((db.auditStaged.oldestAgeMs ?? 0) / 1000)} s: the audit integrator is not keeping up or is failing (see the server log)`
              : ""}
            .
          </p>
        ) : null}
        <p className="text-xs text-slate-500" data-testid="audit-chain-check">
          {chain.mode === "full"
            ? "Whole trail re-hashed"
            : `Checked from the last verified point: ${chain.hashed} new events hashed`}
          .{" "}
          <a className="text-indigo-700 underline" href="/status?verify=full">
            Re-verify the whole trail
          </a>
        </p>
        {tree && (
          <p
            className={
              tree.problems.length === 0 ? "text-sm text-slate-700" : "text-sm font-medium text-red-700"
            }
            data-testid="audit-tree-check"
          >
            {tree.problems.length === 0
              ? `Merkle tree re-derived from all ${tree.events} events: every node matches${
                  tree.verifiedCheckpoint
                    ? `; verified up to event ${tree.verifiedCheckpoint.size}, checkpoint of ${tree.verifiedCheckpoint.signedAt.toISOString().replace("T", " ").slice(0, 19)} UTC signed by the HSM`
                    : ""
                }.`
              : `MERKLE TREE OR CHECKPOINTS BROKEN: ${tree.problems
                  .map((p) =>
                    p.kind === "node"
                      ? `node (level ${p.level}, index ${p.index}) ${p.message}`
                      : p.kind === "checkpoint"
                        ? `checkpoint ${p.size}: ${p.message}`
                        : p.message,
                  )
                  .join("; ")}.`}
          </p>
        )}
        <Checkpoints checkpoint={checkpoint} token={hsm.token?.label ?? null} auditKey={auditKey} />
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
                <td className="pr-3 align-top whitespace-nowrap">
                  {e.at.toISOString().replace("T", " ").slice(0, 19)}
                </td>
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
