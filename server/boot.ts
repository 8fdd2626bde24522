// What the server does once when it starts: open and migrate the database, and while nobody is admin yet,
// print a fresh one-time setup code. On SIGTERM/SIGINT it lets HSM calls in flight finish, ends the HSM
// worker threads, then closes the database cleanly (PGlite needs it). A refusal at start-up (configuration,
// a data folder another server owns) ends the process with its one-line reason: a server that could not
// boot must not go on answering requests.
import "server-only";
import { DataFolderInUseError } from "@/db/lock";
import { startCheckpointTimer } from "@/server/audit/checkpoints";
import { integrateAudit, startIntegrationTimer } from "@/server/audit/integrate";
import { verifyWholeChain } from "@/server/audit/verify";
import { pruneChallenges } from "@/server/auth/challenges";
import { summariseSignInFailures } from "@/server/auth/failure-events";
import { hasAdmin, issueSetupCode } from "@/server/auth/setup-code";
import { closeDatabase, database } from "@/server/db";
import { installClientAddressHook } from "@/server/edge/client-address";
import { closeServerRateLimits, serverRateLimits } from "@/server/edge/server-limits";
import { ConfigError, env } from "@/server/env";
import { checkUnwrapGuards, closeHsm, closeServerTokenSet, unwrapGuardLine } from "@/server/hsm";
import { closeLiveWatchers } from "@/server/live/audit-head";
import { startNotifier } from "@/server/notify/notifier";
import { DEFAULT_LEASE } from "@/server/operations/executor/claim";
import { recoverExecuting } from "@/server/operations/executor/recover";
import { ensurePolicySeeded } from "@/server/operations/policy-store";
import { type Scheduler, startScheduler } from "@/server/operations/scheduler/scheduler";
import { systemClock } from "./clock";

export async function boot(): Promise<void> {
  const config = env();
  // Before the first request: rate limits must never key on an address the client wrote itself.
  installClientAddressHook(config.trustProxyHops);
  const { db, engine } = await database();
  await serverRateLimits();
  console.log(
    `Keyward: database ready (${engine === "pglite" ? `PGlite in ${config.dataDir}/pglite` : "PostgreSQL"}).`,
  );
  // Setup seeds the default policy with the first admin; an installation set up before policies existed
  // gets it here, so operations always have a version in force to be judged under.
  if (await hasAdmin(db)) await ensurePolicySeeded(db, new Date());
  const issued = await issueSetupCode(db, { now: new Date(), ttlMs: config.setupCodeMs });
  if (issued) {
    const minutes = Math.round(config.setupCodeMs / 60_000);
    console.log(
      [
        "",
        "  ┌──────────────────────────────────────────────────────────────┐",
        "  │  Keyward has no admin yet.                                   │",
        `  │  Open ${`${config.origin}/setup`.padEnd(55)}│`,
        `  │  and enter this one-time setup code:  ${issued.code.padEnd(23)}│`,
        `  │  It works once and expires in ${`${minutes} minutes`.padEnd(31)}│`,
        "  │  (restart Keyward to print a new one).                       │",
        "  └──────────────────────────────────────────────────────────────┘",
        `  SETUP CODE: ${issued.code}`,
        "",
      ].join("\n"),
    );
  }
  // Before any key is made: each HSM token must show that the user PIN cannot unwrap a key in plaintext
  // (a token that does not makes no wrapped-only keys; the status page says why). Never stops the boot.
  for (const view of await checkUnwrapGuards()) {
    if (view.wrappedOnly) console.log(`Keyward: ${unwrapGuardLine(view)}`);
    else console.error(`Keyward: ${unwrapGuardLine(view)}`);
  }
  // Events a process staged but did not live to seal (it died between its commit and its integration round)
  // join the chain first; from now on a timer seals any left behind, though each commit normally seals its own.
  const integrated = await integrateAudit(db);
  if (integrated.sequenced > 0)
    console.log(`Keyward: sealed ${integrated.sequenced} audit event(s) left staged.`);
  const stopIntegrationTimer = startIntegrationTimer(db);
  // Tree heads are signed in the HSM by the audit key as the log grows, and served publicly
  // (server/audit/checkpoints.ts, /api/v1/audit/checkpoint).
  const stopCheckpointTimer = startCheckpointTimer(db, config.audit);
  // The status page then checks only what is appended after this point (server/audit/verify.ts).
  const chain = await verifyWholeChain(db);
  if (chain.problems.length === 0) console.log(`Keyward: audit trail verified (${chain.events} events).`);
  else
    console.error(
      `Keyward: AUDIT TRAIL BROKEN at ${chain.problems.map((p) => `#${p.seq} (${p.problem})`).join(", ")}`,
    );
  // Unused challenges pile up (anyone may ask for a sign-in challenge); drop them an hour after they expire.
  const prune = () =>
    pruneChallenges(db, new Date(Date.now() - 3_600_000)).catch((e: unknown) =>
      console.error("Keyward: pruning expired challenges failed", e),
    );
  await prune();
  setInterval(prune, 3_600_000).unref();
  // Repeated anonymous failures are counted, not audited one by one; each closed minute's counts reach the
  // trail at the next failure or sign-in, and at the latest within a minute from here when all goes quiet.
  setInterval(() => {
    summariseSignInFailures(db, new Date()).catch((e: unknown) =>
      console.error("Keyward: summarising sign-in failures failed", e),
    );
  }, 60_000).unref();
  // Operations a dead process left executing are finished by repeating their step (it finds what was made).
  // On PGlite the folder lock proves no other process holds a claim, so all of them; on PostgreSQL only claims
  // past their lease (other servers may be executing the rest; the execute sweep takes them once due).
  const lease = engine === "pglite" ? { ms: 0, maxMs: 0 } : DEFAULT_LEASE;
  try {
    const recovered = await recoverExecuting({ db, clock: systemClock }, lease);
    if (recovered.length > 0) {
      const count = (o: string) => recovered.filter((r) => r.outcome === o).length;
      console.log(
        `Keyward: recovered ${recovered.length} operation(s) left executing: ${count("executed")} executed, ${count("failed")} failed, ${count("unresolved")} still executing (repeated later).`,
      );
    }
  } catch (e) {
    console.error("Keyward: recovering operations left executing failed (the execute sweep retries)", e);
  }
  // Then the scheduler, on every engine: expiry, execution of approved operations, later destroys and rotations.
  const scheduler: Scheduler = startScheduler({ db, clock: systemClock, intervalMs: 1000 });
  // Notifications are derived from the sealed trail and sent on their own timer, outside every operation's
  // transaction: a mail server or webhook endpoint that is down never holds an operation back (server/notify).
  const stopNotifier = startNotifier({ db, clock: systemClock, origin: config.origin, smtp: config.smtp });
  console.log(
    config.smtp
      ? `Keyward: e-mail notifications through ${config.smtp.display}.`
      : "Keyward: e-mail notifications are off (KEYWARD_SMTP_URL is not set); webhooks still run.",
  );
  const shutdown = (signal: NodeJS.Signals) => {
    // Live subscriptions end first: their streams close and their watcher stops reading the database.
    closeLiveWatchers();
    stopIntegrationTimer();
    stopCheckpointTimer();
    stopNotifier();
    // The scheduler first (its tick under way may be an HSM call), then the pools: their threads share the
    // one PKCS#11 library that closeHsm() finalises; the database last.
    scheduler
      .stop()
      .catch((e: unknown) => console.error("Keyward: error while stopping the scheduler", e))
      .then(closeServerTokenSet)
      .then(closeHsm)
      .catch((e: unknown) => console.error("Keyward: error while closing the HSM", e))
      .then(closeServerRateLimits)
      .catch((e: unknown) => console.error("Keyward: error while closing the rate limits", e))
      .then(closeDatabase)
      .catch((e: unknown) => console.error("Keyward: error while closing the database", e))
      .finally(() => process.exit(signal === "SIGINT" ? 130 : 143));
  };
  process.once("SIGTERM", shutdown);
  process.once("SIGINT", shutdown);
}

/** Refusals whose message says everything (what is wrong and what to do): printed alone, without a stack. */
function isStartupRefusal(e: unknown): e is Error {
  return e instanceof DataFolderInUseError || e instanceof ConfigError;
}

/** boot(), and on failure the end of the process: one line for a refusal, the stack for anything else. */
export async function bootOrExit(): Promise<void> {
  try {
    await boot();
  } catch (e) {
    if (isStartupRefusal(e)) console.error(`Keyward: ${e.message}`);
    else console.error("Keyward: start-up failed", e);
    process.exit(1);
  }
}
