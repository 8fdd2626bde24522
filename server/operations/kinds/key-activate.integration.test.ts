// Lives under server/operations/ because it signs through the executor (the HSM boundary lets only it sign).
// Pre-activation and key.activate on PGlite and PostgreSQL, with a real SoftHSM token, real taps and litesvm:
// key.create with preActivation makes the key (and a batch's keys) in pre-activation — in the HSM, its address
// known and funded ahead of time, but no signing path accepts it (key guard, withdrawal key, withdrawal
// proposal); key.activate by two approvals makes it active, and a withdrawal from it is then signed and accepted
// by litesvm. Proposing key.activate for a key not in pre-activation is refused, nothing written; a repeat after
// it ran is done (one key.activated); the rule in force matches key.activate by kind and tags. From
// pre-activation: suspend is refused, revoke makes it compromised, destroy deactivates it for the waiting period,
// a cancelled destruction returns it to pre-activation, and the job destroys it on the token.
import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditEvents, jobs, keys, operations, withdrawals } from "@/db/schema";
import { verifyWholeChain } from "@/server/audit/verify";
import type { ChainConfig } from "@/server/chains/config";
import { installChainConfig } from "@/server/chains/current";
import { installChainClients } from "@/server/chains/registry";
import { addressOn } from "@/server/custody/addresses";
import { NATIVE_ASSETS } from "@/server/custody/assets";
import { createTestSolana, type TestSolana } from "@/server/custody/testing/svm";
import { AppError } from "@/server/errors";
import * as signerFacade from "@/server/hsm/signer";
import { createTestToken, type TestToken } from "@/server/hsm/testing/test-token";
import { DEFAULT_POLICY } from "@/server/policy/document";
import {
  TEST_WEBAUTHN_CONFIG as config,
  firstAdmin,
  invitedMember,
  type Person,
} from "@/server/testing/identity-fixtures";
import { createTestDatabase, type TestDatabase, testEngines } from "@/server/testing/test-db";
import { requireWithdrawalKey } from "@/server/withdrawals/withdrawal-key";
import { batchInProcess } from "../executor/batch";
import { activateKey } from "../executor/keys";
import { runExecutorRound } from "../executor/run";
import { useTokenForServer } from "../executor/testing/fixtures";
import { beginCancelDestruction, cancelDestruction, runKeyDestruction } from "../key-destruction";
import { KeyNotActiveError, requireActiveKey } from "../key-guard";
import { updatePolicy } from "../policy-store";
import { proposeOperation } from "../propose";
import { keyLifecycleStatus } from "../key-lifecycle-status";
import { getOperation, openOperationsOnKey } from "../read";
import { beginSuspendKey, RestrictionRefusedError } from "../restrict";
import { approveInTurn } from "../testing/approve";

let token: TestToken;
let server: ReturnType<typeof useTokenForServer>;
let sol: TestSolana;

beforeAll(async () => {
  token = createTestToken("kw-activate");
  server = useTokenForServer(token);
  sol = createTestSolana();
  installChainClients({ ethereum: null, solana: sol.client });
}, 60_000);

afterAll(async () => {
  installChainClients(null);
  installChainConfig(null);
  await server.close();
  token.cleanup();
});

const SOL = 10n ** 9n;

describe.each(testEngines())("pre-activation and key.activate on %s", (engine) => {
  let database: TestDatabase;
  let admin: Person;
  let operator: Person;
  let alice: Person;
  let bob: Person;
  let carol: Person;
  let chains: ChainConfig;
  let now = new Date("2027-05-03T10:00:00.000Z");
  const clock = () => now;
  const noWait = { attempts: 3, backoffMs: 0, maxBackoffMs: 0 };

  beforeAll(async () => {
    database = await createTestDatabase(engine);
    admin = await firstAdmin(database.db, { now });
    operator = await invitedMember(database.db, admin.acting, { now, roles: ["operator"] });
    alice = await invitedMember(database.db, admin.acting, { now, roles: ["approver"] });
    bob = await invitedMember(database.db, admin.acting, { now, roles: ["approver"] });
    carol = await invitedMember(database.db, admin.acting, { now, roles: ["approver"] });
    chains = {
      networks: { bitcoin: "regtest", ethereum: { chainId: 31337 }, solana: "localnet" },
      rpc: { ethereum: null, solana: null },
      confirmations: { ethereum: 1, solana: 1 },
      assets: [NATIVE_ASSETS.bitcoin, NATIVE_ASSETS.ethereum, NATIVE_ASSETS.solana],
      assetsSource: "test",
    };
    installChainConfig(chains);
    // Key activations of keys tagged cold need three approvals; every other operation the default two.
    await updatePolicy(database.db, {
      actor: admin.acting,
      document: {
        ...DEFAULT_POLICY,
        rules: [
          {
            id: "activate-cold",
            description: "Activating a cold key: three approvals",
            match: { kinds: ["key.activate"], keyTags: ["cold"] },
            require: [{ group: "approvers", approvals: 3 }],
          },
        ],
      },
      now,
    });
  }, 120_000);

  afterAll(async () => {
    await database.drop();
  });

  const propose = (kind: string, payload: unknown) =>
    proposeOperation(database.db, { actor: operator.acting, kind, payload, now });
  const approve = (operationId: string, voters: Person[] = [alice, bob]) =>
    approveInTurn(database.db, config, { operationId, voters, now });
  const execute = () => runExecutorRound({ db: database.db, clock, retry: noWait }, { concurrency: 1 });

  async function opRow(id: string) {
    const [row] = await database.db.select().from(operations).where(eq(operations.id, id));
    if (!row) throw new Error("no operation");
    return row;
  }

  async function keyRow(keyId: string) {
    const [row] = await database.db.select().from(keys).where(eq(keys.id, keyId));
    if (!row) throw new Error("no key");
    return row;
  }

  async function keyEvents(keyId: string, action: string) {
    return database.db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.subject, `key:${keyId}`), eq(auditEvents.action, action)));
  }

  /** Proposed, approved by two, executed: the keys rows it made. */
  async function created(payload: Record<string, unknown>) {
    const op = await propose("key.create", {
      curve: "ed25519",
      tags: ["hot"],
      exportable: "never",
      ...payload,
    });
    expect(await approve(op.id)).toBe("approved");
    const outcomes = await execute();
    if (outcomes.some((o) => o.operationId === op.id && o.outcome === "running")) await batchInProcess(op.id);
    expect((await opRow(op.id)).state).toBe("executed");
    return database.db.select().from(keys).where(eq(keys.operationId, op.id)).orderBy(keys.batchIndex);
  }

  async function preActivated(label: string, tags: string[] = ["hot"]) {
    const [row] = await created({ label, tags, preActivation: true });
    if (row === undefined) throw new Error("no key made");
    return row;
  }

  async function refusal(p: Promise<unknown>): Promise<AppError> {
    try {
      await p;
    } catch (e) {
      if (e instanceof AppError) return e;
      throw e;
    }
    throw new Error("expected a refusal");
  }

  /** Operations and audit events stored: a refused proposal changes neither. */
  async function written() {
    return {
      operations: (await database.db.select({ id: operations.id }).from(operations)).length,
      events: (await database.db.select({ id: auditEvents.id }).from(auditEvents)).length,
    };
  }

  async function chainIntact() {
    expect((await verifyWholeChain(database.db)).problems).toEqual([]);
  }

  it("makes the key in pre-activation: in the HSM, its address funded ahead of time, but nothing signs with it; two approvals activate it and it signs", async () => {
    const key = await preActivated(`vault ${engine}`);
    expect(key.state).toBe("pre-activation");
    expect(await signerFacade.findKey(key.hsmRef)).not.toBeNull();
    const [made] = await keyEvents(key.id, "key.created");
    expect(made?.data).toMatchObject({ keyId: key.id, state: "pre-activation", publicKey: key.publicKey });

    // Its address is known and can receive before activation.
    const from = addressOn(key, "solana", chains.networks) ?? "";
    expect(from).not.toBe("");
    sol.airdrop(from, 3n * SOL);
    expect(await sol.client.balance(from, NATIVE_ASSETS.solana)).toBe(3n * SOL);

    // No signing path accepts it.
    await expect(requireActiveKey(database.db, key.id)).rejects.toBeInstanceOf(KeyNotActiveError);
    await expect(requireActiveKey(database.db, key.id)).rejects.toThrow(
      "is in pre-activation: it cannot sign until a key.activate operation is approved",
    );
    // One litesvm serves both engines: a destination of each engine's own.
    const other = (engine === "pglite" ? "11" : "22").repeat(32);
    const dest = addressOn({ curve: "ed25519", publicKey: other }, "solana", chains.networks) ?? "";
    await expect(
      requireWithdrawalKey(database.db, {
        keyId: key.id,
        chain: "solana",
        destination: dest,
        networks: chains.networks,
      }),
    ).rejects.toBeInstanceOf(KeyNotActiveError);
    const withdrawal = {
      keyId: key.id,
      chain: "solana",
      asset: "SOL",
      amount: "1",
      destination: dest,
      feeCap: "0.00001",
    };
    const before = await written();
    const refused = await refusal(propose("withdrawal", withdrawal));
    expect(refused.code).toBe("CONFLICT");
    expect(refused.message).toContain("is pre-activation; this operation needs it active or deactivated");
    expect(await written()).toEqual(before);

    // key.activate: shown in words, two approvals (the default rule: the key is not tagged cold).
    const op = await propose("key.activate", { keyId: key.id });
    expect(op.ruleId).toBe("default");
    expect(op.payload).toEqual({
      keyId: key.id,
      label: key.label,
      tags: ["hot"],
      curve: "ed25519",
      publicKey: key.publicKey,
    });
    // The key page sees it open (and so offers no second activation).
    const status = await keyLifecycleStatus(database.db, key.id);
    expect(status.openOperations.map((o) => o.kind)).toEqual(["key.activate"]);
    const onKey = await openOperationsOnKey(database.db, { viewer: alice.acting, keyId: key.id, now });
    expect(onKey.map((o) => o.id)).toEqual([op.id]);
    const shown = await getOperation(database.db, { viewer: alice.acting, operationId: op.id, now });
    expect(shown.display.title).toBe(`Activate the key “${key.label}”`);
    expect(await approve(op.id)).toBe("approved");
    await execute();
    expect((await opRow(op.id)).state).toBe("executed");
    expect((await keyRow(key.id)).state).toBe("active");
    const activated = await keyEvents(key.id, "key.activated");
    expect(activated.map((e) => e.data)).toEqual([{ keyId: key.id, operationId: op.id }]);
    expect((await requireActiveKey(database.db, key.id)).state).toBe("active");

    // Now it signs: a withdrawal from the pre-funded address, signed by the HSM, accepted by litesvm.
    const w = await propose("withdrawal", withdrawal);
    expect(await approve(w.id)).toBe("approved");
    await execute();
    expect((await opRow(w.id)).state).toBe("executed");
    const [signed] = await database.db
      .select()
      .from(auditEvents)
      .where(eq(auditEvents.action, "withdrawal.signed"));
    expect(signed?.data).toMatchObject({ operationId: w.id });
    const [row] = await database.db.select().from(withdrawals).where(eq(withdrawals.operationId, w.id));
    expect(row?.state).toBe("signed");
    await sol.client.broadcast(row?.raw ?? "");
    expect(await sol.client.balance(dest, NATIVE_ASSETS.solana)).toBe(SOL);
    await chainIntact();
  });

  it("refuses key.activate for a key not in pre-activation, naming its state, with nothing written", async () => {
    const [active] = await created({ label: `already active ${engine}` });
    if (active === undefined) throw new Error("no key made");
    expect(active.state).toBe("active");
    const before = await written();
    const refused = await refusal(propose("key.activate", { keyId: active.id }));
    expect(refused.code).toBe("CONFLICT");
    expect(refused.message).toContain("is active; this operation needs it pre-activation");
    const missing = await refusal(propose("key.activate", { keyId: "00000000-0000-4000-8000-000000000000" }));
    expect(missing.code).toBe("NOT_FOUND");
    const bad = await refusal(propose("key.activate", { keyId: active.id, label: "x" }));
    expect(bad.code).toBe("BAD_INPUT");
    expect(await written()).toEqual(before);
  });

  it("counts a repeat as done: two approved activations of one key, and the record run again, write one key.activated", async () => {
    const key = await preActivated(`twice ${engine}`);
    const first = await propose("key.activate", { keyId: key.id });
    const second = await propose("key.activate", { keyId: key.id });
    await approve(first.id);
    await approve(second.id);
    await execute();
    expect((await opRow(first.id)).state).toBe("executed");
    expect((await opRow(second.id)).state).toBe("executed");
    expect(await keyEvents(key.id, "key.activated")).toHaveLength(1);
    // The completing transaction's record repeated after it committed: already active, nothing more written.
    const again = await database.db.transaction((tx) =>
      activateKey(tx, { keyId: key.id, operationId: first.id }, now),
    );
    expect(again).toBe("already-active");
    expect(await keyEvents(key.id, "key.activated")).toHaveLength(1);
    await chainIntact();
  });

  it("makes a batch's keys in pre-activation, and judges key.activate by its kind and the key's tags", async () => {
    const batch = await created({
      label: `cold-${engine}-{n}`,
      tags: ["cold"],
      preActivation: true,
      batch: { count: 3, first: 1 },
    });
    expect(batch.map((k) => k.state)).toEqual(["pre-activation", "pre-activation", "pre-activation"]);
    for (const k of batch) {
      await expect(requireActiveKey(database.db, k.id)).rejects.toBeInstanceOf(KeyNotActiveError);
    }
    const key = batch[1];
    if (key === undefined) throw new Error("no key");
    const op = await propose("key.activate", { keyId: key.id });
    expect(op.ruleId).toBe("activate-cold");
    expect(await approve(op.id)).toBe("pending");
    await execute();
    expect((await keyRow(key.id)).state).toBe("pre-activation");
    expect(await approve(op.id, [carol])).toBe("approved");
    await execute();
    expect((await keyRow(key.id)).state).toBe("active");
    expect((await keyRow(batch[0]?.id ?? "")).state).toBe("pre-activation");
  });

  it("from pre-activation: suspend is refused, revoke makes it compromised and never active", async () => {
    const key = await preActivated(`revoked early ${engine}`);
    const suspended = await refusal(
      beginSuspendKey(database.db, config, { actor: alice.acting, keyId: key.id, now }),
    );
    expect(suspended).toBeInstanceOf(RestrictionRefusedError);
    const activation = await propose("key.activate", { keyId: key.id });
    const revoke = await propose("key.revoke", { keyId: key.id, reason: "the ceremony laptop was lost" });
    await approve(revoke.id);
    await execute();
    expect((await keyRow(key.id)).state).toBe("compromised");
    const [revoked] = await keyEvents(key.id, "key.revoked");
    expect(revoked?.data).toMatchObject({ previousState: "pre-activation" });
    // An activation proposed before the revocation fails when carried out; a new one is refused.
    await approve(activation.id);
    await execute();
    const failed = await opRow(activation.id);
    expect(failed.state).toBe("failed");
    expect(failed.failure).toContain("compromised");
    expect((await keyRow(key.id)).state).toBe("compromised");
    expect((await refusal(propose("key.activate", { keyId: key.id }))).code).toBe("CONFLICT");
  });

  it("from pre-activation: destroy deactivates it for the waiting period; cancelled it returns to pre-activation; the job destroys it", async () => {
    const kept = await preActivated(`destroy cancelled ${engine}`);
    const destroy = await propose("key.destroy", { keyId: kept.id });
    await approve(destroy.id);
    await execute();
    expect(await keyRow(kept.id)).toMatchObject({ state: "deactivated" });
    expect((await keyRow(kept.id)).destroyAfter).not.toBeNull();
    // Not activated while its destruction waits.
    expect((await refusal(propose("key.activate", { keyId: kept.id }))).code).toBe("CONFLICT");
    const begun = await beginCancelDestruction(database.db, config, {
      actor: carol.acting,
      keyId: kept.id,
      now,
    });
    const cancelled = await cancelDestruction(database.db, config, {
      actor: carol.acting,
      keyId: kept.id,
      response: carol.token.authenticate(begun.options),
      now,
    });
    expect(cancelled.state).toBe("pre-activation");
    expect(await keyRow(kept.id)).toMatchObject({ state: "pre-activation", destroyAfter: null });
    await expect(requireActiveKey(database.db, kept.id)).rejects.toBeInstanceOf(KeyNotActiveError);

    const gone = await preActivated(`destroyed ${engine}`);
    const op = await propose("key.destroy", { keyId: gone.id });
    await approve(op.id);
    await execute();
    const [job] = await database.db
      .select()
      .from(jobs)
      .where(and(eq(jobs.kind, "key.destroy"), eq(jobs.subject, `key:${gone.id}`)));
    if (job === undefined) throw new Error("no key.destroy job");
    now = new Date(now.getTime() + 8 * 86_400_000);
    const outcome = await runKeyDestruction({ db: database.db, now: clock }, job);
    expect(outcome.outcome).toBe("destroyed");
    expect((await keyRow(gone.id)).state).toBe("destroyed");
    expect(await signerFacade.findKey(gone.hsmRef)).toBeNull();
    await chainIntact();
  });
});
