// The inbox's list brings each operation's tally, reasons, the viewer's vote and what they may do in a few
// reads for the whole page: every row agrees with operations.get for the same viewer (a suspended voter's
// vote not counting included); and the operations still open that name a key are found for its page.
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { Db } from "@/db/client";
import { keys } from "@/db/schema";
import { createCaller } from "@/server/api/root";
import { createContext } from "@/server/api/trpc";
import { resumeSession } from "@/server/auth/sessions";
import { beginSignIn, completeSignIn } from "@/server/auth/sign-in";
import { suspendMember } from "@/server/members/members";
import {
  TEST_WEBAUTHN_CONFIG as config,
  firstAdmin,
  invitedMember,
  type Person,
} from "@/server/testing/identity-fixtures";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";
import { getOperation, listOperations, openOperationsOnKey } from "./read";

const T0 = new Date("2026-05-06T10:00:00.000Z");
const sessionPolicy = { idleMs: 15 * 60_000, maxMs: 8 * 3_600_000 };

describe.each(testEngines())("operations list and key operations on %s", (engine) => {
  const database = useTestDatabase(engine);
  let db: Db;
  let dataDir: string;
  let admin: Person;
  let operator: Person;
  let pia: Person;
  let quinn: Person;
  let rita: Person;

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), "keyward-read-"));
    vi.stubEnv("KEYWARD_DATA_DIR", dataDir);
    vi.stubEnv("AUTH_SECRET", "s".repeat(32));
    vi.stubEnv("KEYWARD_HSM_PIN", "123456");
    db = database();
    admin = await firstAdmin(db, { now: T0 });
    operator = await invitedMember(db, admin.acting, { now: T0, roles: ["operator"] });
    pia = await invitedMember(db, admin.acting, { now: T0, roles: ["approver"] });
    quinn = await invitedMember(db, admin.acting, { now: T0, roles: ["approver"] });
    rita = await invitedMember(db, admin.acting, { now: T0, roles: ["approver"] });
  });

  afterAll(() => {
    vi.unstubAllEnvs();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function api(who: Person) {
    const options = await beginSignIn(db, config, T0);
    const { sessionId } = await completeSignIn(db, config, {
      response: who.token.authenticate(options),
      now: T0,
      policy: sessionPolicy,
    });
    const session = await resumeSession(db, { sessionId, now: T0, policy: sessionPolicy });
    if (!session) throw new Error("no live session");
    return createCaller(createContext({ db, engine, session, clock: () => T0 }));
  }

  async function vote(who: Person, operationId: string, decision: "approve" | "reject") {
    const caller = await api(who);
    const { options } = await caller.operations.beginVote({ operationId, decision });
    await caller.operations.completeVote({ operationId, decision, response: who.token.authenticate(options) });
  }

  it("gives every row the tally, reasons and choices operations.get gives, for each viewer", async () => {
    const keyId = randomUUID();
    await db.insert(keys).values({
      id: keyId,
      label: "Suspended one",
      curve: "p256",
      tags: ["cold"],
      state: "suspended",
      hsmRef: randomUUID().replaceAll("-", ""),
      publicKey: "04".padEnd(130, "a"),
      exportable: "never",
      createdAt: T0,
      stateChangedAt: T0,
    });
    const proposer = await api(operator);
    const create = await proposer.operations.propose({
      kind: "key.create",
      payload: { label: "Listed", curve: "p256", tags: [], exportable: "never" },
    });
    const resume = await proposer.operations.propose({ kind: "key.resume", payload: { keyId } });
    const untouched = await proposer.operations.propose({
      kind: "key.create",
      payload: { label: "No votes", curve: "ed25519", tags: [], exportable: "never" },
    });
    await vote(pia, create.id, "approve");
    // Rita's vote stops counting once she is suspended: the list must judge it as get does.
    await vote(rita, resume.id, "approve");
    await suspendMember(db, { actor: admin.acting, memberId: rita.acting.id, now: T0 });

    for (const viewer of [pia, quinn, operator, admin]) {
      const rows = await listOperations(db, { viewer: viewer.acting, state: "pending", limit: 50, now: T0 });
      expect(rows.map((r) => r.id).sort()).toEqual([create.id, resume.id, untouched.id].sort());
      for (const row of rows) {
        const full = await getOperation(db, { viewer: viewer.acting, operationId: row.id, now: T0 });
        expect({
          tally: row.tally,
          reasons: row.reasons,
          myVote: row.myVote,
          canVote: row.canVote,
          canCancel: row.canCancel,
          initiatorName: row.initiatorName,
          title: row.title,
        }).toEqual({
          tally: full.tally,
          reasons: full.reasons,
          myVote: full.myVote,
          canVote: full.canVote,
          canCancel: full.canCancel,
          initiatorName: full.initiator.name,
          title: full.display.title,
        });
      }
    }
    const resumeRow = (await listOperations(db, { viewer: pia.acting, limit: 50, now: T0 })).find(
      (r) => r.id === resume.id,
    );
    expect(resumeRow?.tally).toEqual([{ group: "approvers", needed: 2, approvals: 0 }]);

    const onKey = await openOperationsOnKey(db, { viewer: pia.acting, keyId, now: T0 });
    expect(onKey.map((o) => [o.id, o.kind, o.canVote])).toEqual([[resume.id, "key.resume", true]]);
    expect((await openOperationsOnKey(db, { viewer: quinn.acting, keyId, now: T0 }))[0]?.myVote).toBeNull();
    expect(await openOperationsOnKey(db, { viewer: pia.acting, keyId: randomUUID(), now: T0 })).toEqual([]);
  });
});
