"use client";
// A key.create batch's progress on its operation page ("3,200 of 10,000 keys made — resumes after a restart"),
// from the progress the executor records with each chunk of keys. Live: while the batch may still move
// (approved or executing) operations.onBatchProgress pushes it again with every chunk recorded — the keys'
// key.created events name the keys, not the operation, so the operation's own stream does not move with them.
// Until its first snapshot, the page's operations.get says where it stands. Nothing for anything but a batch.
import { useQuery } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import { keyCreatePayloadSchema } from "@/server/operations/kinds/key-create";
import { useTRPC } from "../../_trpc/client";

const count = (n: number) => n.toLocaleString("en-US");

/** States in which a batch's progress can still move. */
const MOVING = new Set(["approved", "executing"]);

export function BatchProgress({ operationId }: { operationId: string }) {
  const trpc = useTRPC();
  const op = useQuery(trpc.operations.get.queryOptions({ operationId }));
  const o = op.data;
  const payload = o?.kind === "key.create" ? keyCreatePayloadSchema.safeParse(o.payload) : undefined;
  const batchTotal = o?.progress?.total ?? (payload?.success ? payload.data.batch?.count : undefined);
  const live = useSubscription(
    trpc.operations.onBatchProgress.subscriptionOptions(
      { operationId },
      { enabled: batchTotal !== undefined && o !== undefined && MOVING.has(o.state) },
    ),
  );
  if (!o || batchTotal === undefined) return null;
  // The stream's snapshot when it has one (it moves with each chunk), else the operation as the page read it.
  const pushed = live.data?.data;
  const { state, done, total } = pushed ?? { state: o.state, done: o.progress?.done ?? 0, total: batchTotal };
  let text: string;
  if (state === "executed") text = `All ${count(total)} keys made.`;
  else if (state === "executing")
    text = `${count(done)} of ${count(total)} keys made — resumes after a restart.`;
  else if (state === "failed")
    text = `${count(done)} of ${count(total)} keys were made before it failed; they stay recorded.`;
  else return null;
  return (
    <div className="space-y-1" data-testid="batch-progress">
      <progress className="h-2 w-full" value={done} max={total} aria-label="Keys made" />
      <p className="text-sm text-slate-700">{text}</p>
    </div>
  );
}
