// Downloading a signed withdrawal (no node configured to broadcast it), on PGlite and PostgreSQL: the file is
// the stored wire bytes, and each download is a withdrawal.downloaded event naming who took which transaction,
// written in the transaction that reads it; an approver (not a downloader) and a withdrawal with nothing signed
// get a refusal and write nothing.
import { randomBytes } from "node:crypto";
import { eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { auditEvents, keys, operations, withdrawals } from "@/db/schema";
import { ensurePolicySeeded } from "@/server/operations/policy-store";
import { firstAdmin, invitedMember, type Person } from "@/server/testing/identity-fixtures";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";
import { signedTransactionFile } from "./read";

const AT = new Date("2026-12-03T12:00:00.000Z");
const RAW = `0x02${"ab".repeat(60)}`;
const TXID = `0x${"cd".repeat(32)}`;

describe.each(testEngines())("downloading a signed withdrawal on %s", (engine) => {
  const db = useTestDatabase(engine);
  let operator: Person;
  let approver: Person;
  let signedOp: string;
  let builtOp: string;
  let withdrawalId: string;

  beforeAll(async () => {
    const admin = await firstAdmin(db(), { now: AT });
    operator = await invitedMember(db(), admin.acting, { now: AT, roles: ["operator"] });
    approver = await invitedMember(db(), admin.acting, { now: AT, roles: ["approver"] });
    const policyVersion = (await ensurePolicySeeded(db(), AT)).version;
    const [key] = await db()
      .insert(keys)
      .values({
        label: "download test",
        curve: "secp256k1",
        state: "active",
        hsmRef: randomBytes(16).toString("hex"),
        publicKey: `04${"11".repeat(64)}`,
        exportable: "never",
      })
      .returning({ id: keys.id });
    if (!key) throw new Error("key not inserted");
    const ops = await db()
      .insert(operations)
      .values(
        [0, 1].map(() => ({
          kind: "withdrawal",
          // What rows of the withdrawal kind always carry (the velocity ledger's trigger reads them).
          payload: { keyId: key.id, chain: "ethereum", asset: "ETH", amount: "1000" },
          systemInitiator: "rotation-due" as const,
          state: "executed" as const,
          digest: randomBytes(32).toString("hex"),
          policyVersion,
          ruleId: "default",
          createdAt: AT,
          expiresAt: new Date(AT.getTime() + 86_400_000),
          executedAt: AT,
        })),
      )
      .returning({ id: operations.id });
    const [signed, built] = ops;
    if (!signed || !built) throw new Error("rows not inserted");
    signedOp = signed.id;
    builtOp = built.id;
    const common = {
      chain: "ethereum",
      network: "11155111",
      keyId: key.id,
      asset: "ETH",
      nonce: "0",
      unsigned: "-",
      decoded: {},
    };
    const [row] = await db()
      .insert(withdrawals)
      .values([
        { ...common, operationId: signedOp, raw: RAW, txid: TXID, state: "signed", signedAt: AT },
        { ...common, operationId: builtOp, state: "built", nonce: "1" },
      ])
      .returning({ id: withdrawals.id });
    if (!row) throw new Error("withdrawal not inserted");
    withdrawalId = row.id;
  }, 120_000);

  const downloads = () =>
    db().select().from(auditEvents).where(eq(auditEvents.action, "withdrawal.downloaded"));

  it("hands out the stored bytes and records who took them", async () => {
    const file = await signedTransactionFile(db(), {
      actor: operator.acting,
      operationId: signedOp,
      now: AT,
    });
    expect(file).toEqual({
      filename: `keyward-ethereum-${TXID.slice(0, 16)}.hex.txt`,
      contents: RAW,
      txid: TXID,
      chain: "ethereum",
    });
    const events = await downloads();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      actor: `member:${operator.acting.id}`,
      subject: `operation:${signedOp}`,
      data: {
        operationId: signedOp,
        withdrawalId,
        chain: "ethereum",
        txid: TXID,
        memberId: operator.acting.id,
      },
    });
  }, 60_000);

  it("refuses an approver, and a withdrawal not signed yet, writing nothing", async () => {
    const before = (await downloads()).length;
    await expect(
      signedTransactionFile(db(), { actor: approver.acting, operationId: signedOp, now: AT }),
    ).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(
      signedTransactionFile(db(), { actor: operator.acting, operationId: builtOp, now: AT }),
    ).rejects.toMatchObject({ code: "NOT_FOUND" });
    expect(await downloads()).toHaveLength(before);
  }, 60_000);
});
