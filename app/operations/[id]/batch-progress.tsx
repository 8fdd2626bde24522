"use client";
// A key.create batch's progress on its operation page ("3,200 of 10,000 keys made — resumes after a restart"),
// from the progress the executor records with each chunk of keys (operations.get). While the batch runs it
// re-reads it every 2 s: the keys' key.created events name the keys, not the operation, so the operation's
// live stream does not move with them. Nothing for anything but a batch.
import { useQuery } from "@tanstack/react-query";
import { keyCreatePayloadSchema } from "@/server/operations/kinds/key-create";
import { useTRPC } from "../../_trpc/client";

const POLL_MS = 2_000;

const count = (n: number) => n.toLocaleString("en-US");

export function BatchProgress({ operationId }: { operationId: string }) {
  const trpc = useTRPC();
  const op = useQuery({
    ...trpc.operations.get.queryOptions({ operationId }),
    refetchInterval: (q) => (q.state.data?.state === "executing" ? POLL_MS : false),
  });
  const o = op.data;
  if (!o || o.kind !== "key.create") return null;
  const payload = keyCreatePayloadSchema.safeParse(o.payload);
  const total = o.progress?.total ?? (payload.success ? payload.data.batch?.count : undefined);
  if (total === undefined) return null;
  const done = o.progress?.done ?? 0;
  let text: string;
  if (o.state === "executed") text = `All ${count(total)} keys made.`;
  else if (o.state === "executing")
    text = `${count(done)} of ${count(total)} keys made — resumes after a restart.`;
  else if (o.state === "failed")
    text = `${count(done)} of ${count(total)} keys were made before it failed; they stay recorded.`;
  else return null;
  return (
    <div className="space-y-1" data-testid="batch-progress">
      <progress className="h-2 w-full" value={done} max={total} aria-label="Keys made" />
      <p className="text-sm text-slate-700">{text}</p>
    </div>
  );
}
