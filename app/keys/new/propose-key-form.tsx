"use client";
// The key.create proposal: validated here with the kind's own zod schema (the server parses it again with the
// same one), then proposed; on success the operation's page opens, where approvers vote.
import { useMutation } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { type FormEvent, useState } from "react";
import { KEY_CURVES, keyCreatePayloadSchema } from "@/server/operations/kinds/key-create";
import { FormError } from "../../_components/form-error";
import { describeError } from "../../_components/token-ceremony";
import { useTRPC } from "../../_trpc/client";

const CURVE_LABELS: Record<(typeof KEY_CURVES)[number], string> = {
  secp256k1: "secp256k1 (Bitcoin, Ethereum)",
  ed25519: "Ed25519 (Solana)",
  p256: "P-256 (NIST)",
};

type FieldErrors = Partial<Record<"label" | "curve" | "tags" | "exportable", string>>;

export function ProposeKeyForm() {
  const trpc = useTRPC();
  const router = useRouter();
  const propose = useMutation(trpc.operations.propose.mutationOptions());
  const [errors, setErrors] = useState<FieldErrors>({});
  const [error, setError] = useState<string | null>(null);

  async function onSubmit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const tagText = String(form.get("tags") ?? "");
    const parsed = keyCreatePayloadSchema.safeParse({
      label: String(form.get("label") ?? ""),
      curve: form.get("curve"),
      tags: tagText
        .split(",")
        .map((t) => t.trim())
        .filter((t) => t.length > 0),
      exportable: form.get("exportable"),
    });
    setError(null);
    if (!parsed.success) {
      const next: FieldErrors = {};
      for (const issue of parsed.error.issues) {
        const field = issue.path[0];
        if ((field === "label" || field === "curve" || field === "tags" || field === "exportable") && !next[field])
          next[field] = issue.message;
      }
      setErrors(next);
      return;
    }
    setErrors({});
    try {
      const op = await propose.mutateAsync({ kind: "key.create", payload: parsed.data });
      router.push(`/operations/${op.id}`);
    } catch (err) {
      setError(`The proposal was not made. ${describeError(err)}`);
    }
  }

  const fieldError = (field: keyof FieldErrors) =>
    errors[field] ? (
      <p id={`${field}-error`} className="text-sm text-red-800">
        {errors[field]}
      </p>
    ) : null;

  return (
    <form className="card max-w-lg space-y-4" onSubmit={onSubmit} noValidate aria-label="Propose a new key">
      <FormError message={error} />
      <div className="space-y-1">
        <label htmlFor="label" className="label">
          Label
        </label>
        <input
          id="label"
          name="label"
          className="input"
          maxLength={200}
          aria-invalid={Boolean(errors.label)}
          aria-describedby={errors.label ? "label-error" : undefined}
        />
        {fieldError("label")}
      </div>
      <div className="space-y-1">
        <label htmlFor="curve" className="label">
          Curve
        </label>
        <select id="curve" name="curve" className="input" defaultValue="secp256k1">
          {KEY_CURVES.map((c) => (
            <option key={c} value={c}>
              {CURVE_LABELS[c]}
            </option>
          ))}
        </select>
        {fieldError("curve")}
      </div>
      <div className="space-y-1">
        <label htmlFor="tags" className="label">
          Tags (comma-separated, lower case; the rules match on them)
        </label>
        <input
          id="tags"
          name="tags"
          className="input"
          placeholder="treasury, cold"
          aria-invalid={Boolean(errors.tags)}
          aria-describedby={errors.tags ? "tags-error" : undefined}
        />
        {fieldError("tags")}
      </div>
      <fieldset className="space-y-1">
        <legend className="label">Exportable</legend>
        <label className="flex items-center gap-2 text-sm">
          <input type="radio" name="exportable" value="never" defaultChecked /> Never: the private key never leaves
          the HSM
        </label>
        <label className="flex items-center gap-2 text-sm">
          <input type="radio" name="exportable" value="wrapped" /> Wrapped only, under the HSM's backup key
        </label>
        {fieldError("exportable")}
      </fieldset>
      <button type="submit" className="btn-primary" disabled={propose.isPending}>
        {propose.isPending ? "Proposing…" : "Propose for approval"}
      </button>
    </form>
  );
}
