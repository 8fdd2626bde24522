// A server process cut short, for the kill -9 tests (kill.integration.test.ts, scripts/soak-executor.mjs): it
// claims one approved operation (committed), then, by its first argument,
//   after-claim: stops there;  after-hsm: also runs the kind's HSM step;  run: executes it to the end —
// printing one line per stage and then waiting to be killed (`run` exits when done). The parent kills it with
// SIGKILL at a stage or at a random moment, then recovers in its own process.
// Database from KW_CHILD_DATABASE_URL (PostgreSQL) or KW_CHILD_PGLITE (a folder); HSM from the inherited env.
import { applyAllowListUpdate } from "@/server/allowlists/store";
import { networkOf } from "@/server/chains/config";
import { chainConfig } from "@/server/chains/current";
import type { Chain } from "@/server/custody/types";
import { openDatabase } from "@/db/client";
import { withdrawalSteps } from "@/server/withdrawals/steps";
import { buildHsmWorkers } from "../../../../scripts/build-hsm-worker.mjs";
import {
  keyOf,
  keyStateOf,
  activateKey,
  recordCreatedKey,
  recordRotatedKey,
  recordSuccessorOfRestrictedKey,
  resumeKey,
  revokeKey,
  scheduleKeyDestruction,
} from "../keys";
import { claimApproved } from "../claim";
import { executeClaimed } from "../execute";
import { operationKind } from "../../kinds";
import { freezeStateOf, liftFreeze } from "../../freeze";
import * as signer from "@/server/hsm/signer";
import { backupSteps } from "@/server/backups/steps";
import {
  applyPolicyUpdate,
  lockForPolicyUpdate,
  policyUpdateRefusal,
} from "@/server/governance/policy-update-apply";
import { membershipSteps } from "@/server/members/membership-steps";

// In a shared checkout a worker source may change mid-run, and the pool refuses a stale build: rebuild first
// (cheap when nothing changed), as vitest's setup does for test processes.
buildHsmWorkers();
const stage = process.argv[2] ?? "after-claim";
const url = process.env.KW_CHILD_DATABASE_URL;
const folder = process.env.KW_CHILD_PGLITE;
const database = url
  ? await openDatabase({ engine: "postgres", url })
  : await openDatabase({ engine: "pglite", folder: folder ?? "memory://" });
const clock = () => new Date();
process.stdout.write("ready\n");

const op = await claimApproved(database.db, clock());
if (op === null) {
  process.stdout.write("none\n");
  process.exit(3);
}
process.stdout.write(`claimed ${op.id}\n`);
if (stage === "run") {
  const outcome = await executeClaimed({ db: database.db, clock }, op);
  process.stdout.write(`${outcome.outcome} ${op.id}\n`);
  process.exit(0);
}
if (stage === "after-hsm") {
  const kind = operationKind(op.kind);
  const ctx = {
    signer,
    now: clock(),
    // As the executor says it: the first try of the first claim (the test then kills this child, and the
    // recovery's repeat must search and find what it made).
    firstTry: op.attempts === 1,
    keys: {
      recordCreated: recordCreatedKey,
      activate: activateKey,
      stateOf: (keyId: string) => keyStateOf(database.db, keyId),
      resume: resumeKey,
      get: (keyId: string) => keyOf(database.db, keyId),
      revoke: revokeKey,
      scheduleDestruction: scheduleKeyDestruction,
      recordRotated: recordRotatedKey,
      recordSuccessorOfRestricted: recordSuccessorOfRestrictedKey,
    },
    allowLists: {
      network: (chain: Chain) => networkOf(chainConfig().networks, chain),
      apply: applyAllowListUpdate,
    },
    freezes: { stateOf: (freezeId: string) => freezeStateOf(database.db, freezeId), lift: liftFreeze },
    policies: {
      refusal: (input: Parameters<typeof policyUpdateRefusal>[1]) => policyUpdateRefusal(database.db, input),
      lock: lockForPolicyUpdate,
      apply: applyPolicyUpdate,
    },
    members: membershipSteps(database.db),
    backupSigner: signer,
    backups: backupSteps(database.db),
    withdrawalSigner: signer,
    withdrawals: withdrawalSteps(database.db),
  };
  await kind?.execute?.(ctx, op);
  process.stdout.write(`made ${op.id}\n`);
}
// Waiting to be killed (kill -9: nothing after this line runs, not even exit handlers).
setInterval(() => {}, 60_000);
