// GET /api/v1/audit/checkpoints: every HSM-signed checkpoint, oldest first (?after=&limit=); public (server/audit/public-log.ts).
import { listCheckpoints, publicLogDeps } from "@/server/audit/public-log";

export const dynamic = "force-dynamic";

export async function GET(request: Request): Promise<Response> {
  return listCheckpoints(request, await publicLogDeps());
}
