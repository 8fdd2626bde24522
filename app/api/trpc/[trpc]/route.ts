import { requestContext } from "@/server/api/request-context";
import { handleTrpcRequest } from "@/server/edge/trpc-handler";
import { env } from "@/server/env";

export const dynamic = "force-dynamic";

const handler = (request: Request) =>
  handleTrpcRequest(request, { origin: env().origin, createContext: (r) => requestContext(r.headers) });

export { handler as GET, handler as POST };
