// POST /api/v1/withdrawals: a service account proposes a withdrawal (server/service-accounts/http.ts).
import { postWithdrawal } from "@/server/service-accounts/http";
import { apiDeps } from "@/server/service-accounts/server-deps";

export const dynamic = "force-dynamic";

export async function POST(request: Request): Promise<Response> {
  return postWithdrawal(request, await apiDeps());
}
