// Refused authorisations land in the audit trail as access.denied — from withRole and from a domain check —
// each in its own transaction, with a payload bounded by its schema.
import { and, eq } from "drizzle-orm";
import { TRPCError } from "@trpc/server";
import { beforeAll, describe, expect, it } from "vitest";
import type { Db } from "@/db/client";
import { auditEvents, tokens } from "@/db/schema";
import { createCaller } from "@/server/api/root";
import { createContext } from "@/server/api/trpc";
import { firstAdmin, invitedMember, type Person } from "@/server/testing/identity-fixtures";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";
import { auditEventSchema } from "./events";

const NOW = new Date("2026-06-01T09:00:00.000Z");

async function refusal(call: Promise<unknown>): Promise<string> {
  const err = await call.then(
    () => {
      throw new Error("expected a refusal");
    },
    (e: unknown) => e,
  );
  if (!(err instanceof TRPCError)) throw err;
  return err.code;
}

describe.each(testEngines())("access.denied on %s", (engine) => {
  const database = useTestDatabase(engine);
  let db: Db;
  let operator: Person;

  const callerFor = (person: Person) =>
    createCaller(
      createContext({
        db,
        engine,
        clock: () => NOW,
        session: {
          sessionId: "00000000-0000-4000-8000-00000000000a",
          tokenId: "t",
          member: {
            id: person.acting.id,
            name: "Olga Operator",
            roles: [...person.acting.roles],
            groups: [],
          },
        },
      }),
    );
  const denials = () =>
    db
      .select()
      .from(auditEvents)
      .where(
        and(eq(auditEvents.action, "access.denied"), eq(auditEvents.actor, `member:${operator.acting.id}`)),
      );

  beforeAll(async () => {
    db = database();
    const admin = await firstAdmin(db, { now: NOW });
    operator = await invitedMember(db, admin.acting, { now: NOW });
  });

  it("records a role refusal with the member, the procedure and the roles it needed", async () => {
    expect(await refusal(callerFor(operator).members.list())).toBe("FORBIDDEN");
    const rows = await denials();
    expect(rows.map((r) => ({ subject: r.subject, data: r.data }))).toEqual([
      {
        subject: "procedure:members.list",
        data: {
          memberId: operator.acting.id,
          procedure: "members.list",
          requiredRoles: ["admin", "auditor"],
        },
      },
    ]);
  });

  it("records a refusal by a domain check (revoking one's last token)", async () => {
    const [token] = await db.select().from(tokens).where(eq(tokens.memberId, operator.acting.id));
    if (!token) throw new Error("the operator has no token");
    expect(await refusal(callerFor(operator).tokens.revoke({ credentialId: token.id }))).toBe("FORBIDDEN");
    const last = (await denials()).at(-1);
    expect(last?.data).toEqual({
      memberId: operator.acting.id,
      procedure: "tokens.revoke",
      requiredRoles: [],
    });
    // The refusal changed nothing else: the token is still live.
    const [still] = await db.select().from(tokens).where(eq(tokens.id, token.id));
    expect(still?.revokedAt).toBeNull();
  });

  it("bounds the payload by its schema", () => {
    const event = (procedure: string, requiredRoles: string[]) =>
      auditEventSchema.safeParse({
        action: "access.denied",
        data: { memberId: "m", procedure, requiredRoles },
      });
    expect(event("members.list", ["admin"]).success).toBe(true);
    expect(event("x".repeat(101), []).success).toBe(false);
    expect(event("members.list", ["admin", "admin", "admin", "admin", "admin"]).success).toBe(false);
  });
});
