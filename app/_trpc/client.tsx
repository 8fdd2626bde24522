"use client";
// tRPC for client components: TanStack Query with the typed options proxy. Queries and mutations go batched
// over HTTP; subscriptions (the pages' live updates) over Server-Sent Events, one stream per subscription,
// reconnecting by themselves with the id of the last snapshot they hold (server/live/). The server pings an idle
// stream and tells this link, in each stream's first event, to drop and reopen one that carried nothing — not
// even a ping — for a while (server/live/keep-alive.ts): a stream a proxy cut silently is then reopened, and
// reopening re-checks the session, so a signed-out person's page stops following instead of hanging.
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { createTRPCClient, httpBatchLink, httpSubscriptionLink, splitLink } from "@trpc/client";
import { createTRPCContext } from "@trpc/tanstack-react-query";
import { type ReactNode, useState } from "react";
import superjson from "superjson";
import type { AppRouter } from "@/server/api/root";

export const { TRPCProvider, useTRPC } = createTRPCContext<AppRouter>();

export function Providers({ children }: { children: ReactNode }) {
  const [queryClient] = useState(
    () => new QueryClient({ defaultOptions: { queries: { staleTime: 5_000, retry: false } } }),
  );
  const [trpcClient] = useState(() =>
    createTRPCClient<AppRouter>({
      links: [
        splitLink({
          condition: (op) => op.type === "subscription",
          true: httpSubscriptionLink({ url: "/api/trpc", transformer: superjson }),
          // maxItems: the server refuses a batch of more than 10 calls (server/edge/trpc-handler.ts MAX_BATCH).
          false: httpBatchLink({ url: "/api/trpc", transformer: superjson, maxItems: 10 }),
        }),
      ],
    }),
  );
  return (
    <QueryClientProvider client={queryClient}>
      <TRPCProvider trpcClient={trpcClient} queryClient={queryClient}>
        {children}
      </TRPCProvider>
    </QueryClientProvider>
  );
}
