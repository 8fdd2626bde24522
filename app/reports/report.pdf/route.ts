// GET /reports/report.pdf?from=&to=: the period report as a PDF, streamed, for admins
// and auditors (server/reports/download.ts checks the session, the period and the role, and records the download).
import { currentSession } from "@/server/auth/next-auth";
import { database } from "@/server/db";
import { reportResponse } from "@/server/reports/download";
import { hsmKeyAttestations, hsmTokenIdentities } from "@/server/reports/hsm-tokens";

export const dynamic = "force-dynamic";

export async function GET(request: Request): Promise<Response> {
  const session = await currentSession();
  const { db } = await database();
  return reportResponse(request, {
    db,
    session,
    kind: "pdf",
    now: new Date(),
    hsmTokens: hsmTokenIdentities,
    hsmKeys: hsmKeyAttestations,
  });
}
