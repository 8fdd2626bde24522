"use client";
// Propose forms for a key's lifecycle operations, each for the quorum: revoke (compromised: it never signs again;
// a reason is required), destroy (after a waiting period of 7 to 30 days, cancellable until it runs), rotate
// (a successor key; the old one stops receiving and remains for sweeping). Each is validated here with the kind's
// own input schema (the server parses it again with the same one); on success the operation's page opens.
import { useMutation, useQuery } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { type FormEvent, useState } from "react";
import type { z } from "zod";
import {
  DEFAULT_WAITING_DAYS,
  keyDestroyInputSchema,
  MAX_WAITING_DAYS,
  MIN_WAITING_DAYS,
} from "@/server/operations/kinds/key-destroy";
import { keyRevokeInputSchema } from "@/server/operations/kinds/key-revoke";
import { keyRotateInputSchema, successorLabelFor } from "@/server/operations/kinds/key-rotate";
import { FormError } from "../../_components/form-error";
import { describeError } from "../../_components/token-ceremony";
import { useTRPC } from "../../_trpc/client";

type Form = "revoke" | "destroy" | "rotate";

const firstIssue = (error: z.ZodError, field: string) =>
  error.issues.find((i) => i.path[0] === field)?.message ?? null;

export function LifecycleActions({ keyId, canPropose }: { keyId: string; canPropose: boolean }) {
  const trpc = useTRPC();
  const router = useRouter();
  const page = useQuery(trpc.keys.get.queryOptions({ keyId }));
  const status = useQuery(trpc.keyLifecycle.status.queryOptions({ keyId }));
  const propose = useMutation(trpc.operations.propose.mutationOptions());
  const [open, setOpen] = useState<Form | null>(null);
  const [fieldError, setFieldError] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  if (!canPropose || !page.data || !status.data) return null;
  const { key } = page.data;
  const openKinds = new Set(status.data.openOperations.map((o) => o.kind));
  const scheduled = status.data.destruction !== null;
  const can: Record<Form, boolean> = {
    revoke:
      ["pre-activation", "active", "suspended", "deactivated"].includes(key.state) &&
      !openKinds.has("key.revoke"),
    destroy:
      ["pre-activation", "active", "suspended", "deactivated", "compromised"].includes(key.state) &&
      !scheduled &&
      !openKinds.has("key.destroy"),
    rotate: key.state === "active" && !openKinds.has("key.rotate"),
  };
  if (!can.revoke && !can.destroy && !can.rotate) return null;

  async function submit(kind: string, payload: unknown) {
    setError(null);
    try {
      const op = await propose.mutateAsync({ kind, payload });
      router.push(`/operations/${op.id}`);
    } catch (e) {
      setError(`The proposal was not made. ${describeError(e)}`);
    }
  }

  function onRevoke(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const parsed = keyRevokeInputSchema.safeParse({
      keyId,
      reason: String(new FormData(e.currentTarget).get("reason") ?? ""),
    });
    if (!parsed.success) return setFieldError(firstIssue(parsed.error, "reason"));
    setFieldError(null);
    return submit("key.revoke", parsed.data);
  }

  function onDestroy(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const parsed = keyDestroyInputSchema.safeParse({
      keyId,
      waitingDays: Number(new FormData(e.currentTarget).get("waitingDays")),
    });
    if (!parsed.success) return setFieldError(firstIssue(parsed.error, "waitingDays"));
    setFieldError(null);
    return submit("key.destroy", parsed.data);
  }

  function onRotate(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const parsed = keyRotateInputSchema.safeParse({
      keyId,
      successorLabel: String(new FormData(e.currentTarget).get("successorLabel") ?? ""),
    });
    if (!parsed.success) return setFieldError(firstIssue(parsed.error, "successorLabel"));
    setFieldError(null);
    return submit("key.rotate", parsed.data);
  }

  const toggle = (form: Form) => {
    setOpen(open === form ? null : form);
    setFieldError(null);
    setError(null);
  };
  const described = (id: string) => (fieldError ? { "aria-invalid": true, "aria-describedby": id } : {});
  const issue = (id: string) =>
    fieldError ? (
      <p id={id} className="text-sm text-red-800">
        {fieldError}
      </p>
    ) : null;

  return (
    <section className="card space-y-3" aria-labelledby="lifecycle-actions">
      <h2 id="lifecycle-actions" className="text-lg font-medium">
        Propose a lifecycle change
      </h2>
      <p className="text-sm text-slate-600">
        Each needs the quorum: approvers vote on exactly what you submit.
      </p>
      <div className="flex flex-wrap gap-2">
        {can.rotate && (
          <button type="button" className="btn-secondary" onClick={() => toggle("rotate")}>
            Rotate…
          </button>
        )}
        {can.revoke && (
          <button type="button" className="btn-danger" onClick={() => toggle("revoke")}>
            Revoke as compromised…
          </button>
        )}
        {can.destroy && (
          <button type="button" className="btn-danger" onClick={() => toggle("destroy")}>
            Destroy…
          </button>
        )}
      </div>
      {open === "rotate" && can.rotate && (
        <form
          className="max-w-lg space-y-2"
          onSubmit={onRotate}
          noValidate
          aria-label="Propose rotating this key"
        >
          <p className="text-sm text-slate-700">
            A successor key is made with the same curve, tags and exportability. This key is then deactivated:
            it stops receiving and remains only for sweeping its funds to the successor.
          </p>
          <label htmlFor="successorLabel" className="label">
            Successor's label
          </label>
          <input
            id="successorLabel"
            name="successorLabel"
            className="input"
            maxLength={200}
            defaultValue={successorLabelFor(key.label, new Date())}
            {...described("successorLabel-error")}
          />
          {issue("successorLabel-error")}
          <button type="submit" className="btn-primary" disabled={propose.isPending}>
            {propose.isPending ? "Proposing…" : "Propose rotation"}
          </button>
        </form>
      )}
      {open === "revoke" && can.revoke && (
        <form
          className="max-w-lg space-y-2"
          onSubmit={onRevoke}
          noValidate
          aria-label="Propose revoking this key"
        >
          <p className="text-sm text-slate-700">
            A revoked key is compromised: it never signs again, and can afterwards only be destroyed.
          </p>
          <label htmlFor="reason" className="label">
            Why is the key compromised?
          </label>
          <textarea
            id="reason"
            name="reason"
            className="input"
            rows={3}
            maxLength={500}
            {...described("reason-error")}
          />
          {issue("reason-error")}
          <button type="submit" className="btn-danger" disabled={propose.isPending}>
            {propose.isPending ? "Proposing…" : "Propose revocation"}
          </button>
        </form>
      )}
      {open === "destroy" && can.destroy && (
        <form
          className="max-w-lg space-y-2"
          onSubmit={onDestroy}
          noValidate
          aria-label="Propose destroying this key"
        >
          <p className="text-sm text-slate-700">
            Once approved the key stops signing at once. When the waiting period ends it is destroyed on every
            HSM token, for good; until then an admin or approver can cancel with one tap.
          </p>
          <label htmlFor="waitingDays" className="label">
            Waiting period in days ({MIN_WAITING_DAYS} to {MAX_WAITING_DAYS})
          </label>
          <input
            id="waitingDays"
            name="waitingDays"
            type="number"
            className="input w-32"
            min={MIN_WAITING_DAYS}
            max={MAX_WAITING_DAYS}
            step={1}
            defaultValue={DEFAULT_WAITING_DAYS}
            {...described("waitingDays-error")}
          />
          {issue("waitingDays-error")}
          <button type="submit" className="btn-danger" disabled={propose.isPending}>
            {propose.isPending ? "Proposing…" : "Propose destruction"}
          </button>
        </form>
      )}
      <FormError message={error} />
    </section>
  );
}
