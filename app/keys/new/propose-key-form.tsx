"use client";
// The key.create proposal, one key or a batch of customer-account keys (a count and a label pattern with {n}):
// validated here with the kind's own zod schema (the server parses it again with the same one), then proposed;
// on success the operation's page opens, where approvers vote. Unchecked by default, "Create in pre-activation"
// adds `preActivation: true` (the keys cannot sign until a key.activate is approved); left unchecked, the
// payload is exactly what it was before the option existed.
import { useMutation } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { type FormEvent, useState } from "react";
import {
  BATCH_MAX,
  BATCH_MIN,
  KEY_CURVES,
  keyBatchOf,
  keyCreatePayloadSchema,
} from "@/server/operations/kinds/key-create";
import { FormError } from "../../_components/form-error";
import { describeError } from "../../_components/token-ceremony";
import { useTRPC } from "../../_trpc/client";

const CURVE_LABELS: Record<(typeof KEY_CURVES)[number], string> = {
  secp256k1: "secp256k1 (Bitcoin, Ethereum)",
  ed25519: "Ed25519 (Solana)",
  p256: "P-256 (NIST)",
};

type Field = "label" | "curve" | "tags" | "exportable" | "count" | "first";
type FieldErrors = Partial<Record<Field, string>>;

/** The form field a schema issue belongs to (batch.count → count). */
function fieldOf(path: readonly PropertyKey[]): Field | null {
  const [head, sub] = path;
  if (head === "batch") return sub === "first" ? "first" : "count";
  return head === "label" || head === "curve" || head === "tags" || head === "exportable" ? head : null;
}

/** A number field as typed: empty is NaN, so the schema names it instead of reading it as 0. */
function numberOf(value: FormDataEntryValue | null): number {
  const text = String(value ?? "").trim();
  return text === "" ? Number.NaN : Number(text);
}

export function ProposeKeyForm() {
  const trpc = useTRPC();
  const router = useRouter();
  const propose = useMutation(trpc.operations.propose.mutationOptions());
  const [errors, setErrors] = useState<FieldErrors>({});
  const [error, setError] = useState<string | null>(null);
  const [mode, setMode] = useState<"single" | "batch">("single");
  const [preview, setPreview] = useState<string | null>(null);
  const batch = mode === "batch";

  function payloadOf(form: FormData) {
    const tagText = String(form.get("tags") ?? "");
    return {
      label: String(form.get("label") ?? ""),
      curve: form.get("curve"),
      tags: tagText
        .split(",")
        .map((t) => t.trim())
        .filter((t) => t.length > 0),
      exportable: form.get("exportable"),
      ...(form.get("preActivation") === "on" ? { preActivation: true } : {}),
      ...(batch ? { batch: { count: numberOf(form.get("count")), first: numberOf(form.get("first")) } } : {}),
    };
  }

  // What a batch would make, as the approvers will read it, once the entries are valid.
  function onChange(e: FormEvent<HTMLFormElement>) {
    if (!batch) return setPreview(null);
    const parsed = keyCreatePayloadSchema.safeParse(payloadOf(new FormData(e.currentTarget)));
    const plan = parsed.success ? keyBatchOf(parsed.data) : null;
    setPreview(
      plan === null
        ? null
        : `Makes ${plan.count.toLocaleString("en-US")} keys: ${plan.labelOf(0)}, ${plan.labelOf(1)}, … ${plan.labelOf(plan.count - 1)}${parsed.success && parsed.data.preActivation === true ? ", in pre-activation" : ""}`,
    );
  }

  async function onSubmit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const parsed = keyCreatePayloadSchema.safeParse(payloadOf(new FormData(e.currentTarget)));
    setError(null);
    if (!parsed.success) {
      const next: FieldErrors = {};
      for (const issue of parsed.error.issues) {
        const field = fieldOf(issue.path);
        if (field !== null && !next[field]) next[field] = issue.message;
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
    <form
      className="card max-w-lg space-y-4"
      onSubmit={onSubmit}
      onChange={onChange}
      noValidate
      aria-label="Propose a new key"
    >
      <FormError message={error} />
      <fieldset className="space-y-1">
        <legend className="label">What to make</legend>
        <label className="flex items-center gap-2 text-sm">
          <input
            type="radio"
            name="mode"
            value="single"
            checked={!batch}
            onChange={() => {
              setMode("single");
              setErrors({});
            }}
          />{" "}
          One key
        </label>
        <label className="flex items-center gap-2 text-sm">
          <input
            type="radio"
            name="mode"
            value="batch"
            checked={batch}
            onChange={() => {
              setMode("batch");
              setErrors({});
            }}
          />{" "}
          A batch of customer-account keys ({BATCH_MIN} to {BATCH_MAX.toLocaleString("en-US")})
        </label>
      </fieldset>
      <div className="space-y-1">
        <label htmlFor="label" className="label">
          {batch ? "Label pattern ({n} is each key's number, zero-padded)" : "Label"}
        </label>
        <input
          id="label"
          name="label"
          className="input"
          maxLength={200}
          placeholder={batch ? "acct-{n}" : undefined}
          aria-invalid={Boolean(errors.label)}
          aria-describedby={errors.label ? "label-error" : undefined}
        />
        {fieldError("label")}
      </div>
      {batch && (
        <div className="grid grid-cols-2 gap-4">
          <div className="space-y-1">
            <label htmlFor="count" className="label">
              Number of keys
            </label>
            <input
              id="count"
              name="count"
              type="number"
              inputMode="numeric"
              min={BATCH_MIN}
              max={BATCH_MAX}
              className="input"
              aria-invalid={Boolean(errors.count)}
              aria-describedby={errors.count ? "count-error" : undefined}
            />
            {fieldError("count")}
          </div>
          <div className="space-y-1">
            <label htmlFor="first" className="label">
              First number
            </label>
            <input
              id="first"
              name="first"
              type="number"
              inputMode="numeric"
              min={0}
              defaultValue={1}
              className="input"
              aria-invalid={Boolean(errors.first)}
              aria-describedby={errors.first ? "first-error" : undefined}
            />
            {fieldError("first")}
          </div>
        </div>
      )}
      {batch && preview && (
        <p className="text-sm text-slate-700" data-testid="batch-preview">
          {preview}
        </p>
      )}
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
          <input type="radio" name="exportable" value="never" defaultChecked /> Never: the private key never
          leaves the HSM
        </label>
        <label className="flex items-center gap-2 text-sm">
          <input type="radio" name="exportable" value="wrapped" /> Wrapped only, under the HSM's backup key
        </label>
        {fieldError("exportable")}
      </fieldset>
      <div className="space-y-1">
        <label className="flex items-center gap-2 text-sm">
          <input
            type="checkbox"
            name="preActivation"
            aria-describedby="pre-activation-help"
            data-testid="key-create-pre-activation"
          />{" "}
          Create in pre-activation (activate later, by the quorum)
        </label>
        <p id="pre-activation-help" className="text-sm text-slate-600">
          The {batch ? "keys are" : "key is"} made in the HSM and {batch ? "their" : "its"} public key and
          addresses are shown at once, so funds can be sent ahead of time, but {batch ? "they" : "it"} cannot
          sign until a key.activate operation is approved. Unchecked: active as soon as{" "}
          {batch ? "they are" : "it is"} made.
        </p>
      </div>
      <button type="submit" className="btn-primary" disabled={propose.isPending}>
        {propose.isPending ? "Proposing…" : "Propose for approval"}
      </button>
    </form>
  );
}
