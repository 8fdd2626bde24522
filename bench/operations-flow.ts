// The quorum parts of bench/operations.ts, through the same domain functions the API calls: one operation end
// to end (propose → two votes, each beginVote + a real WebAuthn assertion from a software authenticator +
// completeVote → the executor's claim and execute step → every audit event on the way), run in closed-loop
// lanes; and vote latency with many voters completing at once. Nothing here writes around the domain code.
import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import type { Db } from "@/db/client";
import { claimApproved } from "@/server/operations/executor/claim";
import { executeClaimed } from "@/server/operations/executor/execute";
import { faultySigner } from "@/server/operations/executor/testing/fixtures";
import type { OperationSigner } from "@/server/operations/executor/types";
import { proposeOperation } from "@/server/operations/propose";
import { beginVote, completeVote } from "@/server/operations/vote";
import { TEST_WEBAUTHN_CONFIG as config, type Person } from "@/server/testing/identity-fixtures";
import { median, percentile } from "./measure";
import type { WaitSamples } from "./operations-db";
import { ALL_VOTERS_TAG, type People } from "./operations-people";

export type FlowKind = "p256" | "secp256k1" | "resume";
export const STEPS = ["propose", "beginVote", "tap", "completeVote", "claim", "hsm", "record"] as const;
export type Step = (typeof STEPS)[number];
export type StepTimes = Record<Step, number[]>;

export const emptySteps = (): StepTimes =>
  Object.fromEntries(STEPS.map((s) => [s, [] as number[]])) as unknown as StepTimes;

/** The real signer facade (faultySigner with no faults passes every call through), timing createKey. */
function timedSigner(took: (ms: number) => void): OperationSigner {
  const real = faultySigner({});
  return {
    findKey: real.findKey,
    operationKeyRef: real.operationKeyRef,
    createKey: async (options) => {
      const start = performance.now();
      try {
        return await real.createKey(options);
      } finally {
        took(performance.now() - start);
      }
    },
  };
}

/**
 * Suspended keys for key.resume operations, inserted straight into the table: key.resume never touches the
 * HSM, so these rows need no HSM object; the operation's own path (propose reads the key, execute moves it
 * suspended → active with key.resumed) is what is measured.
 */
export async function seedSuspendedKeys(db: Db, count: number): Promise<string[]> {
  const ids = Array.from({ length: count }, () => randomUUID());
  for (let i = 0; i < ids.length; i += 1000) {
    const chunk = ids.slice(i, i + 1000);
    await db.execute(sql`
      INSERT INTO keys (id, label, curve, tags, state, hsm_ref, public_key, exportable)
      SELECT id, 'resume bench', 'secp256k1', ARRAY['bench'], 'suspended', md5(id::text), '02' || md5(id::text), 'never'
      FROM unnest(${`{${chunk.join(",")}}`}::uuid[]) AS id`);
  }
  return ids;
}

export type FlowContext = {
  db: Db;
  people: People;
  kind: FlowKind;
  /** Keys for key.resume, taken one per operation. */
  suspended: string[];
  steps: StepTimes;
};

async function timedStep<T>(steps: StepTimes, step: Step, work: () => Promise<T>): Promise<T> {
  const start = performance.now();
  try {
    return await work();
  } finally {
    steps[step].push(performance.now() - start);
  }
}

async function vote(ctx: FlowContext, who: Person, operationId: string) {
  const { db, steps } = ctx;
  const begun = await timedStep(steps, "beginVote", () =>
    beginVote(db, config, { voter: who.acting, operationId, decision: "approve", now: new Date() }),
  );
  const start = performance.now();
  const response = who.token.authenticate(begun.options);
  steps.tap.push(performance.now() - start);
  return timedStep(steps, "completeVote", () =>
    completeVote(db, config, {
      voter: who.acting,
      operationId,
      decision: "approve",
      response,
      now: new Date(),
    }),
  );
}

/** One operation from proposal to executed; `voters` are the lane's two approvers (their counters stay in order). */
export async function oneOperation(ctx: FlowContext, voters: [Person, Person], i: number): Promise<void> {
  const { db, people, steps } = ctx;
  const payload =
    ctx.kind === "resume"
      ? { keyId: ctx.suspended.pop() ?? "" }
      : { label: `bench ${i}`, curve: ctx.kind, tags: ["bench"], exportable: "never" };
  const op = await timedStep(steps, "propose", () =>
    proposeOperation(db, {
      actor: people.operator.acting,
      kind: ctx.kind === "resume" ? "key.resume" : "key.create",
      payload,
      now: new Date(),
    }),
  );
  await vote(ctx, voters[0], op.id);
  const second = await vote(ctx, voters[1], op.id);
  if (second.state !== "approved")
    throw new Error(`operation ${op.id} is ${second.state} after two approvals`);
  const claimed = await timedStep(steps, "claim", () => claimApproved(db, new Date(), op.id));
  if (claimed === null) throw new Error(`operation ${op.id} could not be claimed`);
  let hsm = 0;
  const signer = timedSigner((ms) => {
    hsm += ms;
    steps.hsm.push(ms);
  });
  const start = performance.now();
  const outcome = await executeClaimed({ db, clock: () => new Date(), signer }, claimed);
  if (outcome.outcome !== "executed") throw new Error(`operation ${op.id}: ${JSON.stringify(outcome)}`);
  // The execute step less its HSM call: the recording transaction and the executor's own checks.
  steps.record.push(performance.now() - start - hsm);
}

/** Closed loop: `lanes` lanes each run operations one after another for `seconds`; operations per second. */
export async function runLanes(
  ctx: FlowContext,
  lanes: number,
  seconds: number,
): Promise<{ rate: number; operations: number }> {
  const approvers = ctx.people.approvers;
  if (2 * lanes > approvers.length) throw new Error(`--lanes ${lanes} needs ${2 * lanes} approvers`);
  let next = 0;
  const until = performance.now() + seconds * 1000;
  const start = performance.now();
  const counts = await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      const pair: [Person, Person] = [approvers[2 * lane] as Person, approvers[2 * lane + 1] as Person];
      let done = 0;
      while (performance.now() < until) {
        await oneOperation(ctx, pair, next++);
        done++;
      }
      return done;
    }),
  );
  const operations = counts.reduce((a, b) => a + b, 0);
  return { rate: operations / ((performance.now() - start) / 1000), operations };
}

export type VoteFigure = {
  shape: "one" | "many";
  voters: number;
  operations: number;
  samples: number;
  /** beginVote + the tap + completeVote, per voter, ms. */
  p50Ms: number;
  p99Ms: number;
  /** completeVote alone (assertion verified, vote stored, quorum counted, audit), ms. */
  completeP50Ms: number;
  completeP99Ms: number;
  /** PostgreSQL: what the connections were doing meanwhile (sampled); null on PGlite. */
  waits: WaitSamples | null;
};

/**
 * Every approver votes at once: on one operation that needs all their votes ("one": the last vote approves it),
 * or two approvers to each of voters/2 operations under the default rule ("many": each approved by its second).
 */
export async function voteRound(
  db: Db,
  people: People,
  shape: "one" | "many",
): Promise<{ total: number[]; complete: number[] }> {
  const voters = people.approvers;
  const count = shape === "one" ? 1 : Math.ceil(voters.length / 2);
  const ops: string[] = [];
  for (let i = 0; i < count; i++) {
    const op = await proposeOperation(db, {
      actor: people.operator.acting,
      kind: "key.create",
      payload: {
        label: `vote bench ${i}`,
        curve: "p256",
        tags: shape === "one" ? [ALL_VOTERS_TAG] : ["bench"],
        exportable: "never",
      },
      now: new Date(),
    });
    ops.push(op.id);
  }
  const total: number[] = [];
  const complete: number[] = [];
  const states = await Promise.all(
    voters.map(async (who, v) => {
      const operationId = ops[shape === "one" ? 0 : Math.floor(v / 2)] ?? "";
      const start = performance.now();
      const begun = await beginVote(db, config, {
        voter: who.acting,
        operationId,
        decision: "approve",
        now: new Date(),
      });
      const response = who.token.authenticate(begun.options);
      const tapped = performance.now();
      const out = await completeVote(db, config, {
        voter: who.acting,
        operationId,
        decision: "approve",
        response,
        now: new Date(),
      });
      const end = performance.now();
      total.push(end - start);
      complete.push(end - tapped);
      return out.state;
    }),
  );
  const approved = states.filter((s) => s === "approved").length;
  if (approved !== count) throw new Error(`${approved} of ${count} operations approved after the votes`);
  return { total, complete };
}

export async function voteFigures(
  db: Db,
  people: People,
  rounds: number,
  sampler?: () => Promise<{ stop: () => Promise<WaitSamples> }>,
): Promise<VoteFigure[]> {
  const waits: Record<"one" | "many", WaitSamples | null> = {
    one: sampler ? {} : null,
    many: sampler ? {} : null,
  };
  const samples = {
    one: { total: [] as number[], complete: [] as number[] },
    many: { total: [] as number[], complete: [] as number[] },
  };
  for (let round = 0; round < rounds; round++) {
    // Alternating which shape goes first: the machine's speed drifts.
    const order: ("one" | "many")[] = round % 2 === 0 ? ["one", "many"] : ["many", "one"];
    for (const shape of order) {
      const sampling = await sampler?.();
      const { total, complete } = await voteRound(db, people, shape);
      const seen = await sampling?.stop();
      const into = waits[shape];
      if (seen && into) for (const [k, n] of Object.entries(seen)) into[k] = (into[k] ?? 0) + n;
      samples[shape].total.push(...total);
      samples[shape].complete.push(...complete);
    }
  }
  const voters = people.approvers.length;
  return (["one", "many"] as const).map((shape) => ({
    shape,
    voters,
    operations: shape === "one" ? 1 : Math.ceil(voters / 2),
    samples: samples[shape].total.length,
    p50Ms: median(samples[shape].total),
    p99Ms: percentile(samples[shape].total, 99),
    completeP50Ms: median(samples[shape].complete),
    completeP99Ms: percentile(samples[shape].complete, 99),
    waits: waits[shape],
  }));
}
