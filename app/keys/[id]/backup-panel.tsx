"use client";
// Backups and recovery drills of one key: the last drill, the backups (digest, KEK, token; admins download the
// file, which holds the key wrapped under the backup KEK), the restores, and the proposals — a backup, or a
// restore of a stored backup (or an uploaded file) into a chosen HSM token. Both need the quorum; on success the
// operation's page opens, where approvers vote. Which buttons show is the server's answer for this viewer
// (backups.ofKey's `viewer`, from the roles its procedures check): nothing here decides from roles itself.
import { useMutation, useQuery } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { type ChangeEvent, useState } from "react";
import { FormError } from "../../_components/form-error";
import { describeError } from "../../_components/token-ceremony";
import { useTRPC } from "../../_trpc/client";
import { utc } from "../../operations/badges";

type Props = { keyId: string };

/** Reads an uploaded backup file as JSON; the server checks the rest (schema, SHA-256, a stored backup). */
async function readJson(file: File): Promise<Record<string, unknown>> {
  const parsed: unknown = JSON.parse(await file.text());
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new Error("The file is not a JSON object: it is not a Keyward key backup.");
  }
  return Object.fromEntries(Object.entries(parsed));
}

function saveJson(fileName: string, value: unknown): void {
  const url = URL.createObjectURL(
    new Blob([`${JSON.stringify(value, null, 2)}\n`], { type: "application/json" }),
  );
  const link = document.createElement("a");
  link.href = url;
  link.download = fileName;
  link.click();
  // Revoked a little later: the browser may still be reading the blob when click() returns.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function BackupPanel({ keyId }: Props) {
  const trpc = useTRPC();
  const router = useRouter();
  const data = useQuery(trpc.backups.ofKey.queryOptions({ keyId }));
  const propose = useMutation(trpc.operations.propose.mutationOptions());
  const download = useMutation(trpc.backups.download.mutationOptions());
  const [error, setError] = useState<string | null>(null);
  const [backupId, setBackupId] = useState<string>("");
  const [token, setToken] = useState<string>("");
  const [upload, setUpload] = useState<{ name: string; file: Record<string, unknown> } | null>(null);

  if (data.error) return <FormError message={describeError(data.error)} />;
  if (!data.data) return <p className="text-slate-600">Loading backups…</p>;
  const { backups, restores, lastDrill, tokens, backupRefused, viewer } = data.data;
  const { canDownload, canProposeBackup, canProposeRestore } = viewer;
  const chosenBackup = backupId || backups[0]?.id || "";
  const chosenToken = token || tokens[0] || "";

  async function proposeAndOpen(kind: string, payload: unknown, what: string) {
    setError(null);
    try {
      const op = await propose.mutateAsync({ kind, payload });
      router.push(`/operations/${op.id}`);
    } catch (e) {
      setError(`The ${what} was not proposed. ${describeError(e)}`);
    }
  }

  async function onDownload(id: string) {
    setError(null);
    try {
      const got = await download.mutateAsync({ backupId: id });
      saveJson(got.fileName, got.file);
    } catch (e) {
      setError(`The backup was not downloaded. ${describeError(e)}`);
    }
  }

  async function onUpload(event: ChangeEvent<HTMLInputElement>) {
    setError(null);
    const file = event.target.files?.[0];
    if (file === undefined) return setUpload(null);
    try {
      setUpload({ name: file.name, file: await readJson(file) });
    } catch (e) {
      setUpload(null);
      setError(e instanceof Error ? e.message : "The file could not be read.");
    }
  }

  return (
    <section className="card space-y-4" data-testid="key-backups">
      <h2 className="text-lg font-semibold">Backups and recovery drills</h2>
      <p className="text-sm" data-testid="last-drill">
        Last recovery drill: {lastDrill ? `${utc(lastDrill.at)} on ${lastDrill.token}` : "never"}
      </p>

      {backups.length === 0 ? (
        <p className="text-sm text-slate-600">No backup of this key yet.</p>
      ) : (
        <table className="w-full text-left text-sm">
          <thead className="text-slate-500">
            <tr>
              <th className="py-1">Made</th>
              <th>SHA-256</th>
              <th>Wrapped on</th>
              <th>Under KEK</th>
              {canDownload && <th />}
            </tr>
          </thead>
          <tbody>
            {backups.map((b) => (
              <tr key={b.id} className="border-t border-slate-200" data-testid="backup-row">
                <td className="py-1">{utc(b.createdAt)}</td>
                <td>
                  {/* In full: it is what an admin compares with the downloaded file's sha256. */}
                  <code className="break-all font-mono text-xs" data-testid="backup-digest">
                    {b.digest}
                  </code>
                </td>
                <td data-testid="backup-token">{b.tokenLabel}</td>
                <td>
                  <code className="font-mono text-xs" title={b.kekId} data-testid="backup-kek">
                    {b.kekLabel} {b.kekId.slice(0, 8)}…
                  </code>
                </td>
                {canDownload && (
                  <td className="text-right">
                    <button
                      type="button"
                      className="btn-secondary"
                      disabled={download.isPending}
                      onClick={() => onDownload(b.id)}
                    >
                      Download
                    </button>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {backups.length > 0 && !canDownload && (
        <p className="text-xs text-slate-500">
          Only admins can download a backup file: it holds the key wrapped under the HSM's backup key.
        </p>
      )}

      {restores.length > 0 && (
        <ul className="space-y-1 text-sm" data-testid="key-restores">
          {restores.map((r) => (
            <li key={r.id}>
              {utc(r.createdAt)}: {r.mode === "token" ? "put back into" : "drilled on"} {r.tokenLabel}
            </li>
          ))}
        </ul>
      )}

      {(canProposeBackup || canProposeRestore) && (
        <div className="space-y-3 border-t border-slate-200 pt-3">
          {!canProposeBackup ? null : backupRefused ? (
            <p className="text-sm text-slate-600">{backupRefused}</p>
          ) : (
            <button
              type="button"
              className="btn-primary"
              disabled={propose.isPending}
              onClick={() => proposeAndOpen("key.backup", { keyId }, "backup")}
            >
              Propose a backup
            </button>
          )}
          {canProposeRestore && (backups.length > 0 || upload !== null) && (
            <div className="flex flex-wrap items-end gap-3">
              <label className="label">
                Backup
                <select
                  className="input"
                  value={upload ? "" : chosenBackup}
                  disabled={upload !== null}
                  onChange={(e) => setBackupId(e.target.value)}
                >
                  {backups.map((b) => (
                    <option key={b.id} value={b.id}>
                      {utc(b.createdAt)} ({b.digest.slice(0, 8)}…)
                    </option>
                  ))}
                  {upload && <option value="">{upload.name}</option>}
                </select>
              </label>
              <label className="label">
                Into HSM token
                <select className="input" value={chosenToken} onChange={(e) => setToken(e.target.value)}>
                  {tokens.map((t) => (
                    <option key={t} value={t}>
                      {t}
                    </option>
                  ))}
                </select>
              </label>
              <button
                type="button"
                className="btn-primary"
                disabled={propose.isPending || chosenToken === "" || (upload === null && chosenBackup === "")}
                onClick={() =>
                  proposeAndOpen(
                    "key.restore",
                    upload
                      ? { file: upload.file, token: chosenToken }
                      : { backupId: chosenBackup, token: chosenToken },
                    "restore",
                  )
                }
              >
                Propose a restore
              </button>
            </div>
          )}
          {canProposeRestore && (
            <>
              <label className="label block text-sm">
                Or restore from a downloaded backup file
                <input
                  type="file"
                  accept="application/json,.json"
                  className="block text-sm"
                  onChange={onUpload}
                />
              </label>
              <p className="text-xs text-slate-500">
                A restore proves the key still signs for its public key: a token that lost the key gets it
                back; a token that holds it is only drilled and keeps no second copy.
              </p>
            </>
          )}
        </div>
      )}
      <FormError message={error} />
    </section>
  );
}
