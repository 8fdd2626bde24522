// GET /api/v1/withdrawals/{id}: a withdrawal's status for the service account that proposed it.
import { getWithdrawal } from "@/server/service-accounts/http";
import { apiDeps } from "@/server/service-accounts/server-deps";

export const dynamic = "force-dynamic";

export async function GET(request: Request, context: { params: Promise<{ id: string }> }): Promise<Response> {
  const { id } = await context.params;
  return getWithdrawal(request, id, await apiDeps());
}
