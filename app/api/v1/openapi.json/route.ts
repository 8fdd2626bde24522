// GET /api/v1/openapi.json: the HTTP API's OpenAPI 3.1 document, generated from the handlers' zod schemas.
import { openApiDocument } from "@/server/service-accounts/openapi";

export const dynamic = "force-static";

export function GET(): Response {
  return Response.json(openApiDocument(), { headers: { "Cache-Control": "public, max-age=300" } });
}
