// The appRouter: one router per domain.
import "server-only";
import { allowlistsRouter } from "./routers/allowlists";
import { auditRouter } from "./routers/audit";
import { authRouter } from "./routers/auth";
import { backupsRouter } from "./routers/backups";
import { governanceRouter } from "./routers/governance";
import { invitationsRouter } from "./routers/invitations";
import { keyLifecycleRouter } from "./routers/key-lifecycle";
import { keysRouter } from "./routers/keys";
import { membersRouter } from "./routers/members";
import { notificationsRouter } from "./routers/notifications";
import { operationsRouter } from "./routers/operations";
import { policyRouter } from "./routers/policy";
import { restrictionsRouter } from "./routers/restrictions";
import { serviceAccountsRouter } from "./routers/service-accounts";
import { setupRouter } from "./routers/setup";
import { statusRouter } from "./routers/status";
import { tokensRouter } from "./routers/tokens";
import { withdrawalsRouter } from "./routers/withdrawals";
import { createCallerFactory, createTRPCRouter } from "./trpc";

export const appRouter = createTRPCRouter({
  setup: setupRouter,
  auth: authRouter,
  invitations: invitationsRouter,
  members: membersRouter,
  tokens: tokensRouter,
  audit: auditRouter,
  status: statusRouter,
  operations: operationsRouter,
  policy: policyRouter,
  keys: keysRouter,
  keyLifecycle: keyLifecycleRouter,
  restrictions: restrictionsRouter,
  backups: backupsRouter,
  governance: governanceRouter,
  notifications: notificationsRouter,
  serviceAccounts: serviceAccountsRouter,
  withdrawals: withdrawalsRouter,
  allowlists: allowlistsRouter,
});

export type AppRouter = typeof appRouter;
export const createCaller = createCallerFactory(appRouter);
