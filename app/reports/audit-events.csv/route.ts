// GET /reports/audit-events.csv?from=&to=: the period's audit events as CSV (every event, formula-escaped), streamed, for admins
// and auditors (server/reports/download.ts checks the session, the period and the role, and records the download).
import { currentSession } from "@/server/auth/next-auth";
import { database } from "@/server/db";
import { reportResponse } from "@/server/reports/download";

export const dynamic = "force-dynamic";

export async function GET(request: Request): Promise<Response> {
  const session = await currentSession();
  const { db } = await database();
  return reportResponse(request, { db, session, kind: "csv", now: new Date() });
}
