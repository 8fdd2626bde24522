// An error in words, announced to screen readers.
export function FormError({ message }: { message: string | null }) {
  if (!message) return null;
  return (
    <p role="alert" className="rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800">
      {message}
    </p>
  );
}

export function TapHint({ active }: { active: boolean }) {
  if (!active) return null;
  return (
    <p role="status" className="rounded-md border border-indigo-200 bg-indigo-50 px-3 py-2 text-sm text-indigo-900">
      Touch your hardware token now (and enter its PIN if asked)…
    </p>
  );
}
