// The HTTP side of a report download (app/reports/*/route.ts): 401 without a live session, 400 naming the field
// for a bad period, 403 for a member who is neither admin nor auditor (recorded by export.ts), else the file,
// streamed, never cached. Kept here, apart from the route files, so tests call it with a session of their own.
import "server-only";
import type { Db } from "@/db/client";
import type { SessionMember } from "@/server/auth/sessions";
import { AppError, HTTP_STATUS } from "@/server/errors";
import { exportReport, type ReportKind } from "./export";
import type { AttestKeys, HsmTokenIdentity } from "./period";
import { periodInput } from "./period-input";
import { progressId, trackReport } from "./progress";

const text = (body: string, status: number) =>
  new Response(`${body}\n`, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" },
  });

export async function reportResponse(
  request: Request,
  deps: {
    db: Db;
    session: SessionMember | null;
    kind: ReportKind;
    now: Date;
    hsmTokens?: () => Promise<HsmTokenIdentity[]>;
    hsmKeys?: AttestKeys;
  },
): Promise<Response> {
  const { session, kind } = deps;
  if (session === null) return text("Sign in to download reports.", 401);
  const params = new URL(request.url).searchParams;
  const parsed = periodInput.safeParse({
    from: params.get("from") ?? undefined,
    to: params.get("to") ?? undefined,
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return text(`Bad period: ${issue?.path.join(".") || "period"}: ${issue?.message ?? "invalid"}.`, 400);
  }
  const askedProgress = params.get("progress");
  const progress = askedProgress === null ? null : progressId.safeParse(askedProgress);
  if (progress !== null && !progress.success)
    return text(`Bad progress: ${progress.error.issues[0]?.message ?? "invalid"}.`, 400);
  try {
    const download = await exportReport(deps.db, {
      progress: progress === null ? undefined : trackReport(progress.data, session.member.id),
      who: { id: session.member.id, roles: session.member.roles },
      kind,
      period: parsed.data,
      now: deps.now,
      hsmTokens: deps.hsmTokens,
      hsmKeys: deps.hsmKeys,
    });
    return new Response(download.body, {
      headers: {
        "content-type": download.contentType,
        "content-disposition": `attachment; filename="${download.filename}"`,
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
      },
    });
  } catch (e) {
    if (e instanceof AppError) return text(e.message, HTTP_STATUS[e.code]);
    throw e;
  }
}
