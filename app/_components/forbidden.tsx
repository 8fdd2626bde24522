export function Forbidden({ what }: { what: string }) {
  return (
    <div className="space-y-2" role="alert">
      <h1 className="text-2xl font-semibold">Not allowed</h1>
      <p className="text-slate-700">{what}</p>
    </div>
  );
}
