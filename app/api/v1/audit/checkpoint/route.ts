// GET /api/v1/audit/checkpoint: the audit log's newest HSM-signed checkpoint; public (server/audit/public-log.ts).
import { getLatestCheckpoint, publicLogDeps } from "@/server/audit/public-log";

export const dynamic = "force-dynamic";

export async function GET(request: Request): Promise<Response> {
  return getLatestCheckpoint(request, await publicLogDeps());
}
