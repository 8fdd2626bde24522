// Allow-lists end to end on PGlite and PostgreSQL with real taps: allowlist.update proposed by an operator with
// pasted addresses (checked by each chain's parseAddress and stored canonical), shown as a diff in words,
// approved by two approvers, executed without the HSM (entries and allowlist.updated in the completing
// transaction); bad addresses, duplicates, additions already on and removals not on refused with the field and
// nothing written; a network changed since the proposal fails it; and the judgement reads the lists holding a
// destination (allowListsFor) only when the policy names an allow-list.
import { count, eq } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "@/db/client";
import { allowlistEntries, auditEvents, operations } from "@/db/schema";
import { verifyWholeChain } from "@/server/audit/verify";
import { parseChainConfig } from "@/server/chains/config";
import { installChainConfig } from "@/server/chains/current";
import { AppError } from "@/server/errors";
import { runExecutorRound } from "@/server/operations/executor/run";
import { allowListsFor } from "@/server/operations/judgement";
import { proposeOperation } from "@/server/operations/propose";
import { getOperation } from "@/server/operations/read";
import { approveInTurn } from "@/server/operations/testing/approve";
import { DEFAULT_POLICY } from "@/server/policy/document";
import {
  TEST_WEBAUTHN_CONFIG as config,
  firstAdmin,
  invitedMember,
  type Person,
} from "@/server/testing/identity-fixtures";
import { createTestDatabase, type TestDatabase, testEngines } from "@/server/testing/test-db";
import { allAllowLists, allowListsHolding } from "./store";

const T0 = new Date("2026-12-02T10:00:00.000Z");
const ETH1 = "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf";
const ETH2 = "0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF";
const BTC_REGTEST = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";
const BTC_MAINNET = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4";
const regtest = parseChainConfig({ KEYWARD_BITCOIN_NETWORK: "regtest", KEYWARD_ETHEREUM_CHAIN_ID: "31337" });

async function refusal(p: Promise<unknown>): Promise<AppError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  if (!(e instanceof AppError)) throw new Error(`expected an AppError, got ${String(e)}`);
  return e;
}

beforeAll(() => installChainConfig(regtest));
afterAll(() => installChainConfig(null));

describe.each(testEngines())("allow-lists on %s", (engine) => {
  let database: TestDatabase | undefined;
  afterEach(async () => {
    await database?.drop();
    database = undefined;
    installChainConfig(regtest);
  });

  async function cast() {
    database = await createTestDatabase(engine);
    const db = database.db;
    const ada = await firstAdmin(db, { now: T0 });
    const otto = await invitedMember(db, ada.acting, { now: T0, roles: ["operator"], name: "Otto Operator" });
    const v1 = await invitedMember(db, ada.acting, { now: T0, roles: ["approver"], name: "Vera One" });
    const v2 = await invitedMember(db, ada.acting, { now: T0, roles: ["approver"], name: "Vic Two" });
    return { db, ada, otto, v1, v2 };
  }
  const propose = (db: Db, who: Person, payload: unknown) =>
    proposeOperation(db, { actor: who.acting, kind: "allowlist.update", payload, now: T0 });
  const execute = (db: Db) => runExecutorRound({ db, clock: () => T0 }, { concurrency: 1 });
  async function written(db: Db) {
    const [ops] = await db.select({ n: count() }).from(operations);
    const [entries] = await db.select({ n: count() }).from(allowlistEntries);
    const [events] = await db.select({ n: count() }).from(auditEvents);
    return { operations: ops?.n, entries: entries?.n, events: events?.n };
  }

  it("adds addresses by quorum: canonical, shown as a diff, executed without the HSM with allowlist.updated", async () => {
    const { db, otto, v1, v2 } = await cast();
    const op = await propose(db, otto, {
      list: "exchange-hot",
      chain: "ethereum",
      add: [{ address: ETH1.toLowerCase(), label: "Kraken deposit" }, { address: ` ${ETH2} ` }],
    });
    expect(op.payload).toEqual({
      list: "exchange-hot",
      chain: "ethereum",
      network: "31337",
      add: [{ address: ETH1, label: "Kraken deposit" }, { address: ETH2 }],
      remove: [],
      before: 0,
    });
    const shown = await getOperation(db, { viewer: v1.acting, operationId: op.id, now: T0 });
    expect(shown.display.title).toBe("Change the allow-list “exchange-hot” on Ethereum (chain 31337)");
    expect(shown.display.lines).toEqual([
      { label: "Adds", value: `${ETH1} (Kraken deposit)` },
      { label: "Adds", value: ETH2 },
      {
        label: "Effect",
        value:
          "the list goes from 0 addresses to 2 addresses on Ethereum; rules that name “exchange-hot” judge withdrawals by it from then on",
      },
    ]);
    // Nothing is on the list before the quorum approved and the executor ran.
    expect(await allAllowLists(db)).toEqual([]);
    expect(await approveInTurn(db, config, { operationId: op.id, voters: [v1, v2], now: T0 })).toBe(
      "approved",
    );
    const [outcome] = await execute(db);
    expect(outcome).toMatchObject({ operationId: op.id, outcome: "executed" });
    const lists = await allAllowLists(db);
    expect(lists).toHaveLength(1);
    // Added together: listed in address order.
    expect(lists[0]?.entries.map((e) => [e.address, e.label, e.addedBy])).toEqual([
      [ETH2, null, op.id],
      [ETH1, "Kraken deposit", op.id],
    ]);
    const events = await db.select().from(auditEvents).where(eq(auditEvents.action, "allowlist.updated"));
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      actor: "system",
      subject: "allowlist:exchange-hot",
      data: { operationId: op.id, list: "exchange-hot", chain: "ethereum", added: [ETH2, ETH1], removed: [] },
    });
    expect((await verifyWholeChain(db)).problems).toEqual([]);

    // Then a removal, with the label it had, and the list's size before and after.
    const removal = await propose(db, otto, {
      list: "exchange-hot",
      chain: "ethereum",
      remove: [ETH1.toLowerCase()],
    });
    expect(removal.payload).toMatchObject({
      remove: [{ address: ETH1, label: "Kraken deposit" }],
      before: 2,
    });
    const removalShown = await getOperation(db, { viewer: v1.acting, operationId: removal.id, now: T0 });
    expect(removalShown.display.lines[0]).toEqual({ label: "Removes", value: `${ETH1} (Kraken deposit)` });
    expect(removalShown.display.lines[1]?.value).toMatch(/from 2 addresses to 1 address/);
    await approveInTurn(db, config, { operationId: removal.id, voters: [v1, v2], now: T0 });
    expect((await execute(db))[0]).toMatchObject({ outcome: "executed" });
    expect((await allAllowLists(db))[0]?.entries.map((e) => e.address)).toEqual([ETH2]);
  });

  it("refuses bad addresses, duplicates, additions already on, removals not on, and approvers — writing nothing", async () => {
    const { db, otto, v1, v2 } = await cast();
    const first = await propose(db, otto, {
      list: "cold",
      chain: "bitcoin",
      add: [{ address: BTC_REGTEST }],
    });
    await approveInTurn(db, config, { operationId: first.id, voters: [v1, v2], now: T0 });
    await execute(db);
    const before = await written(db);

    const checksum = await refusal(
      propose(db, otto, { list: "cold", chain: "ethereum", add: [{ address: ETH1.replace("E5F", "e5F") }] }),
    );
    expect(checksum.code).toBe("BAD_INPUT");
    expect(checksum.field).toBe("payload.add.0.address");
    expect(checksum.message).toMatch(/not a valid Ethereum chain 31337 address: .*EIP-55 checksum/);

    const network = await refusal(
      propose(db, otto, { list: "cold", chain: "bitcoin", add: [{ address: BTC_MAINNET }] }),
    );
    expect(network.code).toBe("BAD_INPUT");
    expect(network.message).toMatch(/not a valid Bitcoin regtest address: .*mainnet/);

    const twice = await refusal(
      propose(db, otto, {
        list: "hot",
        chain: "ethereum",
        add: [{ address: ETH1 }, { address: ETH1.toLowerCase() }],
      }),
    );
    expect(twice.field).toBe("payload.add.1.address");
    expect(twice.message).toMatch(/is given twice \(also payload.add.0.address\)/);

    const already = await refusal(
      propose(db, otto, { list: "cold", chain: "bitcoin", add: [{ address: BTC_REGTEST.toUpperCase() }] }),
    );
    expect(already.code).toBe("CONFLICT");
    expect(already.message).toMatch(/is already on the allow-list cold on Bitcoin regtest/);

    const notOn = await refusal(propose(db, otto, { list: "cold", chain: "ethereum", remove: [ETH2] }));
    expect(notOn.code).toBe("CONFLICT");
    expect(notOn.field).toBe("payload.remove.0");

    const empty = await refusal(propose(db, otto, { list: "cold", chain: "ethereum" }));
    expect(empty.message).toMatch(/Add or remove at least one address/);
    const badName = await refusal(
      propose(db, otto, { list: "Cold List", chain: "ethereum", add: [{ address: ETH1 }] }),
    );
    expect(badName.message).toMatch(/Allow-list names use lower-case letters/);

    const approver = await refusal(
      propose(db, v1, { list: "cold", chain: "ethereum", add: [{ address: ETH1 }] }),
    );
    expect(approver.code).toBe("FORBIDDEN");

    expect(await written(db)).toEqual(before);
  });

  it("fails the operation when Keyward's network changed since the addresses were checked", async () => {
    const { db, otto, v1, v2 } = await cast();
    const op = await propose(db, otto, { list: "cold", chain: "bitcoin", add: [{ address: BTC_REGTEST }] });
    await approveInTurn(db, config, { operationId: op.id, voters: [v1, v2], now: T0 });
    installChainConfig(parseChainConfig({ KEYWARD_BITCOIN_NETWORK: "mainnet" }));
    const [outcome] = await execute(db);
    expect(outcome).toMatchObject({ operationId: op.id, outcome: "failed" });
    expect(outcome && "reason" in outcome ? outcome.reason : "").toMatch(
      /checked for Bitcoin \(regtest\), but Keyward now runs on Bitcoin \(mainnet\)/,
    );
    const [row] = await db.select().from(operations).where(eq(operations.id, op.id));
    expect(row?.state).toBe("failed");
    expect(await allAllowLists(db)).toEqual([]);
  });

  it("the judgement reads the lists holding the destination, only when the policy names an allow-list", async () => {
    const { db, otto, v1, v2 } = await cast();
    for (const list of ["exchange-hot", "partners"]) {
      const op = await propose(db, otto, { list, chain: "ethereum", add: [{ address: ETH1 }] });
      await approveInTurn(db, config, { operationId: op.id, voters: [v1, v2], now: T0 });
    }
    await execute(db);
    expect(await allowListsHolding(db, "ethereum", ETH1)).toEqual({
      "exchange-hot": [{ chain: "ethereum", address: ETH1 }],
      partners: [{ chain: "ethereum", address: ETH1 }],
    });
    expect(await allowListsHolding(db, "ethereum", ETH2)).toEqual({});
    expect(await allowListsHolding(db, "solana", ETH1)).toEqual({});
    const naming = {
      ...DEFAULT_POLICY,
      rules: [
        {
          id: "to-exchange",
          description: "to the exchange",
          match: { kinds: ["withdrawal"], destination: { onAllowList: "exchange-hot" } },
          require: [{ group: "approvers", approvals: 1 }],
        },
      ],
    };
    expect(await allowListsFor(db, naming, { chain: "ethereum", destination: ETH1 })).toHaveProperty(
      "exchange-hot",
    );
    // A policy naming no allow-list, or an operation without a destination: nothing read.
    expect(await allowListsFor(db, DEFAULT_POLICY, { chain: "ethereum", destination: ETH1 })).toEqual({});
    expect(await allowListsFor(db, naming, { chain: "ethereum" })).toEqual({});
  });
});
