// GET /reports/evidence.json?from=&to=: the period's evidence bundle (keyward-evidence/v1: events with inclusion
// proofs, HSM-signed checkpoints, operations, votes, policies) as a JSON attachment, for admins and auditors
// (server/reports/download.ts checks the session, the period and the role, and records the download). Building
// it may sign a checkpoint in the HSM when none covers the period's last event yet.
import { currentSession } from "@/server/auth/next-auth";
import { database } from "@/server/db";
import { reportResponse } from "@/server/reports/download";

export const dynamic = "force-dynamic";

export async function GET(request: Request): Promise<Response> {
  const session = await currentSession();
  const { db } = await database();
  return reportResponse(request, { db, session, kind: "evidence", now: new Date() });
}
