// A server process cut short in the middle of a key.create batch (batch.integration.test.ts): it claims the
// approved batch (committed), prints `claimed <id>`, then executes it while printing `progress <done>` each
// time the recorded progress moves, and waits to be killed (the parent kills it with SIGKILL at a progress
// line, then recovers in its own process). Database from KW_CHILD_DATABASE_URL (PostgreSQL) or KW_CHILD_PGLITE
// (a folder); HSM from the inherited environment.
import { eq } from "drizzle-orm";
import { openDatabase } from "@/db/client";
import { operations } from "@/db/schema";
import { buildHsmWorkers } from "../../../../scripts/build-hsm-worker.mjs";
import { batchInProcess } from "../batch";
import { claimApproved } from "../claim";
import { executeClaimed } from "../execute";

// In a shared checkout a worker source may change mid-run, and the pool refuses a stale build: rebuild first.
buildHsmWorkers();
const url = process.env.KW_CHILD_DATABASE_URL;
const folder = process.env.KW_CHILD_PGLITE;
const database = url
  ? await openDatabase({ engine: "postgres", url })
  : await openDatabase({ engine: "pglite", folder: folder ?? "memory://" });
const clock = () => new Date();
const op = await claimApproved(database.db, clock());
if (op === null) {
  process.stdout.write("none\n");
  process.exit(3);
}
process.stdout.write(`claimed ${op.id}\n`);
let printed = -1;
const watch = setInterval(async () => {
  const [row] = await database.db
    .select({ progress: operations.progress })
    .from(operations)
    .where(eq(operations.id, op.id));
  const done = row?.progress?.done ?? 0;
  if (done !== printed) {
    printed = done;
    process.stdout.write(`progress ${done}\n`);
  }
}, 20);
const started = await executeClaimed({ db: database.db, clock }, op);
const outcome = (await batchInProcess(op.id)) ?? started;
clearInterval(watch);
process.stdout.write(`${outcome.outcome} ${op.id}\n`);
// Waiting to be killed (kill -9: nothing after this line runs, not even exit handlers).
setInterval(() => {}, 60_000);
